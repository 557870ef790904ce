"""Round trips through real .msp files decoded in a separate process; the O(1) step count."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from mspview.codec import bitstream
from mspview.codec.coder import decode, encode
from mspview.codec.entropy import SCALE_TABLE, SYMBOL_LIMIT, decode_chunk, encode_chunk, symbol_bits
from mspview.codec.errors import BitstreamError
from mspview.codec.imageio import LoadedImage, load_image
from mspview.codec.msp import SIGMA_LEVELS, scale_sizes, schedule

from conftest import noise_image, run_cli

SIZES = [(1, 1), (17, 31), (31, 17), (33, 65), (100, 37), (16, 16), (512, 768), (1500, 2000)]


@pytest.mark.parametrize("h,w", SIZES)
def test_roundtrip_separate_process(tmp_path, random_model, random_weights, h, w):
    img = LoadedImage(noise_image(h, w, seed=h * w), "RGB", "RGB")
    enc = encode(random_model, img, 0.0067)
    msp = tmp_path / "x.msp"
    msp.write_bytes(enc.data)
    res = run_cli("decode", str(msp), str(tmp_path / "x.png"), "--model", str(random_weights),
                  "--save-latent", str(tmp_path / "y.npy"))
    assert res.returncode == 0, res.stderr
    latent = np.load(tmp_path / "y.npy")
    assert np.array_equal(latent, enc.y_hat[0].numpy()), "decoded latent differs from the encoder's"
    assert np.array_equal(np.asarray(Image.open(tmp_path / "x.png")), enc.image)
    # the symbols really vary: this is not an all-zero latent that any decoder would get right
    assert len({(c.sym_min, c.sym_max) for c in enc.header.chunks}) > 1 or h * w < 300


@pytest.mark.parametrize("mode,make", [
    ("L", lambda a: Image.fromarray(a[..., 0])),
    ("RGBA", lambda a: Image.fromarray(np.dstack([a, a[..., :1]]))),
    ("I;16", lambda a: Image.fromarray(a[..., 0].astype(np.uint16) * 257)),
    ("P", lambda a: Image.fromarray(a, "RGB").quantize(64)),
])
def test_modes_roundtrip(tmp_path, random_model, random_weights, mode, make):
    src = tmp_path / f"in_{mode.replace(';', '')}.png"
    make(noise_image(40, 56, seed=3)).save(src)
    img = load_image(src)
    gray = mode in ("L", "I;16")
    assert img.mode == ("L" if gray else "RGB")
    if mode == "I;16":  # 16-bit: round(v / 257) gives back the 8-bit values
        assert np.array_equal(img.rgb[..., 0], noise_image(40, 56, seed=3)[..., 0])
    if mode == "RGBA":
        assert "alpha channel discarded" in img.notes
    res = run_cli("encode", str(src), str(tmp_path / "o.msp"), "--model", str(random_weights))
    assert res.returncode == 0, res.stderr
    res = run_cli("decode", str(tmp_path / "o.msp"), str(tmp_path / "o.png"), "--model", str(random_weights))
    assert res.returncode == 0, res.stderr
    out = Image.open(tmp_path / "o.png")
    assert out.mode == ("L" if gray else "RGB") and out.size == (56, 40)


def test_step_count_is_constant(random_model):
    """1 + 2*S*G sequential steps (and 2*S*G network calls), for 64x64 and 2048x2048 images."""
    msp = random_model.model.msp
    counts = []
    for side in (64, 2048):
        n = side // 16
        steps = []

        def resolve(key, parts):
            steps.append(key)
            return [torch.zeros_like(mu) for mu, _, _ in parts]

        msp.network_calls = 0
        with torch.no_grad():
            msp.run((1, msp.M, n, n), resolve)
        counts.append((len(steps), msp.network_calls))
        assert steps == schedule(msp.S, msp.G)
    assert counts[0] == counts[1] == (1 + 2 * msp.S * msp.G, 2 * msp.S * msp.G)


def test_chunk_symbol_counts_cover_the_latent():
    for h, w in [(1, 1), (3, 5), (32, 48), (7, 130)]:
        for S in (1, 3, 4):
            counts = bitstream.chunk_symbol_counts(h, w, S, 4, 16)
            assert sum(counts) == 16 * h * w
            assert len(counts) == 1 + 2 * S * 4


def test_scale_sizes_take_the_ceiling():
    assert scale_sizes(5, 3, 3) == [(5, 3), (3, 2), (2, 1), (1, 1)]


def test_truncation_gives_progressive_scales(random_model):
    img = LoadedImage(noise_image(96, 128, seed=5), "RGB", "RGB")
    enc = encode(random_model, img, 0.0067)
    header, start, _ = bitstream.read(enc.data)
    S, G = header.num_scales, header.groups
    full = decode(random_model, enc.data)
    assert full.complete and full.scales_decoded == S + 1
    end = start
    for k in range(1, S + 2):  # cut right after the chunks of the k-th scale
        n_chunks = 1 if k == 1 else 1 + 2 * G * (k - 1)
        end = start + sum(c.nbytes for c in header.chunks[:n_chunks])
        previews = []
        cut = end + (1 if k <= S else 0)  # plus one byte of the next chunk, which must be ignored
        dec = decode(random_model, enc.data[:cut], on_preview=previews.append)
        assert dec.scales_decoded == k
        assert len(previews) == k and previews[-1].scales_done == k
        ref = decode(random_model, enc.data, max_scales=k)
        assert np.array_equal(dec.image, ref.image)
    assert np.array_equal(dec.image, full.image)


def test_previews_one_per_scale_with_growing_bytes(random_model):
    img = LoadedImage(noise_image(64, 80, seed=9), "RGB", "RGB")
    enc = encode(random_model, img, 0.01)
    previews = []
    decode(random_model, enc.data, on_preview=previews.append)
    S = random_model.model.config.num_scales
    assert [p.scales_done for p in previews] == list(range(1, S + 2))
    assert all(a.bytes_read <= b.bytes_read for a, b in zip(previews, previews[1:]))
    assert previews[-1].bytes_read == len(enc.data)


def test_bitmaps_match_the_rate(random_model):
    img = LoadedImage(noise_image(64, 96, seed=2), "RGB", "RGB")
    enc = encode(random_model, img, 0.0067)
    payload = sum(c.nbytes for c in enc.header.chunks)
    est = enc.bitmaps.spatial.sum() / 8
    assert abs(est - payload) <= 0.05 * payload + 4 * len(enc.header.chunks)
    assert np.isclose(enc.bitmaps.spatial.sum(), enc.bitmaps.channels.sum())
    dec = decode(random_model, enc.data)
    assert np.allclose(dec.bitmaps.spatial, enc.bitmaps.spatial)


@pytest.mark.parametrize("spread,n", [(0.3, 5000), (3.0, 20000), (4000.0, 3000)])
def test_entropy_chunk_roundtrip_near_ideal_length(spread, n):
    """Level-by-level categorical coding: exact round trip, and a code length within 1 % (+ 8 bytes)
    of the ideal -log2 p under the snapped Gaussians, also for wide symbol ranges."""
    rng = np.random.default_rng(int(spread * 10))
    index = rng.integers(0, SIGMA_LEVELS, n).astype(np.uint8)
    sigma = SCALE_TABLE[index]
    symbols = np.clip(np.round(rng.normal(0, sigma * spread / 3)), -SYMBOL_LIMIT, SYMBOL_LIMIT).astype(np.int32)
    payload, lo, hi = encode_chunk(symbols, index)
    assert np.array_equal(decode_chunk(payload, index, lo, hi), symbols)
    ideal = symbol_bits(torch.from_numpy(symbols), torch.from_numpy(index)).sum().item() / 8
    assert len(payload) <= 1.01 * ideal + 8


def test_entropy_chunk_damage_is_reported():
    index = np.full(1000, 40, np.uint8)
    symbols = np.random.default_rng(0).integers(-20, 20, 1000).astype(np.int32)
    payload, lo, hi = encode_chunk(symbols, index)
    with pytest.raises(BitstreamError):
        decode_chunk(payload[:-3], index, lo, hi)
