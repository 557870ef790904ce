"""Real screenshots of the main views, taken from the X screen under Xvfb.

    xvfb-run -s "-screen 0 1600x1000x24" python docs/make_screenshots.py

Opens the bundled sample, encodes it with the `quick` profile against WebP at the same bpp, and
grabs the screen for: split view, side-by-side view, heat map, error maps, LOF curves, progressive
strip, and the image's own RD curves against WebP.
"""
from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

OUT = Path(__file__).resolve().parent / "screenshots"


def main() -> int:
    app = QApplication(sys.argv[:1])
    from mspview.app.window import MainWindow
    from mspview.resources import SAMPLE

    settings = QSettings(str(OUT / ".settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=settings)
    win.setGeometry(0, 0, 1600, 1000)
    win.show()
    win.profile_box.setCurrentText("quick")
    win.codec_box.setCurrentIndex(win.codec_box.findData("webp"))
    shots = []

    def grab(name: str) -> None:
        app.processEvents()
        path = OUT / f"{name}.png"
        app.primaryScreen().grabWindow(0).save(str(path))
        shots.append(path)

    def after_encode(_result) -> None:
        steps = [
            lambda: (win.set_compare_mode("split"), win.curves_dock.raise_()),
            lambda: grab("main_split_lof"),
            lambda: (win.set_compare_mode("side"), win.bits_dock.raise_(), win.bits.setCurrentIndex(1)),
            lambda: grab("side_by_side_heatmap"),
            lambda: (win.set_compare_mode("split"), win.canvas.set_zoom(8.0), win.bits.setCurrentIndex(0)),
            lambda: grab("pixel_peeping_chunks"),
            lambda: (win.set_compare_mode("side"), win.canvas.fit(),
                     win.show_box.setCurrentIndex(win.show_box.findData(16))),
            lambda: grab("error_maps_side_by_side"),
            lambda: (win.show_box.setCurrentIndex(0), win.set_compare_mode("split")),
            lambda: (win.canvas.fit(), win.strip.buttons[0].click()),
            lambda: grab("progressive_base_scale"),
            lambda: (win.strip.buttons[-1].click(), win.rd_sweep()),
        ]
        for i, step in enumerate(steps):
            QTimer.singleShot(700 * (i + 1), step)

    def after_sweep(_sweep) -> None:
        QTimer.singleShot(700, lambda: (grab("rd_curve_this_image"), win.close()))

    win.job_finished.connect(after_encode)
    win.rd_finished.connect(after_sweep)
    win.job_failed.connect(lambda m: (print("encode failed:", m), win.close()))
    win.image_loaded.connect(lambda _path: QTimer.singleShot(500, win.encode))
    win.open_path(SAMPLE)
    app.exec()
    for p in shots:
        print(p)
    (OUT / ".settings.ini").unlink(missing_ok=True)
    return 0 if len(shots) == 6 else 1


if __name__ == "__main__":
    sys.exit(main())
