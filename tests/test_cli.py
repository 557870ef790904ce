"""The `mspview` entry point: a typo of a command is said to be one, never opens the app."""
from __future__ import annotations

import subprocess
import sys

import pytest

from mspview.cli import main

from conftest import HANG_S, REPO


@pytest.mark.parametrize("argv,near", [(["encdoe", "x.png"], "encode"), (["decod", "x.msp"], "decode"),
                                       (["evl", "--help"], "eval")])
def test_a_mistyped_command_names_the_nearest_and_exits_2(capsys, argv, near):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"unknown command '{argv[0]}'" in err and f"did you mean '{near}'" in err


def test_an_unknown_word_lists_the_commands(capsys):
    assert main(["zzzz"]) == 2
    assert "commands: gui, encode" in capsys.readouterr().err


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("encode", "decode", "info", "eval", "bench", "train", "export"))


def test_the_app_without_a_display_says_so_and_exits_2(capsys, monkeypatch):
    from mspview.app.main import main as gui
    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    assert gui([]) == 2
    assert capsys.readouterr().err.startswith("mspview: no display found (DISPLAY/WAYLAND_DISPLAY unset)")


def test_the_app_on_an_x_display_qt_cannot_use_says_why_and_exits_2(capsys, monkeypatch):
    """Qt itself aborts the process (SIGABRT, a core dump) when its X11 plugin's system libraries are
    missing or the display does not answer; the app says which, before Qt is asked."""
    from mspview.app.main import main as gui
    for name in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DISPLAY", ":87")  # no X server there
    assert gui([]) == 2
    err = capsys.readouterr().err
    # which of the two depends on the machine's packages: both are said, neither crashes
    assert err.startswith("mspview: cannot open the X display ':87'") or (
        err.startswith("mspview: Qt's X11 plugin cannot load (") and "apt install libxcb-cursor0" in err)


def test_a_reader_that_leaves_ends_the_output_quietly():
    """`mspview info x.msp | head -1`: the reader closes the pipe before the description is written."""
    proc = subprocess.Popen([sys.executable, "-m", "mspview", "info", "tests/data/golden_v5.msp"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # nobody reads: the first write finds the pipe broken
    _, err = proc.communicate(timeout=HANG_S)
    assert (proc.returncode, err.decode()) == (141, "")
