"""`mspview gui [FILES]` (and plain `mspview`): the desktop application."""
from __future__ import annotations

import argparse
import os
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from ..resources import SAMPLE
from .window import MainWindow


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mspview", description="mspview desktop application")
    p.add_argument("files", nargs="*", help="images or .msp files to open (default: the bundled sample)")
    p.add_argument("--model", default=None, help="weights file (default: the shipped one)")
    p.add_argument("--smoke-test", action="store_true", help="open, encode the sample with 'fast', then exit")
    args = p.parse_args(argv)
    if (sys.platform.startswith("linux") and not os.environ.get("QT_QPA_PLATFORM")
            and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))):
        print("mspview: no display found (DISPLAY/WAYLAND_DISPLAY unset). Run it on a desktop, under "
              "xvfb-run, or set QT_QPA_PLATFORM=offscreen; the command-line tools need no display "
              "(mspview --help).", file=sys.stderr)
        return 2
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("mspview")
    app.setOrganizationName("mspview")
    win = MainWindow(args.model)
    win.show()
    status = {"code": 1}
    if args.smoke_test:
        def done(_result) -> None:
            status["code"] = 0
            o = win.session.current.ours.readout
            print(f"smoke test: encoded {win.session.path.name}: {o.bpp:.4f} bpp, {o.psnr:.2f} dB")
            win.close()

        def failed(message: str) -> None:
            print(f"smoke test failed: {message}")
            win.close()

        win.controls.profile_box.setCurrentText("fast")
        win.controls.codec_box.setCurrentIndex(0)
        win.job_finished.connect(done)
        win.job_failed.connect(failed)
        win.image_failed.connect(failed)
        win.image_loaded.connect(lambda _path: QTimer.singleShot(0, win.encode))
    for f in args.files or [str(SAMPLE)]:
        win.open_path(f)
    code = app.exec()
    return status["code"] if args.smoke_test else code
