"""Large images: the transforms and LOF's distortion run in bands of latent rows with a halo, which
must give exactly the whole-image results; images over the pixel limit are refused before decoding;
the phases that grow with the image (verifying decode, classical comparison) can be cancelled."""
from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from mspview.codec import transforms
from mspview.codec.coder import analyse, quantize_latent, synthesize
from mspview.codec.limits import MAX_PIXELS
from mspview.codec.lof import distortion_grad

from conftest import noise_image, run_cli

# The banded synthesis tests are fast (small images, a random model); the rest (large images,
# subprocesses, cancellation) are marked slow: `pytest -m "not slow"` skips them.


def _bands(lm, y) -> int:
    return len(transforms.row_bands(y.shape[-2], transforms.activation_bytes_per_row(y.shape[-1], lm.model.config.N)))


def test_banded_transforms_equal_whole_image(random_model, monkeypatch):
    rgb = noise_image(193, 72, seed=5)  # 13 latent rows, the last one holding one pixel row
    y_whole = analyse(random_model, rgb, random_model.rate(0.0067))
    y_hat = quantize_latent(random_model, y_whole, random_model.rate(0.0067)).y_hat
    rec_whole = synthesize(random_model, y_hat, random_model.rate(0.0067), 193, 72)
    assert _bands(random_model, y_whole) == 1
    monkeypatch.setattr(transforms, "BAND_BYTES", 1)  # one latent row per band
    assert _bands(random_model, y_whole) == 13
    # the synthesis (what every decoder shows) is bit-identical; the analysis is not: oneDNN picks other
    # kernels for a band's shape, so its sums round differently (3e-6 here), as the README says
    assert torch.allclose(analyse(random_model, rgb, random_model.rate(0.0067)), y_whole, rtol=0, atol=1e-5)
    assert np.array_equal(synthesize(random_model, y_hat, random_model.rate(0.0067), 193, 72), rec_whole)


def test_banded_synthesis_with_residual_blocks_equals_whole_image(tmp_path, monkeypatch):
    """Residual blocks widen the synthesis' reach: its halo must grow with them (a halo short by two
    latent rows changes pixels here)."""
    from mspview.codec.model import MSPCodecModel, ModelConfig
    from mspview.codec.weights import load_weights, save_weights

    torch.manual_seed(7)
    model = MSPCodecModel(ModelConfig(N=16, M=32, num_scales=3, groups=2, hidden=24, res=1))
    with torch.no_grad():
        model.gain.log_gain += 3.4
        model.gain.log_inv_gain -= 3.4
        for p in model.g_s.parameters():
            if not p.abs().sum():  # the blocks start as the identity: give them something to do
                p.normal_(0, 0.05)
    save_weights(model, tmp_path / "res.pt", {}, calibration=[noise_image(64, 64, seed=s) for s in range(2)])
    lm = load_weights(tmp_path / "res.pt")
    y_hat = quantize_latent(lm, analyse(lm, noise_image(200, 72, seed=5), lm.rate(0.0067)), lm.rate(0.0067)).y_hat
    whole = synthesize(lm, y_hat, lm.rate(0.0067), 200, 72)
    monkeypatch.setattr(transforms, "BAND_BYTES", 1)
    assert np.array_equal(synthesize(lm, y_hat, lm.rate(0.0067), 200, 72), whole)
    lm.model.g_s.halo -= 2
    assert not np.array_equal(synthesize(lm, y_hat, lm.rate(0.0067), 200, 72), whole)


@pytest.mark.slow
def test_banded_lof_gradient_equals_whole_image(random_model):
    model = random_model.model
    rgb = noise_image(120, 88, seed=6)
    y_hat = torch.round(analyse(random_model, rgb, random_model.rate(0.0067)))
    inv_gain = model.gain.inverse_gain(0.0067)
    model.requires_grad_(False)  # as in LOF: the weights are frozen
    try:
        mse_1, grad_1 = distortion_grad(model, y_hat, inv_gain, rgb, 0.0067, False)
        mse_n, grad_n = distortion_grad(model, y_hat, inv_gain, rgb, 0.0067, False, budget=1)
    finally:
        model.requires_grad_(True)
    assert grad_1.abs().max() > 0
    assert abs(mse_1 - mse_n) < 1e-9 and torch.allclose(grad_1, grad_n, rtol=1e-4, atol=1e-9)


