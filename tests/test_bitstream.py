"""Round trips through real .msp files decoded in a separate process; the O(1) step count."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mspview.codec import bitstream
from mspview.codec.bitstream import LAST_FLOAT_VERSION
from mspview.codec.coder import decode, encode
from mspview.codec.entropy import SCALE_TABLE, SYMBOL_LIMIT, StreamDecoder, StreamEncoder, symbol_bits, symbol_range
from mspview.codec.errors import BitstreamError
from mspview.codec.imageio import LoadedImage, from_pil, load_image
from mspview.codec.cdf_tables import SIGMA_LEVELS
from mspview.codec.layout import scale_sizes, schedule
from mspview.codec.limits import MAX_CHANNELS, MAX_GROUPS, MAX_PIXELS, MAX_SCALES, MAX_SIDE

from conftest import noise_image, run_cli

SIZES = [(1, 1), (17, 31), (31, 17), (33, 65), (100, 37), (16, 16), (512, 768), (1500, 2000)]


@pytest.mark.slow
@pytest.mark.parametrize("h,w", SIZES)
def test_roundtrip_separate_process(tmp_path, random_model, random_weights, h, w):
    img = LoadedImage(noise_image(h, w, seed=h * w), "RGB", "RGB")
    enc = encode(random_model, img, random_model.rate(0.0067))
    msp = tmp_path / "x.msp"
    msp.write_bytes(enc.data)
    res = run_cli("decode", str(msp), str(tmp_path / "x.png"), "--model", str(random_weights),
                  "--save-latent", str(tmp_path / "y.npy"))
    assert res.returncode == 0, res.stderr
    latent = np.load(tmp_path / "y.npy")
    assert np.array_equal(latent, enc.y_hat[0].numpy()), "decoded latent differs from the encoder's"
    assert np.array_equal(np.asarray(Image.open(tmp_path / "x.png")), enc.image)
    # the symbols really vary: this is not an all-zero latent that any decoder would get right
    assert (enc.header.payload_bytes > 0 and any(c.sym_min < c.sym_max for c in enc.header.scales)) or h * w < 300


@pytest.mark.slow
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


@pytest.mark.slow
def test_quality_picks_the_models_trained_lambdas(tmp_path, random_model, random_weights):
    src = tmp_path / "in.png"
    Image.fromarray(noise_image(40, 56, seed=5)).save(src)
    trained = random_model.model.config.lambdas
    for q in (1, len(trained)):
        res = run_cli("encode", str(src), str(tmp_path / f"q{q}.msp"), "--quality", str(q), "--model", str(random_weights))
        assert res.returncode == 0, res.stderr
        info = json.loads(run_cli("info", str(tmp_path / f"q{q}.msp"), "--json").stdout)
        assert info["lambda"] == pytest.approx(trained[q - 1], rel=1e-6)
    res = run_cli("info", "--model", str(random_weights), "--json")  # the user's way to see the qualities
    assert [r["lambda"] for r in json.loads(res.stdout)["lambdas"]] == list(trained)
    res = run_cli("info", str(tmp_path / "q1.msp"), "--model", str(random_weights))
    assert res.returncode != 0 and "not both" in res.stderr
    res = run_cli("encode", str(src), str(tmp_path / "bad.msp"), "--quality", str(len(trained) + 1),
                  "--model", str(random_weights))
    assert res.returncode != 0 and f"1..{len(trained)}" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.slow
def test_info_accounts_for_every_byte(tmp_path, random_model):
    enc = encode(random_model, LoadedImage(noise_image(96, 112, seed=4), "RGB", "RGB"), random_model.rate(0.0067))
    path = tmp_path / "n.msp"
    path.write_bytes(enc.data)
    res = run_cli("info", str(path), "--json")
    assert res.returncode == 0, res.stderr
    d = json.loads(res.stdout)
    streams = d["scale_streams"]
    assert [c["scale"] for c in streams] == list(range(d["scales"], -1, -1))
    assert d["header_bytes"] + sum(c["bytes"] for c in streams) == d["file_bytes"] == len(enc.data)
    assert sum(len(c["chunks"]) for c in streams) == 1 + 2 * d["scales"] * d["groups"]
    text = run_cli("info", str(path)).stdout
    assert f"header {d['header_bytes']} bytes" in text and all(f"s{c['scale']} " in text for c in streams)


def test_step_count_is_constant(random_model, monkeypatch):
    """1 + 2*S*G sequential steps (and 2*S*G network calls), for 64x64 and 2048x2048 images."""
    msp = random_model.model.msp
    counts = []
    for side in (64, 2048):
        n = side // 16
        steps = []

        def resolve(key, parts):
            steps.append(key)
            return [torch.zeros_like(mu) for mu, _, _ in parts]

        calls = []
        predict = type(msp)._predict
        monkeypatch.setattr(msp, "_predict", lambda *a: calls.append(a[0]) or predict(msp, *a))
        with torch.no_grad():
            msp.run((1, msp.M, n, n), resolve)
        counts.append((len(steps), len(calls)))
        assert steps == schedule(msp.S, msp.G)
    assert counts[0] == counts[1] == (1 + 2 * msp.S * msp.G, 2 * msp.S * msp.G)


def test_chunk_symbol_counts_cover_the_latent():
    for h, w in [(1, 1), (3, 5), (32, 48), (7, 130)]:
        for S in (1, 3, 4):
            counts = bitstream.chunk_symbol_counts(h, w, S, 4, 16)
            assert sum(counts) == 16 * h * w
            assert len(counts) == 1 + 2 * S * 4


def test_chunk_symbol_counts_per_step():
    """3x5 latent, one finer scale over a 2x3 base, 4 channels in 2 groups: the base codes every channel
    of its 6 positions; step A the 1x2 odd-odd positions, step B the 2x2 even-odd and 1x3 odd-even ones,
    2 channels a group."""
    counts = bitstream.chunk_symbol_counts(3, 5, 1, 2, 4)
    assert counts == [4 * 6, 2 * 2, 2 * 2, 2 * 7, 2 * 7] and all(type(n) is int for n in counts)


def test_scale_sizes_take_the_ceiling():
    assert scale_sizes(5, 3, 3) == [(5, 3), (3, 2), (2, 1), (1, 1)]


def test_truncation_gives_progressive_scales(random_model):
    img = LoadedImage(noise_image(96, 128, seed=5), "RGB", "RGB")
    enc = encode(random_model, img, random_model.rate(0.0067))
    header, start, _ = bitstream.read(enc.data)
    S = header.num_scales
    full = decode(random_model, enc.data)
    assert full.complete and full.scales_decoded == S + 1
    for k in range(1, S + 2):  # cut right after the stream of the k-th scale
        end = start + sum(c.nbytes for c in header.scales[:k])
        previews = []
        cut = end + (1 if k <= S else 0)  # plus one byte of the next stream, which must be ignored
        dec = decode(random_model, enc.data[:cut], on_preview=previews.append)
        assert dec.scales_decoded == k
        assert len(previews) == k and previews[-1].scales_done == k
        ref = decode(random_model, enc.data, max_scales=k)
        assert np.array_equal(dec.image, ref.image)
    assert np.array_equal(dec.image, full.image)


def test_previews_one_per_scale_with_growing_bytes(random_model):
    img = LoadedImage(noise_image(64, 80, seed=9), "RGB", "RGB")
    enc = encode(random_model, img, random_model.rate(0.01))
    previews = []
    decode(random_model, enc.data, on_preview=previews.append)
    S = random_model.model.config.num_scales
    assert [p.scales_done for p in previews] == list(range(1, S + 2))
    assert all(a.bytes_read <= b.bytes_read for a, b in zip(previews, previews[1:]))
    assert previews[-1].bytes_read == len(enc.data)
    assert all(p.total_scales == S + 1 and p.bpp == 8 * p.bytes_read / (64 * 80) for p in previews)


def test_bitmaps_match_the_rate(random_model):
    img = LoadedImage(noise_image(64, 96, seed=2), "RGB", "RGB")
    enc = encode(random_model, img, random_model.rate(0.0067))
    payload = enc.header.payload_bytes
    assert enc.bpp == 8 * len(enc.data) / (64 * 96)  # the whole file, header included
    est = enc.bitmaps.spatial.sum() / 8
    assert abs(est - payload) <= 0.05 * payload + 8 * len(enc.header.scales)
    assert np.isclose(enc.bitmaps.spatial.sum(), enc.bitmaps.channels.sum())
    assert np.isclose(enc.bitmaps.spatial.sum(), sum(enc.bitmaps.chunks.values()))
    assert len(enc.bitmaps.chunks) == len(schedule(enc.header.num_scales, enc.header.groups))
    dec = decode(random_model, enc.data)
    assert np.allclose(dec.bitmaps.spatial, enc.bitmaps.spatial)


def test_bit_maps_for_the_picture_keep_every_bit(random_model):
    """The app's bit-map views: per 2 x 2 block (each block even) and per scale spread over the area each
    position stands for; both keep the total, each scale its own, and the scales add up to all."""
    img = LoadedImage(noise_image(136, 200, seed=3), "RGB", "RGB")  # latent 9 x 13: blocks cut at both edges
    maps = encode(random_model, img, random_model.rate(0.0067)).bitmaps
    total = maps.spatial.sum()
    blocks = maps.blocks()
    assert blocks.shape == maps.spatial.shape and np.isclose(blocks.sum(), total)
    whole = blocks[:8, :12]  # the whole 2 x 2 blocks: each even
    assert np.allclose(whole[0::2, 0::2], whole[1::2, 1::2]) and np.allclose(whole[0::2], whole[1::2])
    assert np.allclose(blocks[:2, :2], maps.spatial[:2, :2].mean())
    assert np.isclose(maps.density().sum(), total)
    assert np.allclose(sum(maps.density(s) for s in maps.scales), maps.density())
    for s, raw in maps.scales.items():
        d = maps.density(s)
        assert np.isclose(d.sum(), raw.sum())
        unit = 2 ** s
        assert np.allclose(d[:unit, :unit], raw[0, 0] / unit ** 2)  # one coded position spread over its block


def _stream_roundtrip(chunks: list[tuple[np.ndarray, np.ndarray]]) -> bytes:
    lo, hi = symbol_range([sym for sym, _ in chunks])
    enc = StreamEncoder(lo, hi)
    for sym, idx in chunks:
        enc.encode(sym, idx)
    payload = enc.finish()
    dec = StreamDecoder(payload, lo, hi)
    for sym, idx in chunks:
        assert np.array_equal(dec.decode(idx), sym)
    return payload


@pytest.mark.parametrize("spread,n", [(0.3, 5000), (3.0, 20000), (4000.0, 3000)])
def test_entropy_stream_roundtrip_near_ideal_length(spread, n):
    """Level-by-level categorical coding of several chunks in one stream: exact round trip, and a code
    length within 1 % (+ 8 bytes) of the ideal -log2 p under the snapped Gaussians, also for wide ranges."""
    rng = np.random.default_rng(int(spread * 10))
    chunks, ideal = [], 0.0
    for part in range(3):  # chunks of different sizes and spreads share one stream
        m = n // (part + 1)
        index = rng.integers(0, SIGMA_LEVELS, m).astype(np.uint8)
        sigma = SCALE_TABLE[index]
        symbols = np.clip(np.round(rng.normal(0, sigma * spread / (3 + part))), -SYMBOL_LIMIT, SYMBOL_LIMIT).astype(np.int32)
        chunks.append((symbols, index))
        ideal += symbol_bits(symbols, index).sum() / 8
    payload = _stream_roundtrip(chunks)
    assert len(payload) <= 1.01 * ideal + 8


def test_entropy_constant_stream_needs_no_payload():
    chunks = [(np.full(50, 3, np.int32), np.full(50, 10, np.uint8)), (np.zeros(0, np.int32), np.zeros(0, np.uint8))]
    assert _stream_roundtrip(chunks) == b""


def test_entropy_stream_damage_is_reported():
    index = np.full(1000, 40, np.uint8)
    symbols = np.random.default_rng(0).integers(-20, 20, 1000).astype(np.int32)
    enc = StreamEncoder(-20, 19)
    enc.encode(symbols, index)
    payload = enc.finish()
    with pytest.raises(BitstreamError):
        StreamDecoder(payload[:-3], -20, 19).decode(index)


def test_the_header_bytes_are_the_v5_layout(random_model):
    """The on-disk layout, read byte by byte (not through the module's own constants): magic, version 5,
    body length, model id and profile (length-prefixed), weight hash, mode code (0 RGB, 1 L), λ, S, G.
    A changed code or version would leave every file written before unreadable or misread."""
    import struct

    golden = (Path(__file__).parent / "data" / "golden_v5.msp").read_bytes()
    assert golden[:5] == b"MSPV\x05" and bitstream.read(golden)[0].mode == "RGB"
    gray = from_pil(Image.fromarray(noise_image(32, 48, seed=2)[..., 0]))
    data = encode(random_model, gray, random_model.rate(0.0067)).data
    assert data[:5] == b"MSPV\x05"
    (body_len,) = struct.unpack_from("<H", data, 5)
    pos = 7
    model_id = data[pos + 1: pos + 1 + data[pos]].decode()
    pos += 1 + data[pos]
    pos += 1 + data[pos]  # the profile
    whash, mode, lam, S, G = struct.unpack_from("<8sBfBB", data, pos)
    assert model_id == random_model.model_id and whash == random_model.hash_prefix
    assert mode == 1 and abs(lam - 0.0067) < 1e-9 and (S, G) == (3, 2) and 7 + body_len + 4 <= len(data)
    assert bitstream.read(data)[0].mode == "L"


# ------------------------------------------------------------------------------------------ hostile headers
def _header(**change) -> bitstream.Header:
    """A valid header of a 40 x 24 image (S=3: four scale records), `change`d."""
    fields = dict(model_id="m", weight_hash=b"12345678", width=40, height=24, mode="RGB", lam=0.01, profile="fast",
                  num_scales=3, groups=2, channels=32)
    fields.update(change)
    header = bitstream.Header(**fields)
    header.scales = [bitstream.ScaleRecord(s, 10, -3, 4, 0) for s in range(3, -1, -1)]
    return header


def test_a_header_at_its_field_limits_reads_back_as_written():
    """A model id of the full 64 bytes and a profile of 32, scales whose symbols are all positive (the
    zigzag code's other half), a long stream: written and read back field for field; a byte more is
    refused at write."""
    header = _header(model_id="m" * 64, profile="p" * 32, width=400, height=240, lam=float(np.float32(0.01)))
    header.scales = [bitstream.ScaleRecord(3, 40, 3, 5, 7), bitstream.ScaleRecord(2, 300, -9, -2, 2 ** 32 - 1),
                     bitstream.ScaleRecord(1, 0, 4, 4, 0), bitstream.ScaleRecord(0, 1, 0, 1, 1)]
    data = bitstream.write(header, [bytes(n) for n in (40, 300, 0, 1)])
    back, _, truncated = bitstream.read(data)
    assert back == header and not truncated
    with pytest.raises(ValueError, match="too long"):
        bitstream.write(_header(model_id="m" * 65), [bytes(10)] * 4)


def test_scale_symbol_counts_add_up_to_the_latent():
    """Every latent symbol is in exactly one scale's stream: the counts bound each stream's length."""
    for h, w, S in [(1, 1, 3), (3, 5, 1), (24, 40, 3), (7, 130, 4)]:
        counts = bitstream.scale_symbol_counts(h, w, S, 4, 16)
        chunks = bitstream.chunk_symbol_counts(h, w, S, 4, 16)
        assert len(counts) == S + 1 and sum(counts) == 16 * h * w
        assert counts[0] == chunks[0] and counts[1] == sum(chunks[1:1 + 2 * 4])  # the base; the next scale: 2 steps x 4 groups


def _with_body(data: bytes, edit) -> bytes:
    """The file with its header body edited by `edit` and the header CRC made valid again (a hostile
    file can carry a valid CRC)."""
    import struct
    import zlib
    prefix = bitstream._PREFIX
    _, _, hlen = prefix.unpack_from(data)
    body = edit(bytearray(data[prefix.size:prefix.size + hlen]))
    head = prefix.pack(bitstream.MAGIC, bitstream.VERSION, len(body)) + bytes(body)
    return head + struct.pack("<I", zlib.crc32(head)) + data[prefix.size + hlen + 4:]


def _set(pos: int, value: int):
    def edit(body):
        body[pos] = value
        return body
    return edit


VALID = bitstream.write(_header(), [b"x" * 10] * 4)
FIXED_AT = 2 + len("m") + len("fast")  # the weight hash, mode, lambda, S, G after the two strings
HOSTILE = {
    "too short": (VALID[:5], "too short"),
    "bad magic": (b"JPEG" + VALID[4:], "bad magic"),
    "a float-era version": (VALID[:4] + b"\x03" + VALID[5:], "from before files decoded alike"),
    "a future version": (VALID[:4] + b"\x09" + VALID[5:], "unsupported .msp format version 9"),
    "a huge header": (VALID[:5] + (40000).to_bytes(2, "little") + VALID[7:], "exceeds the limit"),
    "truncated in the header": (VALID[:12], "truncated inside its header"),
    "truncated in the header's CRC": (VALID[:len(VALID) - 4 * 10 - 2], "truncated inside its header"),  # 2 of its 4 bytes
    "a header that ends in its fixed fields": (_with_body(VALID, lambda b: b[:FIXED_AT + 5]), "header too short"),
    "a damaged header": (VALID[:8] + bytes([VALID[8] ^ 1]) + VALID[9:], "CRC mismatch"),
    "a model id that is not text": (_with_body(VALID, _set(1, 0xFF)), "not text"),
    "a model id that is not printable": (_with_body(VALID, _set(1, 0x07)), "not printable"),
    "a model id longer than the header": (_with_body(VALID, _set(0, 200)), "too short for the model id"),
    "an unknown mode": (_with_body(VALID, _set(FIXED_AT + 8, 7)), "unknown image mode 7"),
    "no scales": (_with_body(VALID, _set(FIXED_AT + 13, 0)), "S=0"),
    "groups that do not divide the channels": (_with_body(VALID, _set(FIXED_AT + 14, 3)), "G=3 M=32"),
    "a zero width": (bitstream.write(_header(width=0), [b"x" * 10] * 4), "outside the limits"),
    "too many pixels": (bitstream.write(_header(width=16000, height=16000), [b"x" * 10] * 4), "outside the limits"),
    "bytes after the last scale": (VALID + b"!", "1 unexpected bytes"),
    "a scale table longer than the header says": (_with_body(VALID, lambda b: b + b"\x00"), "does not match its scale table"),
    "a scale table cut short": (_with_body(VALID, lambda b: b[:-2]), "missing scale CRC"),
    "a scale table cut inside a number": (_with_body(VALID, lambda b: b[:-5]), "bad or missing stream length"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_header_is_refused_with_its_reason(name):
    data, why = HOSTILE[name]
    with pytest.raises(BitstreamError, match=why):
        bitstream.read(data)


def _at_limits(**change) -> tuple[bitstream.Header, list[bytes]]:
    """A header `change`d, every scale at its limits: symbols over the whole range, the most bytes its
    symbols can need (a scale without symbols: constant, no bytes)."""
    header = _header(**change)
    h, w = header.latent_size
    counts = bitstream.scale_symbol_counts(h, w, header.num_scales, header.groups, header.channels)
    header.scales = [bitstream.ScaleRecord(s, 4 * n + 16, -SYMBOL_LIMIT, SYMBOL_LIMIT, 0) if n else
                     bitstream.ScaleRecord(s, 0, 0, 0, 0) for s, n in zip(range(header.num_scales, -1, -1), counts)]
    return header, [bytes(r.nbytes) for r in header.scales]


AT_LIMITS = {
    "a 1x1 image": dict(width=1, height=1),
    "the longest side": dict(width=MAX_SIDE, height=1, groups=1, channels=1),
    "the tallest side": dict(width=1, height=MAX_SIDE, groups=1, channels=1),
    "the most pixels": dict(width=8000, height=MAX_PIXELS // 8000, groups=1, channels=1),
    "the smallest model": dict(width=16, height=16, num_scales=1, groups=1, channels=1),
    "the largest model": dict(width=1, height=1, num_scales=MAX_SCALES, groups=MAX_GROUPS, channels=MAX_CHANNELS),
}
PAST_LIMITS = {
    "a side too long": (dict(width=MAX_SIDE + 1, height=1, groups=1, channels=1), "outside the limits"),
    "a row too many": (dict(width=8000, height=MAX_PIXELS // 8000 + 1, groups=1, channels=1),
                           f"<= {MAX_PIXELS / 1e6:g} megapixels"),
    "a scale too many": (dict(width=1, height=1, num_scales=MAX_SCALES + 1), f"S={MAX_SCALES + 1}"),
    "a group too many": (dict(width=1, height=1, groups=MAX_GROUPS + 1, channels=MAX_GROUPS + 1), "out of range"),
    "a channel too many": (dict(width=1, height=1, groups=1, channels=MAX_CHANNELS + 1), "out of range"),
}


@pytest.mark.parametrize("name", list(AT_LIMITS))
def test_a_header_at_its_limits_is_read(name):
    """Every bound of the header check is inclusive: a file at a limit reads (a 1x1 image whose scales
    are all constant is a header and nothing else)."""
    header, payloads = _at_limits(**AT_LIMITS[name])
    data = bitstream.write(header, payloads)
    back, start, truncated = bitstream.read(data)
    assert (back.width, back.height, back.num_scales, back.groups, back.channels, back.scales) == \
        (header.width, header.height, header.num_scales, header.groups, header.channels, header.scales)
    assert not truncated and len(data) - start == sum(map(len, payloads))


@pytest.mark.parametrize("name", list(PAST_LIMITS))
def test_a_header_one_past_a_limit_is_refused(name):
    change, why = PAST_LIMITS[name]
    header, payloads = _at_limits(**change)
    with pytest.raises(BitstreamError, match=why):
        bitstream.read(bitstream.write(header, payloads))


def test_a_scale_record_one_past_its_limits_is_refused():
    for field, value, why in (("sym_min", -SYMBOL_LIMIT - 1, "out of bounds"), ("sym_max", SYMBOL_LIMIT + 1, "out of bounds"),
                              ("nbytes", None, "more than")):
        header, _ = _at_limits(width=40, height=24)
        record = header.scales[0]
        header.scales[0] = replace(record, **{field: record.nbytes + 1 if value is None else value})
        with pytest.raises(BitstreamError, match=why):
            bitstream.read(bitstream.write(header, [bytes(r.nbytes) for r in header.scales]))


def test_old_versions_and_empty_headers_are_refused_and_a_header_alone_is_read():
    for version in range(1, LAST_FLOAT_VERSION[0] + 1):  # every float-era version names the release that reads it
        with pytest.raises(BitstreamError, match=f"mspview {LAST_FLOAT_VERSION[1]} reads it"):
            bitstream.read(VALID[:4] + bytes([version]) + VALID[5:])
    constant = _header(width=1, height=1)  # every scale constant: the file is its header
    constant.scales = [bitstream.ScaleRecord(s, 0, 2, 2, 0) for s in range(3, -1, -1)]
    data = bitstream.write(constant, [b""] * 4)
    assert bitstream.read(data)[1:] == (len(data), False)
    empty = _with_body(VALID, lambda body: bytearray())
    with pytest.raises(BitstreamError, match="too short"):
        bitstream.read(empty)
    with pytest.raises(BitstreamError, match="^3 unexpected bytes"):
        bitstream.read(VALID + b"!!!")
    with pytest.raises(ValueError, match="too long"):
        bitstream.write(_header(profile="p" * 33), [b"x" * 10] * 4)


def test_scale_records_out_of_bounds_are_refused():
    for change, why in (((-2 ** 15 - 5, 4, 10), "out of bounds"), ((-3, 4, 10 ** 6), "more than"),
                        ((2, 2, 10), "constant scale")):
        header = _header()
        lo, hi, nbytes = change
        header.scales[0] = bitstream.ScaleRecord(3, nbytes, lo, hi, 0)
        data = bitstream.write(header, [b"x" * r.nbytes for r in header.scales])
        with pytest.raises(BitstreamError, match=why):
            bitstream.read(data)


def test_a_valid_header_reads_back_and_a_short_payload_is_truncated():
    header, start, truncated = bitstream.read(VALID)
    assert (header.width, header.height, header.profile, [r.nbytes for r in header.scales]) == (40, 24, "fast", [10] * 4)
    assert start == len(VALID) - 40 and not truncated
    assert bitstream.read(VALID[:-1])[2]


def test_a_file_for_other_weights_or_with_a_damaged_scale_is_refused(random_model):
    from dataclasses import replace
    from mspview.codec.errors import ModelError
    enc = encode(random_model, LoadedImage(noise_image(48, 64, seed=11), "RGB", "RGB"), random_model.rate(0.0067))
    header, start, _ = bitstream.read(enc.data)
    payload = enc.data[start:]
    other = bitstream.write(replace(header, model_id="another-model"), [payload])
    with pytest.raises(ModelError, match="this file needs model another-model"):
        decode(random_model, other)
    other = bitstream.write(replace(header, weight_hash=b"\0" * 8), [payload])
    with pytest.raises(ModelError, match="weights 0000000000000000"):
        decode(random_model, other)
    other = bitstream.write(replace(header, groups=header.groups * 2), [payload])
    with pytest.raises(ModelError, match=r"structure \(S, G, M\)"):
        decode(random_model, other)
    last = header.scales[-1]  # the finest scale's stream, damaged in its middle
    damaged = bytearray(enc.data)
    damaged[len(enc.data) - last.nbytes // 2] ^= 0x5A
    with pytest.raises(BitstreamError, match=f"scale 0 \\(stream {len(header.scales)} of {len(header.scales)}\\) is damaged"):
        decode(random_model, bytes(damaged))


# ------------------------------------------------------------------------------------------ pixels in and out
def test_padding_to_the_latent_stride_replicates_the_edges():
    from mspview.codec.coder import padded_pixels
    rgb = np.random.default_rng(1).integers(0, 256, (17, 31, 3), dtype=np.uint8)
    p = padded_pixels(rgb)
    assert p.shape == (32, 32, 3) and np.array_equal(p[:17, :31], rgb)
    assert np.array_equal(p[17:, :31], np.repeat(rgb[-1:], 15, 0)) and np.array_equal(p[:17, 31:], rgb[:, -1:])
    assert padded_pixels(rgb[:16, :16]).shape == (16, 16, 3)
    two = padded_pixels(rgb[:2, :5])
    assert np.array_equal(two[2:, :5], np.repeat(rgb[1:2, :5], 14, 0))
    one = padded_pixels(rgb[:1, :5])  # one pixel high: zeros around it
    assert one.shape == (16, 16, 3) and np.array_equal(one[:1, :5], rgb[:1, :5]) and not one[1:].any() and not one[:, 5:].any()


def test_the_8_bit_picture_rounds_and_clamps():
    from mspview.codec.transforms import to_picture
    row = torch.tensor([-0.2, 0.0, 0.49 / 255, 0.51 / 255, 100.4 / 255, 1.0, 1.3])
    out = to_picture(row.view(1, 1, 1, 7).repeat(1, 3, 2, 1))
    assert out.shape == (2, 7, 3) and out.dtype == torch.uint8
    assert out[0, :, 0].tolist() == [0, 0, 0, 1, 100, 255, 255]


def test_a_decoded_picture_is_the_synthesis_of_the_dequantized_latent(random_weights):
    from mspview.codec.transforms import to_picture
    from mspview.codec.weights import load_weights
    lm = load_weights(random_weights, precision="fp32")
    rate = lm.rate(0.0067)
    dec = decode(lm, encode(lm, LoadedImage(noise_image(40, 56, seed=4), "RGB", "RGB"), rate).data)
    with torch.no_grad():
        ref = to_picture(lm.model.g_s(dec.y_hat * rate.inverse_gain))[:40, :56].numpy()
    assert dec.image.shape == (40, 56, 3) and np.abs(ref.astype(int) - dec.image).max() <= 1


def test_the_phase_timings_add_up_to_the_call(random_weights):
    """What `info`, the benchmarks and the app report: each phase's seconds non-negative, together no
    more than the call took (a phase timed from the wrong clock reading breaks both)."""
    import time
    from mspview.codec.weights import load_weights
    lm = load_weights(random_weights)
    t0 = time.perf_counter()
    enc = encode(lm, LoadedImage(noise_image(48, 64, seed=8), "RGB", "RGB"), lm.rate(0.0067))
    wall = time.perf_counter() - t0
    assert set(enc.timings) == {"analysis_s", "model_s", "entropy_s", "synthesis_s"}
    assert min(enc.timings.values()) >= 0 and sum(enc.timings.values()) <= wall
    previews = []
    t0 = time.perf_counter()
    dec = decode(lm, enc.data, on_preview=previews.append)
    wall = time.perf_counter() - t0
    parts = {k: v for k, v in dec.timings.items() if k != "total_s"}
    assert set(parts) == {"entropy_s", "preview_s", "model_s", "synthesis_s"} and min(parts.values()) >= 0
    assert sum(parts.values()) == pytest.approx(dec.timings["total_s"]) and dec.timings["total_s"] <= wall
    assert len(previews) == 4 and dec.timings["preview_s"] > 0
