"""Entropy coding of a scale's chunks: discretized Gaussians chosen by an integer scale index, range
coding with `constriction`, tables defined by integers (cdf_tables.py).

Symbols are round(y - mu) (mean-shifted quantization), so every distribution is zero-mean and only
its scale matters; the exact model (exact.py) gives each symbol a scale index 0..63 by integer
arithmetic, so encoder and decoder pick the same table on every machine.

A chunk is coded level by level: its symbols are taken in the stable order of their scale index and
each run of one level is coded with one categorical table over the stream's [lo, hi]. That is the
same code length as one quantized Gaussian per symbol, and 7x faster to decode (measured on a 2K
latent), because constriction builds 64 tables at most instead of one model per symbol.
"""
from __future__ import annotations

import math
import zlib
from functools import lru_cache

import constriction
import numpy as np
import torch

from . import cdf_tables
from .cdf_tables import CDF_BITS, SIGMA_LEVELS, SIGMA_MAX, SIGMA_MIN
from .errors import BitstreamError
from .limits import SYMBOL_LIMIT

SCALE_TABLE = np.exp(np.linspace(math.log(SIGMA_MIN), math.log(SIGMA_MAX), SIGMA_LEVELS))  # for display
_LOG_MIN = math.log(SIGMA_MIN)
_LOG_STEP = (math.log(SIGMA_MAX) - math.log(SIGMA_MIN)) / (SIGMA_LEVELS - 1)


def sigma_index(sigma: torch.Tensor) -> torch.Tensor:
    """The scale level nearest a float sigma (float models: the serial benchmark; exact.py's boundaries)."""
    idx = torch.round((torch.log(sigma.float()) - _LOG_MIN) / _LOG_STEP)
    return idx.clamp_(0, SIGMA_LEVELS - 1).to(torch.uint8)


def level_boundaries() -> np.ndarray:
    """The sigmas halfway (in log) between consecutive levels: level i covers [b[i-1], b[i])."""
    return np.exp(_LOG_MIN + (np.arange(1, SIGMA_LEVELS) - 0.5) * _LOG_STEP)


def quantize(residual: torch.Tensor) -> torch.Tensor:
    return torch.round(residual).clamp_(-SYMBOL_LIMIT, SYMBOL_LIMIT)


@lru_cache(maxsize=1)
def bits_table() -> tuple[int, np.ndarray]:
    """(offset, table): table[level, t + offset] = -log2 P(t) for every level and t in [-R-1, R+1]
    (beyond R, the table's floor of 2^-32: 32 bits)."""
    r, _ = cdf_tables.grid()
    t = np.arange(-r - 1, r + 2)
    levels = np.arange(SIGMA_LEVELS)[:, None]
    m = cdf_tables.cdf_at(levels, t[None]) - cdf_tables.cdf_at(levels, t[None] - 1)
    return r + 1, CDF_BITS - np.log2(np.maximum(m, 1))


def symbol_bits(symbols: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Bits of each symbol under its level's distribution (before the stream's tail folding, which
    only shortens code lengths): the estimate behind bit-allocation maps and LOF's true cost."""
    offset, table = bits_table()
    return table[index, np.clip(symbols, -offset, offset) + offset]


def symbols_crc(symbols: np.ndarray, crc: int) -> int:
    """CRC-32 of int32 symbols, continuing from `crc` (a scale's chunks are checked together)."""
    return zlib.crc32(np.ascontiguousarray(symbols, dtype="<i4").tobytes(), crc)


def _level_runs(index: np.ndarray):
    """(coding order, level of each run, [(start, end)]): runs of equal scale index, stable order."""
    order = np.argsort(index, kind="stable")
    levels = index[order]
    cuts = np.flatnonzero(np.diff(levels)) + 1
    starts = np.concatenate([[0], cuts])
    ends = np.concatenate([cuts, [levels.size]])
    return order, levels[starts], list(zip(starts.tolist(), ends.tolist()))


def symbol_range(chunks: list[np.ndarray]) -> tuple[int, int]:
    """One symbol range [lo, hi] for all chunks of a stream (0, 0 when there are no symbols)."""
    nonempty = [c for c in chunks if c.size]
    if not nonempty:
        return 0, 0
    return min(int(c.min()) for c in nonempty), max(int(c.max()) for c in nonempty)


class _Stream:
    """What encoder and decoder share: the symbol range, and one integer-defined model per level."""

    def __init__(self, lo: int, hi: int):
        self.lo, self.hi = lo, hi
        self._models: dict[int, object] = {}

    def model(self, level: int):
        if level not in self._models:
            weights = cdf_tables.coder_weights(level, self.lo, self.hi).astype(np.float64)
            self._models[level] = constriction.stream.model.Categorical(weights, perfect=False)
        return self._models[level]


class StreamEncoder(_Stream):
    """One range-coded stream over the chunks of a scale, all with the symbol range [lo, hi].

    One stream per scale instead of one per chunk saves the coder's flush and a length and range per
    chunk in the header, ~110 bytes on a Kodak image (1 % of a file at 0.2 bpp). A stream whose
    symbols are all equal (lo == hi) needs no payload.
    """

    def __init__(self, lo: int, hi: int):
        super().__init__(lo, hi)
        self._coder = constriction.stream.queue.RangeEncoder()

    def encode(self, symbols: np.ndarray, index: np.ndarray) -> None:
        if self.lo == self.hi or symbols.size == 0:
            return
        order, levels, runs = _level_runs(index)
        offsets = (symbols[order] - self.lo).astype(np.int32)
        for level, (a, b) in zip(levels.tolist(), runs):
            self._coder.encode(offsets[a:b], self.model(level))

    def finish(self) -> bytes:
        if self.lo == self.hi:
            return b""
        return self._coder.get_compressed().astype("<u4").tobytes()


class StreamDecoder(_Stream):
    """Reads back, chunk by chunk, what a StreamEncoder wrote; the caller supplies each chunk's
    scale indices, which the decoder only knows once the previous chunks are decoded. A payload the
    coder cannot read raises BitstreamError (the caller names the file and scale)."""

    def __init__(self, payload: bytes, lo: int, hi: int):
        super().__init__(lo, hi)
        if lo == hi:
            return
        if len(payload) % 4:
            raise BitstreamError("stream payload is not a whole number of 32-bit words")
        try:
            self._coder = constriction.stream.queue.RangeDecoder(np.frombuffer(payload, dtype="<u4").astype(np.uint32))
        except Exception as e:  # noqa: BLE001 - constriction reports damaged data as generic errors
            raise BitstreamError(f"the range coder cannot read it ({e})") from None

    def decode(self, index: np.ndarray) -> np.ndarray:
        n = index.size
        if n == 0 or self.lo == self.hi:
            return np.full(n, self.lo, dtype=np.int32)
        order, levels, runs = _level_runs(index)
        symbols = np.empty(n, dtype=np.int32)
        try:
            for level, (a, b) in zip(levels.tolist(), runs):
                symbols[order[a:b]] = self._coder.decode(self.model(level), b - a)
        except Exception as e:  # noqa: BLE001
            raise BitstreamError(f"the range coder cannot read it ({e})") from None
        return symbols + self.lo
