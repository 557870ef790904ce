"""How long the app's UI thread stalls while the worker process encodes: a 10 ms heartbeat on the UI
thread during an encode of the bundled sample, gaps between beats printed (median, 99th percentile,
longest); and how long ending a job takes: Stop, keep best (a `balanced` encode after a few LOF
iterations: the iteration in flight, then the kept latent decoded), Cancel of the same (to idle), and
Cancel of a `fast` encode of an 8 MP image a second into its analysis (to idle: the band in flight).
The tests check that no codec work runs in the UI process and the order of what happens after a stop;
the seconds live here, because on a busy machine any bound on them is a bound on the machine.

    QT_QPA_PLATFORM=offscreen python benchmarks/ui_latency.py [--profile quick] [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="quick")
    p.add_argument("--compare", default="", help="comparison codec (e.g. webp); none by default")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()

    app = QApplication(sys.argv[:1])
    from mspview.app.window import MainWindow
    from mspview.resources import SAMPLE

    settings = QSettings(os.path.join(tempfile.mkdtemp(), "s.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=settings)
    win.resize(1400, 860)
    win.show()
    state = {"gaps": [], "last": time.perf_counter(), "runs": 0, "all": []}

    def beat() -> None:
        now = time.perf_counter()
        state["gaps"].append(now - state["last"])
        state["last"] = now

    def start() -> None:
        state["gaps"], state["last"] = [], time.perf_counter()
        win.forget_results()  # an identical request would show the kept result instead of encoding
        win.encode()

    def done(result) -> None:
        gaps = sorted(state["gaps"][1:])
        state["all"] += gaps
        state["runs"] += 1
        print(f"run {state['runs']}: encode {result.ours.readout.encode_s:.1f} s, {len(gaps)} beats, median {1000 * statistics.median(gaps):.0f} ms, "
              f"p99 {1000 * gaps[int(0.99 * (len(gaps) - 1))]:.0f} ms, longest {1000 * gaps[-1]:.0f} ms", flush=True)
        if state["runs"] < args.repeat:
            QTimer.singleShot(200, start)
        else:
            win.job_finished.disconnect(done)
            win.job_finished.connect(stopped)
            win.job_failed.connect(cancelled)
            QTimer.singleShot(200, lambda: ending_run("stop"))

    def ending_run(how: str) -> None:
        """A `balanced` encode ended after a few LOF iterations: Stop (to the kept latent's result) or
        Cancel (to idle, nothing kept)."""
        win.controls.profile_box.setCurrentText("balanced")
        state.pop("t", None)
        win.encode()
        button = win.controls.stop_btn if how == "stop" else win.controls.cancel_btn

        def poll() -> None:
            if win.curves.point_count() >= 4:
                state["t"], state["it"] = time.perf_counter(), win.curves.last_iteration()
                button.click()
            else:
                QTimer.singleShot(20, poll)
        poll()

    def stopped(result) -> None:
        print(f"stop: {time.perf_counter() - state['t']:.2f} s from Stop to the result ({result.lof_iterations} "
              f"LOF iterations, {result.lof_iterations - state['it']} after the last one drawn)", flush=True)
        win.job_finished.disconnect(stopped)
        QTimer.singleShot(200, lambda: ending_run("cancel"))

    def cancelled(message: str) -> None:
        if "t" not in state:
            return
        print(f"cancel (LOF): {time.perf_counter() - state['t']:.2f} s from Cancel to idle", flush=True)
        state.pop("t")
        QTimer.singleShot(200, large_run)

    def large_run() -> None:  # a `fast` encode of an 8 MP image cancelled a second into its analysis
        from mspview.codec.imageio import LoadedImage
        from PIL import Image

        big = np.asarray(Image.open(SAMPLE).convert("RGB").resize((3264, 2448), Image.Resampling.BICUBIC))
        win.session.open_image(LoadedImage(big, "RGB", "RGB"), SAMPLE)
        win.controls.profile_box.setCurrentText("fast")
        win.encode()

        def cancel_now() -> None:
            state["t"] = time.perf_counter()
            win.controls.cancel_btn.click()
        QTimer.singleShot(1000, cancel_now)
        win.job_failed.disconnect(cancelled)
        win.job_failed.connect(lambda _m: (print(f"cancel (8 MP fast encode, in its analysis): "
                                                 f"{time.perf_counter() - state['t']:.2f} s from Cancel to idle",
                                                 flush=True), win.close(), app.quit()))

    timer = QTimer(interval=10, timeout=beat)
    timer.start()
    win.controls.profile_box.setCurrentText(args.profile)
    i = win.controls.codec_box.findData(args.compare or None)
    win.controls.codec_box.setCurrentIndex(max(0, i))
    win.job_finished.connect(done)
    win.job_failed.connect(lambda m: m and (print(f"failed: {m}"), app.quit()))
    win.image_loaded.connect(lambda _p: QTimer.singleShot(500, start))
    win.open_path(SAMPLE)
    app.exec()
    gaps = sorted(state["all"])
    if gaps:
        print(f"all runs ({args.profile}, {os.cpu_count()} CPUs): longest UI stall {1000 * gaps[-1]:.0f} ms, "
              f"p99 {1000 * gaps[int(0.99 * (len(gaps) - 1))]:.0f} ms, gaps over 100 ms: "
              f"{sum(g > 0.1 for g in gaps)} of {len(gaps)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
