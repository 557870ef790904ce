"""Coverage-guided fuzzing (atheris when installed, else random mutation) of the .msp reader, the
decoder and `mspview decode`, for a fixed number of inputs (not a time: the machine's speed decides
nothing here): every input decodes or is refused with our error."""
from __future__ import annotations

import pytest

import re
import subprocess
import sys

from conftest import HANG_S, REPO

pytestmark = pytest.mark.slow  # app windows, workers, subprocesses: `pytest -m "not slow"` skips them


RUNS = 1000  # inputs, whatever they cost here


def test_fuzz_reader_and_decoder_bounded():
    # an input is a failure only when it would hang (the slowest input here is ~12 ms: benchmarks/fuzz_msp.py)
    res = subprocess.run([sys.executable, str(REPO / "benchmarks" / "fuzz_msp.py"), "--runs", str(RUNS),
                          "--seconds", str(HANG_S), "--max-input-s", "120"], capture_output=True, text=True,
                         timeout=HANG_S + 60, cwd=REPO)
    assert res.returncode == 0, res.stdout + res.stderr[-3000:]
    assert "failures found: 0" in res.stdout
    tried = int(re.search(r"(\d+) inputs tried", res.stdout).group(1))
    refused = int(re.search(r"(\d+) refused with our error", res.stdout).group(1))
    assert tried >= RUNS and refused > 0, res.stdout
