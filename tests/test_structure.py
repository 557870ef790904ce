"""The layers hold, read from the source: eval is a library (no argparse, no main, no commands), the codec
knows no Qt, eval, train, app or commands; and lambda is validated in one place, with one message, whether
it comes from the command line, the library or a .msp header opened in the app."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

import mspview
from mspview.codec import bitstream
from mspview.codec.rate import RateError

from conftest import HANG_MS, SAMPLE, run_cli

PACKAGE = Path(mspview.__file__).parent


def imports(path: Path) -> list[str]:
    """Every module a file imports, resolved to absolute names."""
    tree = ast.parse(path.read_text())
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            out.append(f"{base}.{node.module}" if node.level and node.module else base if node.level else node.module)
    return out


def test_eval_is_a_library():
    for path in sorted((PACKAGE / "eval").glob("*.py")):
        tree = ast.parse(path.read_text())
        names = imports(path)
        assert "argparse" not in names, path.name
        assert not any(n.startswith("mspview.commands") for n in names), path.name
        assert not any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body), path.name


def test_codec_knows_only_itself():
    for path in sorted((PACKAGE / "codec").glob("*.py")):
        for name in imports(path):
            assert not name.startswith(("PySide6", "pyqtgraph", "mspview.eval", "mspview.train", "mspview.app",
                                        "mspview.commands")), (path.name, name)


QT_FREE_APP = ("session", "jobs", "report", "html_report")  # the app's state, results and reports


def test_the_apps_model_is_qt_free():
    """What the app knows (results, selection, headline and cells) and what it writes (reports) import no
    Qt, directly or through another app module, so that the CLI, tests and Dask workers use them bare."""
    for name in QT_FREE_APP:
        seen, todo = set(), [PACKAGE / "app" / f"{name}.py"]
        while todo:
            path = todo.pop()
            for imported in imports(path):
                assert not imported.startswith(("PySide6", "pyqtgraph")), (name, path.name, imported)
                if imported.startswith("mspview.app."):
                    nxt = PACKAGE / "app" / f"{imported.split('.')[2]}.py"
                    if nxt not in seen:
                        seen.add(nxt)
                        todo.append(nxt)


def test_the_codec_modules_a_file_reader_needs_import_no_torch():
    """`mspview info` and the .msp reader start in a tenth of a second: no torch behind them."""
    for name in ("bitstream", "layout", "limits", "errors"):
        assert not any(n.startswith(("torch", "numpy")) for n in imports(PACKAGE / "codec" / f"{name}.py")), name


OUT_OF_RANGE = "lambda 0.5 is outside the range this model was trained for (0.0004 to 0.11)"


@pytest.mark.slow
def test_lambda_refused_alike_by_cli_library_and_app(qtbot, tmp_path, shipped_model):
    res = run_cli("encode", str(SAMPLE), str(tmp_path / "x.msp"), "--lambda", "0.5")
    assert res.returncode == 2 and OUT_OF_RANGE in res.stderr and "Traceback" not in res.stderr
    with pytest.raises(RateError) as caught:
        shipped_model.rate(0.5)
    assert str(caught.value) == OUT_OF_RANGE
    # a file whose header holds lambda 0.5 (its CRC valid): refused by the same check, in the CLI and the app
    data = (tmp_path / "ok.msp")
    assert run_cli("encode", str(SAMPLE), str(data), "--lambda", "0.0067").returncode == 0
    header, start, _ = bitstream.read(data.read_bytes())
    header.lam = 0.5
    hostile = tmp_path / "hostile.msp"
    hostile.write_bytes(bitstream.write(header, [data.read_bytes()[start:]]))
    res = run_cli("decode", str(hostile), str(tmp_path / "h.png"))
    assert res.returncode == 2 and OUT_OF_RANGE in res.stderr
    from mspview.app.window import MainWindow
    win = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.job_failed, timeout=HANG_MS) as failed:
        win.open_path(hostile)
    assert OUT_OF_RANGE in failed.args[0] and OUT_OF_RANGE in win.last_error
    win.close()
