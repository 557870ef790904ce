"""Real screenshots of the main views, taken from the X screen under Xvfb, at the screen's own size.

    xvfb-run -a -s "-screen 0 1920x1080x24" python docs/make_screenshots.py
    xvfb-run -a -s "-screen 0 1366x768x24" python docs/make_screenshots.py

Opens the bundled sample, encodes it with the `quick` profile against WebP, then with `fast` at another
lambda, and grabs the screen for: split view with LOF curves, side by side with the bit map laid over
the images, pixel peeping with the chunk bars, error maps, the difference of two results, the
progressive previews, the image's own RD curves, and AVIF chosen for the left side with the loupe on.
File names end with the screen's size.
"""
from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QPoint, QSettings, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

OUT = Path(__file__).resolve().parent / "screenshots"


def main() -> int:
    app = QApplication(sys.argv[:1])
    from mspview.app.window import MainWindow
    from mspview.resources import SAMPLE

    screen = app.primaryScreen().geometry()
    size = f"{screen.width()}x{screen.height()}"
    settings = QSettings(str(OUT / ".settings.ini"), QSettings.Format.IniFormat)
    settings.clear()
    win = MainWindow(settings=settings)
    win.show()
    win.controls.profile_box.setCurrentText("quick")
    win.controls.codec_box.setCurrentIndex(win.controls.codec_box.findData("webp"))
    shots = []

    def grab(name: str) -> None:
        app.processEvents()
        path = OUT / f"{name}_{size}.png"
        app.primaryScreen().grabWindow(0).save(str(path))
        shots.append(path)

    def run(steps) -> None:
        for i, step in enumerate(steps):
            QTimer.singleShot(700 * (i + 1), step)

    def after_first(_result) -> None:
        win.job_finished.disconnect(after_first)
        run([lambda: (win.set_compare_mode("split"), win.curves_dock.raise_()),
             lambda: grab("main_split_lof"),
             lambda: (win.set_compare_mode("side"), win.bits_dock.raise_(), win.bits.setCurrentIndex(1),
                      win.overlay_box.setChecked(True)),
             lambda: grab("side_by_side_bit_map"),
             lambda: (win.overlay_box.setChecked(False), win.set_compare_mode("split"), win.canvas.set_zoom(8.0),
                      win.bits.setCurrentIndex(0)),
             lambda: grab("pixel_peeping_chunks"),
             lambda: (win.set_compare_mode("side"), win.canvas.fit(),
                      win.show_box.setCurrentIndex(win.show_box.findData(16))),
             lambda: grab("error_maps_side_by_side"),
             lambda: (win.show_box.setCurrentIndex(0), win.set_compare_mode("split"), win.strip_dock.raise_(),
                      win.canvas.fit(), win.strip.buttons[0].click()),
             lambda: grab("progressive_base_scale"),
             lambda: (win.controls.profile_box.setCurrentText("fast"), win.controls.lam_spin.setValue(0.025),
                      win.job_finished.connect(after_second), win.encode())])

    def after_second(_result) -> None:
        win.job_finished.disconnect(after_second)
        names = [v.name for v in win.views()]
        first = next(i for i, n in enumerate(names) if n.startswith("mspview quick"))
        run([lambda: (win.split_left.setCurrentIndex(first), win.set_compare_mode("diff")),
             lambda: grab("difference_of_two_results"),
             lambda: (win.set_compare_mode("split"), win.rd_sweep())])

    def after_sweep(_sweep) -> None:
        win.job_finished.connect(after_side)
        avif = win.side_left.codec_box.findData("avif")
        QTimer.singleShot(700, lambda: (grab("rd_curve_this_image"), win.set_compare_mode("split"),
                                        win.side_left.codec_box.setCurrentIndex(avif)))

    def after_side(_result) -> None:
        win.job_finished.disconnect(after_side)
        at = QPoint(int(win.canvas.width() * 0.3), int(win.canvas.height() * 0.45))
        run([lambda: (win.loupe_action.setChecked(True), QTest.mouseMove(win.canvas, at)),
             lambda: grab("per_side_codecs_loupe"),
             win.close])

    win.job_finished.connect(after_first)
    win.rd_finished.connect(after_sweep)
    win.job_failed.connect(lambda m: (print("failed:", m), win.close()))
    win.image_loaded.connect(lambda _path: QTimer.singleShot(500, win.encode))
    win.open_path(SAMPLE)
    app.exec()
    for p in shots:
        print(p)
    (OUT / ".settings.ini").unlink(missing_ok=True)
    return 0 if len(shots) == 8 else 1


if __name__ == "__main__":
    sys.exit(main())
