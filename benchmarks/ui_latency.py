"""How long the app's UI thread stalls while the worker process encodes: a 10 ms heartbeat on the UI
thread during an encode of the bundled sample, gaps between beats printed (median, 99th percentile,
longest); and how long a cancel takes, from Cancel to the job's end (a `balanced` encode cancelled
after a few LOF iterations: the iteration in flight, then the kept latent decoded). The tests check
that no codec work runs in the UI process and count the iterations after a cancel; the seconds live
here, because on a busy machine any bound on them is a bound on the machine.

    QT_QPA_PLATFORM=offscreen python benchmarks/ui_latency.py [--profile quick] [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

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
            QTimer.singleShot(200, cancel_run)

    def cancel_run() -> None:  # the seconds from Cancel to the end of a balanced encode
        win.job_finished.disconnect(done)
        win.controls.profile_box.setCurrentText("balanced")
        win.job_finished.connect(cancelled)
        win.encode()

        def poll() -> None:
            if win.curves.point_count() >= 4 and "t" not in state:
                state["t"], state["it"] = time.perf_counter(), win.curves.last_iteration()
                win.controls.cancel_btn.click()
            elif "t" not in state:
                QTimer.singleShot(20, poll)
        poll()

    def cancelled(result) -> None:
        print(f"cancel: {time.perf_counter() - state['t']:.2f} s from Cancel to the result ({result.lof_iterations} "
              f"LOF iterations, {result.lof_iterations - state['it']} after the last one drawn)", flush=True)
        win.close()
        app.quit()

    timer = QTimer(interval=10, timeout=beat)
    timer.start()
    win.controls.profile_box.setCurrentText(args.profile)
    i = win.controls.codec_box.findData(args.compare or None)
    win.controls.codec_box.setCurrentIndex(max(0, i))
    win.job_finished.connect(done)
    win.job_failed.connect(lambda m: (print(f"failed: {m}"), app.quit()))
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
