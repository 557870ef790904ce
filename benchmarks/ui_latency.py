"""How long the app's UI thread stalls while the worker process encodes: a 10 ms heartbeat on the UI
thread during an encode of the bundled sample, gaps between beats printed (median, 99th percentile,
longest). The tests only check that no codec work runs in the UI process; the figures live here,
because on a busy machine any bound on them is a bound on the machine.

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

    def done(_result) -> None:
        gaps = sorted(state["gaps"][1:])
        state["all"] += gaps
        state["runs"] += 1
        print(f"run {state['runs']}: {len(gaps)} beats, median {1000 * statistics.median(gaps):.0f} ms, "
              f"p99 {1000 * gaps[int(0.99 * (len(gaps) - 1))]:.0f} ms, longest {1000 * gaps[-1]:.0f} ms", flush=True)
        if state["runs"] < args.repeat:
            QTimer.singleShot(200, start)
        else:
            win.close()
            app.quit()

    timer = QTimer(interval=10, timeout=beat)
    timer.start()
    win.profile_box.setCurrentText(args.profile)
    i = win.codec_box.findData(args.compare or None)
    win.codec_box.setCurrentIndex(max(0, i))
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
