"""The .msp container (little-endian, versioned).

    magic "MSPV" | version u8 | header length u16 | header | header CRC-32 u32 | scale payloads

Integers in the header are LEB128 varints (signed ones zigzag-coded) to keep it small: at 0.1 bpp on
a Kodak image every 50 header bytes cost 1 % of the file.

The header holds the model id and weight hash, image size and mode, lambda, profile, S, G, M, and a
scale table in decoding order (base scale S, then S-1 .. 0), each entry with its payload length,
symbol range and the CRC-32 of all symbols of the scale. Each scale is one range-coded stream over its
chunks (base; step A groups; step B groups). The table is covered by the header CRC, so a damaged
length or range is caught before decoding; a damaged payload is caught by its scale's CRC (or by the
entropy decoder); a file cut short still decodes the scales it holds (progressive preview).

Version history: 1 had one CRC per chunk; 2 one per scale (a damaged chunk makes the rest of its
scale undecodable anyway); 3 coded symbols level by level with categorical tables (entropy.py, 7x
faster entropy decoding); 4 codes one stream per scale instead of one per chunk, with one symbol
range per scale: ~110 bytes less per Kodak image (1.1 % of a file at 0.2 bpp); 5 keeps 4's layout but
its symbols are coded with the integer entropy model (exact.py) and integer coder tables
(cdf_tables.py), so that a file decodes to the same symbols on every machine. Files of versions 1-4
decoded only where the arithmetic matched the encoder's; they are refused with the version that reads
them (mspview 0.1.0).
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from .errors import BitstreamError
from .layout import STEP_A, StepKey, scale_sizes, schedule
from .limits import MAX_CHANNELS, MAX_GROUPS, MAX_HEADER_BYTES, MAX_PIXELS, MAX_SCALES, MAX_SIDE, SYMBOL_LIMIT

MAGIC = b"MSPV"
VERSION = 5
LAST_FLOAT_VERSION = (4, "0.1.0")  # the last format whose symbols depended on float arithmetic
MODES = {0: "RGB", 1: "L"}
_PREFIX = struct.Struct("<4sBH")
_FIXED = struct.Struct("<8sBfBB")  # weight hash, mode, lambda, S, G
LATENT_STRIDE = 16


@dataclass
class ScaleRecord:
    scale: int
    nbytes: int
    sym_min: int
    sym_max: int
    crc: int  # CRC-32 of the symbols of the whole scale, in decoding order


@dataclass
class Header:
    model_id: str
    weight_hash: bytes
    width: int
    height: int
    mode: str
    lam: float
    profile: str
    num_scales: int
    groups: int
    channels: int
    scales: list[ScaleRecord] = field(default_factory=list)  # decoding order: S, S-1, .., 0

    @property
    def latent_size(self) -> tuple[int, int]:
        return -(-self.height // LATENT_STRIDE), -(-self.width // LATENT_STRIDE)

    @property
    def payload_bytes(self) -> int:
        return sum(c.nbytes for c in self.scales)


def closes_scale(keys: list[StepKey]) -> list[bool]:
    """For each chunk in schedule order: is it the last chunk of its scale (the one that ends its stream)?"""
    return [i + 1 == len(keys) or keys[i + 1].scale != k.scale for i, k in enumerate(keys)]


def chunk_symbol_counts(h: int, w: int, num_scales: int, groups: int, channels: int) -> list[int]:
    """Symbols in each chunk, in schedule order, for a latent of h x w."""
    sizes = scale_sizes(h, w, num_scales)
    c = channels // groups
    counts = []
    for key in schedule(num_scales, groups):
        if key.scale == num_scales and key.step == 0:
            hb, wb = sizes[num_scales]
            counts.append(channels * hb * wb)
            continue
        hs, ws = sizes[key.scale]
        hc, wc = sizes[key.scale + 1]
        if key.step == STEP_A:
            counts.append(c * (hs // 2) * (ws // 2))
        else:
            counts.append(c * (hc * (ws // 2) + (hs // 2) * wc))
    return counts


def scale_symbol_counts(h: int, w: int, num_scales: int, groups: int, channels: int) -> list[int]:
    """Symbols in each scale's stream, in decoding order (S, S-1, .., 0)."""
    totals: dict[int, int] = {}
    for key, n in zip(schedule(num_scales, groups), chunk_symbol_counts(h, w, num_scales, groups, channels)):
        totals[key.scale] = totals.get(key.scale, 0) + n
    return [totals[s] for s in range(num_scales, -1, -1)]


def _pack_str(s: str, limit: int) -> bytes:
    b = s.encode("utf-8")
    if len(b) > limit:
        raise ValueError(f"string too long for the header: {s!r}")
    return bytes([len(b)]) + b


