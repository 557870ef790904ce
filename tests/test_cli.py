"""The `mspview` entry point: a typo of a command is said to be one, never opens the app."""
from __future__ import annotations

import pytest

from mspview.cli import main


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
