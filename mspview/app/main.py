"""`mspview gui [FILES]` (and plain `mspview`): the desktop application."""
from __future__ import annotations

import argparse
import ctypes
import os
import sys
from pathlib import Path

import PySide6
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from ..resources import SAMPLE
from .window import MainWindow


def display_problem() -> str | None:
    """Why Qt could not open a window here, said before Qt aborts the process instead: no display, the
    X11 plugin's system libraries missing (a bare Debian/Ubuntu lacks some), or an X display that does
    not answer. None where a window can open, or where Qt picks a platform this does not check."""
    if not sys.platform.startswith("linux"):
        return None
    platform, x11 = os.environ.get("QT_QPA_PLATFORM", ""), os.environ.get("DISPLAY")
    if not platform and not (x11 or os.environ.get("WAYLAND_DISPLAY")):
        return ("no display found (DISPLAY/WAYLAND_DISPLAY unset). Run it on a desktop, under xvfb-run, "
                "or set QT_QPA_PLATFORM=offscreen")
    if platform.split(":")[0] != "xcb" and (platform or os.environ.get("WAYLAND_DISPLAY")):
        return None
    plugin = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    if not plugin.exists():
        return None
    try:
        ctypes.CDLL(str(plugin))
    except OSError as e:
        return (f"Qt's X11 plugin cannot load ({e}). On Debian/Ubuntu: "
                "sudo apt install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1")
    xcb = ctypes.CDLL("libxcb.so.1")  # loaded with the plugin: its dependency
    xcb.xcb_connect.restype, xcb.xcb_connect.argtypes = ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    connection = xcb.xcb_connect(None, None)  # the display DISPLAY names
    failed = xcb.xcb_connection_has_error(connection)
    xcb.xcb_disconnect(connection)
    return f"cannot open the X display {x11!r}" if failed else None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mspview", description="mspview desktop application")
    p.add_argument("files", nargs="*", help="images or .msp files to open (default: the bundled sample)")
    p.add_argument("--model", default=None, help="weights file (default: the shipped one)")
    p.add_argument("--smoke-test", action="store_true", help="open, encode the sample with 'fast', then exit")
    args = p.parse_args(argv)
    problem = display_problem()
    if problem:
        print(f"mspview: {problem}; the command-line tools need no display (mspview --help).", file=sys.stderr)
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