def _varint(v: int) -> bytes:
    out = bytearray()
    while True:
        byte = v & 0x7F
        v >>= 7
        out.append(byte | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _zigzag(v: int) -> int:
    return 2 * v if v >= 0 else -2 * v - 1


def write(header: Header, payloads: list[bytes]) -> bytes:
    mode = {v: k for k, v in MODES.items()}[header.mode]
    body = _pack_str(header.model_id, 64) + _pack_str(header.profile, 32)
    body += _FIXED.pack(header.weight_hash, mode, header.lam, header.num_scales, header.groups)
    body += _varint(header.width) + _varint(header.height) + _varint(header.channels)
    for rec in header.scales:
        body += _varint(_zigzag(rec.sym_min)) + _varint(rec.sym_max - rec.sym_min) + _varint(rec.nbytes)
        body += struct.pack("<I", rec.crc)
    prefix = _PREFIX.pack(MAGIC, VERSION, len(body))
    crc = zlib.crc32(prefix + body)
    return prefix + body + struct.pack("<I", crc) + b"".join(payloads)


def _read_str(body: bytes, pos: int, what: str) -> tuple[str, int]:
    if pos >= len(body):
        raise BitstreamError(f"header too short for the {what}")
    n = body[pos]
    raw = body[pos + 1:pos + 1 + n]
    if len(raw) != n:
        raise BitstreamError(f"header too short for the {what}")
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BitstreamError(f"{what} in the header is not text") from None
    if not s.isprintable():
        raise BitstreamError(f"{what} in the header is not printable text")
    return s, pos + 1 + n


class _Reader:
    def __init__(self, body: bytes, pos: int):
        self.body, self.pos = body, pos

    def varint(self, what: str) -> int:
        v = shift = 0
        while True:
            if self.pos >= len(self.body) or shift > 35:
                raise BitstreamError(f"header: bad or missing {what}")
            byte = self.body[self.pos]
            self.pos += 1
            v |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return v

    def signed(self, what: str) -> int:
        z = self.varint(what)
        return z // 2 if z % 2 == 0 else -(z + 1) // 2

    def u32(self, what: str) -> int:
        if self.pos + 4 > len(self.body):
            raise BitstreamError(f"header: missing {what}")
        (v,) = struct.unpack_from("<I", self.body, self.pos)
        self.pos += 4
        return v


def read(data: bytes) -> tuple[Header, int, bool]:
    """Parse and bound-check the header. Returns (header, offset of the first payload, truncated)."""
    if len(data) < _PREFIX.size:
        raise BitstreamError("not a .msp file (too short)")
    magic, version, hlen = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise BitstreamError("not a .msp file (bad magic)")
    if 1 <= version <= LAST_FLOAT_VERSION[0]:
        raise BitstreamError(f".msp format version {version}, from before files decoded alike on every machine: "
                             f"mspview {LAST_FLOAT_VERSION[1]} reads it (pip install mspview=={LAST_FLOAT_VERSION[1]}), "
                             f"on the kind of machine that wrote it; this build reads version {VERSION}")
    if version != VERSION:
        raise BitstreamError(f"unsupported .msp format version {version} (this build reads version {VERSION})")
    if hlen > MAX_HEADER_BYTES:
        raise BitstreamError(f"header length {hlen} exceeds the limit of {MAX_HEADER_BYTES} bytes")
    end = _PREFIX.size + hlen
    if len(data) < end + 4:
        raise BitstreamError("file truncated inside its header")
    body = data[_PREFIX.size:end]
    (crc,) = struct.unpack_from("<I", data, end)
    if zlib.crc32(data[:end]) != crc:
        raise BitstreamError("header CRC mismatch: the file is damaged")
    # The CRC passed, but a hostile file can carry a valid CRC: bound every field anyway.
    model_id, pos = _read_str(body, 0, "model id")
    profile, pos = _read_str(body, pos, "profile")
    if len(body) < pos + _FIXED.size:
        raise BitstreamError("header too short")
    whash, mode, lam, S, G = _FIXED.unpack_from(body, pos)
    r = _Reader(body, pos + _FIXED.size)
    width, height, M = r.varint("width"), r.varint("height"), r.varint("channels")
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE) or width * height > MAX_PIXELS:
        raise BitstreamError(f"image size {width}x{height} outside the limits "
                             f"(sides <= {MAX_SIDE}, <= {MAX_PIXELS / 1e6:g} megapixels)")
    if mode not in MODES:
        raise BitstreamError(f"unknown image mode {mode}")
    if not (1 <= S <= MAX_SCALES and 1 <= G <= MAX_GROUPS and 1 <= M <= MAX_CHANNELS and M % G == 0):
        raise BitstreamError(f"model structure S={S} G={G} M={M} out of range")
    header = Header(model_id, whash, width, height, MODES[mode], lam, profile, S, G, M)
    h, w = header.latent_size
    for scale, count in zip(range(S, -1, -1), scale_symbol_counts(h, w, S, G, M)):
        lo = r.signed("symbol range")
        hi = lo + r.varint("symbol range")
        nbytes = r.varint("stream length")
        crc = r.u32("scale CRC")
        if not (-SYMBOL_LIMIT <= lo <= hi <= SYMBOL_LIMIT):
            raise BitstreamError(f"scale {scale}: symbol range [{lo}, {hi}] out of bounds")
        if nbytes > 4 * count + 16:
            raise BitstreamError(f"scale {scale}: {nbytes} bytes is more than {count} symbols can need")
        if lo == hi and nbytes:
            raise BitstreamError(f"scale {scale}: {nbytes} payload bytes for a constant scale")
        header.scales.append(ScaleRecord(scale, nbytes, lo, hi, crc))
    if r.pos != len(body):
        raise BitstreamError("header length does not match its scale table")
    start = end + 4
    have = len(data) - start
    if have > header.payload_bytes:
        raise BitstreamError(f"{have - header.payload_bytes} unexpected bytes after the last scale")
    return header, start, have < header.payload_bytes


def payload_slices(header: Header, start: int, available: int) -> list[tuple[int, int] | None]:
    """(begin, end) of each scale's payload, or None for scales the (truncated) file lacks."""
    out, pos = [], start
    for rec in header.scales:
        end = pos + rec.nbytes
        out.append((pos, end) if end <= available else None)
        pos = end
    return out
