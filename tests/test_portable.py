"""Files stay portable on CPUs without VNNI and under any torch setting, and the same encode gives the
same file. A CPU without VNNI is emulated with ONEDNN_MAX_CPU_ISA=AVX2 (oneDNN's int8 kernel then
saturates 16-bit pair sums); every check runs in fresh processes, since the ISA cap is read at start."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import HANG_S, REPO, SAMPLE, run_cli

pytestmark = pytest.mark.slow

NO_VNNI = {"ONEDNN_MAX_CPU_ISA": "AVX2"}


def python(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=HANG_S,
                          env={**os.environ, **(env or {})})


def crop(tmp_path, size=96):
    from PIL import Image
    path = tmp_path / "crop.png"
    Image.open(SAMPLE).convert("RGB").crop((200, 150, 200 + size, 150 + size)).save(path)
    return path


def test_a_verdict_reached_with_onednn_off_is_not_used_with_it_on(tmp_path):
    """The issue's sequence: the probe first runs with oneDNN off (where torch's own exact int8 kernel
    runs), then an encode with oneDNN on (its saturating kernel, without VNNI). The file must decode on
    this machine's default arithmetic, or not be written."""
    image, out = crop(tmp_path), tmp_path / "x.msp"
    encode = python(f"""
import sys, torch
from mspview.codec import exact
with torch.backends.mkldnn.flags(enabled=False):
    exact.backend(torch.device('cpu'))
from mspview.cli import main
sys.exit(main(['encode', {str(image)!r}, {str(out)!r}, '--lambda', '0.0067']))
""", NO_VNNI)
    assert encode.returncode in (0, 2), encode.stderr
    if encode.returncode == 0:
        decode = run_cli("decode", str(out), str(tmp_path / "x.png"))
        assert decode.returncode == 0, decode.stderr
    else:
        assert "arithmetic" in encode.stderr or "not exact" in encode.stderr, encode.stderr
        assert not out.exists()


def test_files_decode_without_vnni_and_with_onednn_toggled(tmp_path):
    image, out = crop(tmp_path), tmp_path / "x.msp"
    assert run_cli("encode", str(image), str(out), "--lambda", "0.0067").returncode == 0
    decode = python(f"""
import sys, torch
from mspview.cli import main
with torch.backends.mkldnn.flags(enabled=False):
    assert main(['decode', {str(out)!r}, {str(tmp_path / 'a.png')!r}]) == 0
sys.exit(main(['decode', {str(out)!r}, {str(tmp_path / 'b.png')!r}]))
""", NO_VNNI)
    assert decode.returncode == 0, decode.stderr


def test_forcing_an_inexact_backend_is_refused(tmp_path):
    image, out = crop(tmp_path), tmp_path / "x.msp"
    r = subprocess.run([sys.executable, "-m", "mspview", "encode", str(image), str(out)], cwd=REPO,
                       capture_output=True, text=True, timeout=HANG_S,
                       env={**os.environ, **NO_VNNI, "MSPVIEW_EXACT_BACKEND": "int8"})
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "MSPVIEW_EXACT_BACKEND=int8" in r.stderr and "not exact" in r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists()


def test_a_crc_failure_caused_by_the_arithmetic_names_the_arithmetic(tmp_path):
    """A file decoded where the product in use is wrong (here: int8 forced on by hand, past the refusal)
    reads as this machine's fault, not the file's."""
    image, out = crop(tmp_path), tmp_path / "x.msp"
    assert run_cli("encode", str(image), str(out), "--lambda", "0.0067").returncode == 0
    r = python(f"""
import sys, torch
from mspview.codec import exact
exact._BACKENDS[exact._state(torch.device('cpu'))] = 'int8'
from mspview.cli import main
sys.exit(main(['decode', {str(out)!r}, {str(tmp_path / 'x.png')!r}]))
""", NO_VNNI)
    assert r.returncode == 2, r.stderr
    assert "not exact" in r.stderr and "the file is not at fault" in r.stderr, r.stderr
    assert "damaged" not in r.stderr


def test_two_lof_encodes_in_two_processes_give_the_same_bytes(tmp_path):
    image = crop(tmp_path, 128)
    files = [tmp_path / f"{i}.msp" for i in range(2)]
    for f in files:
        r = run_cli("encode", str(image), str(f), "--profile", "quick", "--lambda", "0.013")
        assert r.returncode == 0, r.stderr
    assert "profile quick" in run_cli("info", str(files[0])).stdout  # LOF's latent won, not the fast guard
    assert files[0].read_bytes() == files[1].read_bytes()


def test_the_surrogate_noise_depends_on_the_image_and_the_setting():
    import numpy as np
    from mspview.codec.imageio import from_pil
    from mspview.codec.lof import noise_seed
    from mspview.codec.profiles import get as get_profile
    from mspview.codec.weights import load_weights
    from PIL import Image

    lm = load_weights()
    a = from_pil(Image.fromarray(np.zeros((16, 16, 3), np.uint8)))
    b = from_pil(Image.fromarray(np.ones((16, 16, 3), np.uint8)))
    quick, balanced = get_profile("quick"), get_profile("balanced")
    r1, r2 = lm.rate(0.0067), lm.rate(0.013)
    seeds = {noise_seed(a, r1, quick), noise_seed(b, r1, quick), noise_seed(a, r2, quick), noise_seed(a, r1, balanced)}
    assert len(seeds) == 4
    assert noise_seed(a, r1, quick) == noise_seed(a, r1, quick)
