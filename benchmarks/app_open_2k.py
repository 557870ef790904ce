"""What a demo feels: in the real window, the time from opening a 2K (1920x1280) .msp file to each
progressive preview on screen and to the final picture (the worker already started, as in a demo after
the first file). Pause any training while this runs.

    QT_QPA_PLATFORM=offscreen python benchmarks/app_open_2k.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from common import cpu_flags, image_2k  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    app = QApplication(sys.argv[:1])
    from mspview.app import jobs
    from mspview.app.window import MainWindow
    from mspview.codec.coder import encode
    from mspview.codec.imageio import LoadedImage
    from mspview.codec.weights import load_weights
    from mspview.resources import SAMPLE

    tmp = Path(tempfile.mkdtemp())
    lm = load_weights()
    rgb = image_2k(SAMPLE)
    path = tmp / "2k.msp"
    path.write_bytes(encode(lm, LoadedImage(rgb, "RGB", "RGB"), lm.rate(0.0067)).data)
    win = MainWindow(settings=QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat))
    win.resize(1400, 860)
    win.show()
    runs = []
    for i in range(args.repeat + 1):  # the first run starts the worker and loads the weights: not counted
        marks, t0 = [], time.perf_counter()
        loop = QEventLoop()

        def on_event(ev, marks=marks, t0=t0):
            if isinstance(ev, jobs.PreviewEvent):
                marks.append(time.perf_counter() - t0)

        win.runner.event.connect(on_event)
        win.job_finished.connect(loop.quit)
        win.job_failed.connect(loop.quit)
        win.open_path(path)
        QTimer.singleShot(600_000, loop.quit)
        loop.exec()
        done = time.perf_counter() - t0
        win.runner.event.disconnect(on_event)
        win.job_finished.disconnect(loop.quit)
        win.job_failed.disconnect(loop.quit)
        if i:
            runs.append((marks, done))
    previews = list(zip(*[m for m, _ in runs]))
    shown = ", ".join(f"{statistics.median(t):.2f} s" for t in previews)
    print(f"CPU flags: {cpu_flags()}; 1920x1280 .msp opened in the app: previews at {shown}; final picture at "
          f"{statistics.median(d for _, d in runs):.2f} s (medians of {args.repeat})")
    win.close()
    app.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