@pytest.mark.slow
def test_image_over_the_old_16mp_limit_roundtrips(tmp_path, random_model, random_weights):
    h, w = 4000, 4200  # 16.8 MP
    tile = noise_image(200, 210, seed=7)
    Image.fromarray(np.tile(tile, (h // 200, w // 210, 1))).save(tmp_path / "big.png", compress_level=1)
    res = run_cli("encode", str(tmp_path / "big.png"), str(tmp_path / "big.msp"), "--model", str(random_weights))
    assert res.returncode == 0, res.stderr
    res = run_cli("decode", str(tmp_path / "big.msp"), str(tmp_path / "out.png"), "--model", str(random_weights))
    assert res.returncode == 0, res.stderr
    assert Image.open(tmp_path / "out.png").size == (w, h)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height and which holds no pixels: a reader that
    allocated before checking the size would need gigabytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + \
        chunk(b"IEND", b"")


@pytest.mark.slow
def test_image_over_the_limit_is_refused_with_the_limit_stated(tmp_path):
    side = int(MAX_PIXELS ** 0.5) + 16
    src = tmp_path / "huge.png"
    src.write_bytes(_png_header_only(side, side))
    out = tmp_path / "huge.msp"
    res = run_cli("encode", str(src), str(out))
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert f"{MAX_PIXELS / 1e6:g} megapixels" in res.stderr and f"{side}x{side}" in res.stderr
    assert not out.exists()


@pytest.mark.slow
def test_kodak_and_1080p_run_as_one_band(shipped_model):
    """Common sizes keep the whole-image computation (no halo work); 4K and up are split."""
    model = shipped_model.model
    widths = (model.config.N, model.g_s.width)

    def count(h: int, w: int) -> int:
        return max(len(transforms.row_bands(-(-h // 16), transforms.activation_bytes_per_row(-(-w // 16), c)))
                   for c in widths)
    assert count(512, 768) == 1 and count(1080, 1920) == 1
    assert count(2160, 3840) > 1


@pytest.mark.slow
def test_classical_codec_limits_are_our_error():
    """WebP stops at 16,383 pixels a side, below our limit: the comparison reports it, it does not crash."""
    from mspview.codec.errors import MSPError
    from mspview.eval import classical

    with pytest.raises(MSPError, match="WebP.*16400x2"):
        classical.get("webp").encode(np.zeros((2, 16400, 3), np.uint8), 50)


@pytest.mark.slow
def test_cancel_reaches_the_verifying_decode_and_the_comparison(random_model):
    """Long phases after the encode (one synthesis per scale, a classical bisection: minutes at 64 MP)
    stop on cancel; a cancelled comparison keeps the finished .msp."""

    from mspview.app import jobs
    from mspview.codec.errors import Cancelled
    from mspview.codec.imageio import LoadedImage

    image = LoadedImage(noise_image(96, 128, seed=9), "RGB", "RGB")

    def run(cancel_when):
        cancel, seen = jobs.JobFlags(), []

        def emit(ev):
            seen.append(ev)
            if cancel_when(ev):
                cancel.cancel.set()
        request = jobs.EncodeRequest("fast", 0.0067, compare="jpeg")
        return jobs.encode_job(random_model, image, request, emit, cancel), seen

    with pytest.raises(Cancelled):
        run(lambda ev: isinstance(ev, jobs.PreviewEvent))
    result, seen = run(lambda ev: isinstance(ev, jobs.Stage) and ev.text.startswith("matching"))
    assert result.ours.data and result.ours.decoded.complete
    assert len(result.items) == 1 and "JPEG comparison cancelled" in result.notes
