"""Damaged, truncated and hostile .msp files: decoded correctly or refused with our own error."""
from __future__ import annotations

import random
import tracemalloc

import pytest
import torch

from mspview.codec import bitstream
from mspview.codec.bitstream import Header, ScaleRecord
from mspview.codec.coder import decode, encode
from mspview.codec.errors import BitstreamError, MSPError, ModelError
from mspview.codec.imageio import LoadedImage

from conftest import noise_image, run_cli

pytestmark = pytest.mark.slow  # app windows, workers, subprocesses: `pytest -m "not slow"` skips them


@pytest.fixture(scope="module")
def small_file(random_model):
    enc = encode(random_model, LoadedImage(noise_image(48, 64, seed=11), "RGB", "RGB"), random_model.rate(0.0067))
    return enc


def _decode_or_error(model, data):
    try:
        return decode(model, data)
    except MSPError as e:
        return e


def test_random_byte_damage(random_model, small_file):
    rng = random.Random(0)
    outcomes = {"same": 0, "error": 0, "partial": 0}
    for _ in range(400):
        data = bytearray(small_file.data)
        for _ in range(rng.choice([1, 1, 2, 5])):
            pos = rng.randrange(len(data))
            data[pos] = (data[pos] + rng.randrange(1, 256)) % 256
        out = _decode_or_error(random_model, bytes(data))
        if isinstance(out, MSPError):
            assert str(out), "errors carry a message"
            outcomes["error"] += 1
        else:
            # a byte flip never silently yields a different image
            assert out.complete and torch.equal(out.y_hat, small_file.y_hat)
            outcomes["same"] += 1
    assert outcomes["error"] > 300


def test_every_truncation_length(random_model, small_file):
    data = small_file.data
    header, start, _ = bitstream.read(data)
    for n in range(0, len(data)):
        out = _decode_or_error(random_model, data[:n])
        if n < start:
            assert isinstance(out, BitstreamError)
        elif not isinstance(out, MSPError):
            assert not out.complete and 1 <= out.scales_decoded <= header.num_scales


def _hostile(width=64, height=48, nbytes=10, lo=-3, hi=3, S=3, G=2, M=32) -> bytes:
    scales = [ScaleRecord(s, nbytes, lo, hi, 0) for s in range(S, -1, -1)]
    h = Header("x", b"\0" * 8, width, height, "RGB", 0.0067, "fast", S, G, M, scales)
    return bitstream.write(h, [])  # payloads absent: the header alone must be refused


@pytest.mark.parametrize("kwargs,message", [
    (dict(width=100000, height=100000), "outside the limits"),
    (dict(width=20000, height=20000), "outside the limits"),
    (dict(nbytes=4_000_000_000), "more than"),
    (dict(lo=-100000, hi=100000), "out of bounds"),
    (dict(lo=2, hi=2), "constant scale"),
    (dict(S=40), "out of range"),
    (dict(G=200, M=400), "out of range"),
])
def test_hostile_headers_refused_before_allocating(kwargs, message):
    data = _hostile(**kwargs)
    tracemalloc.start()
    try:
        with pytest.raises(BitstreamError, match=message):
            bitstream.read(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 256 * 1024, f"{peak} bytes allocated to refuse a header"


def test_not_msp_and_versions():
    with pytest.raises(BitstreamError, match="bad magic"):
        bitstream.read(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    with pytest.raises(BitstreamError, match="too short"):
        bitstream.read(b"MS")
    data = bytearray(_hostile())
    data[4] = 9
    with pytest.raises(BitstreamError, match="version 9"):
        bitstream.read(bytes(data))


def test_wrong_model_is_refused_by_name(shipped_model, small_file):
    with pytest.raises(ModelError, match=small_file.header.model_id):
        decode(shipped_model, small_file.data)


def test_cli_reports_damage_without_traceback(tmp_path, random_weights, small_file):
    bad = bytearray(small_file.data)
    bad[-5] ^= 0xFF
    src = tmp_path / "bad.msp"
    src.write_bytes(bytes(bad))
    res = run_cli("decode", str(src), str(tmp_path / "o.png"), "--model", str(random_weights))
    assert res.returncode == 2
    assert "CRC" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "o.png").exists()
    (tmp_path / "junk.msp").write_bytes(b"hello")
    res = run_cli("info", str(tmp_path / "junk.msp"))
    assert res.returncode == 2 and "not a .msp file" in res.stderr


# Property-based: arbitrary bytes and arbitrary edits of a real file never escape as anything but
# our own error (bounded by hypothesis' deadline, so a hang fails too).
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402



@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=600))
def test_reader_on_arbitrary_bytes(data):
    try:
        bitstream.read(data)
    except BitstreamError:
        pass


@settings(max_examples=150, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4),
       cut=st.integers(0, 10_000))
def test_decoder_on_edited_files(random_model, small_file, edits, cut):
    data = bytearray(small_file.data)
    for pos, value in edits:
        data[pos % len(data)] = value
    data = bytes(data[: max(1, cut % (len(data) + 1))])
    try:
        out = decode(random_model, data)
    except MSPError:
        return
    if out.complete:
        assert torch.equal(out.y_hat, small_file.y_hat)
