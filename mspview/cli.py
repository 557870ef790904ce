"""`mspview` entry point: gui (default), encode, decode, info, report, eval, bench, train, export, train-preview."""
from __future__ import annotations

import difflib
import importlib
import sys
from pathlib import Path

COMMANDS = {
    "gui": ("mspview.app.main", "open the desktop application (default)"),
    "encode": ("mspview.commands.encode", "encode an image into a .msp file"),
    "decode": ("mspview.commands.decode", "decode a .msp file into an image"),
    "info": ("mspview.commands.info", "describe a .msp file"),
    "report": ("mspview.commands.report", "encode an image, compare, write an interactive HTML report"),
    "eval": ("mspview.commands.eval", "rate-distortion sweep over a folder, against classical codecs and anchors"),
    "bench": ("mspview.commands.bench", "decode/encode speed, sequential steps, memory, O(1) vs serial context model"),
    "train": ("mspview.train.loop", "train the codec"),
    "export": ("mspview.train.export", "write shipped weights from a training checkpoint"),
    "train-preview": ("mspview.train.preview", "train the progressive previews' decoder of a weights file"),
}


def usage() -> str:
    lines = ["usage: mspview [COMMAND] [ARGS...]", "", "commands:"]
    lines += [f"  {name:<13} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "`mspview COMMAND --help` describes a command; with no command (or files only) the app opens."]
    return "\n".join(lines)


def looks_like_a_command(word: str) -> bool:
    """A bare word that names no file: the app opens files (`mspview photo.png`), never a typo of a command."""
    return not word.startswith("-") and "." not in word and "/" not in word and not Path(word).exists()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv and argv[0] in ("--version",):
        from . import __version__
        print(f"mspview {__version__}")
        return 0
    if argv and looks_like_a_command(argv[0]) and argv[0] not in COMMANDS:
        near = difflib.get_close_matches(argv[0], COMMANDS, n=1)
        hint = f"; did you mean '{near[0]}'?" if near else f"; commands: {', '.join(COMMANDS)}"
        print(f"mspview: unknown command '{argv[0]}'{hint} (`mspview --help` lists them)", file=sys.stderr)
        return 2
    name = argv.pop(0) if argv and argv[0] in COMMANDS else "gui"
    module = importlib.import_module(COMMANDS[name][0])
    return module.main(argv)


if __name__ == "__main__":
    sys.exit(main())
