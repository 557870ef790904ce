"""Entropy coding of a scale's chunks: discretized Gaussians with snapped scales, range coding via `constriction`.

Symbols are round(y - mu) (mean-shifted quantization), so every distribution is zero-mean and only
its scale matters. Scales are snapped to a fixed log-spaced table, so encoder and decoder pick the
same distribution from a small index even when their float scales differ in the last bits.

A chunk is coded level by level: its symbols are taken in the stable order of their scale index and
each run of one level is coded with one categorical table over the stream's [lo, hi]. That is the
same code length as one quantized Gaussian per symbol, and 7x faster to decode (measured on a 2K
latent), because constriction builds 64 tables at most instead of one model per symbol.
"""
from __future__ import annotations

import math
import zlib

import constriction
import numpy as np
import torch

from .errors import BitstreamError
from .msp import SIGMA_LEVELS, SIGMA_MAX, SIGMA_MIN, gaussian_likelihood

SCALE_TABLE = np.exp(np.linspace(math.log(SIGMA_MIN), math.log(SIGMA_MAX), SIGMA_LEVELS))
_LOG_MIN = math.log(SIGMA_MIN)
_LOG_STEP = (math.log(SIGMA_MAX) - math.log(SIGMA_MIN)) / (SIGMA_LEVELS - 1)
SYMBOL_LIMIT = 2 ** 15 - 1  # symbols are clamped to +-this; headers with wider ranges are refused


def sigma_index(sigma: torch.Tensor) -> torch.Tensor:
    idx = torch.round((torch.log(sigma.float()) - _LOG_MIN) / _LOG_STEP)
    return idx.clamp_(0, SIGMA_LEVELS - 1).to(torch.uint8)


def snapped_sigma(index: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(SCALE_TABLE[index.cpu().numpy()]).to(index.device, torch.float32)


def quantize(residual: torch.Tensor) -> torch.Tensor:
    return torch.round(residual).clamp_(-SYMBOL_LIMIT, SYMBOL_LIMIT)


def symbol_bits(symbols: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Estimated bits of each symbol under its snapped distribution (for bit-allocation maps)."""
    p = gaussian_likelihood(symbols.float(), torch.zeros((), device=symbols.device), snapped_sigma(index))
    return -torch.log2(p)


def symbols_crc(symbols: np.ndarray, crc: int = 0) -> int:
    """CRC-32 of int32 symbols, continuing from `crc` (a scale's chunks are checked together)."""
    return zlib.crc32(np.ascontiguousarray(symbols, dtype="<i4").tobytes(), crc)


def level_tables(levels: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Probabilities of the symbols lo..hi under each of `levels` (one row each; tails folded into
    the end symbols)."""
    edges = torch.arange(lo, hi, dtype=torch.float64) + 0.5
    scale = torch.from_numpy(SCALE_TABLE[levels]).view(-1, 1) * math.sqrt(2.0)
    cdf = 0.5 * torch.erfc(-edges / scale)
    zeros, ones = torch.zeros(len(levels), 1, dtype=torch.float64), torch.ones(len(levels), 1, dtype=torch.float64)
    p = torch.diff(torch.cat([zeros, cdf, ones], 1), dim=1).clamp_min(1e-9)
    return (p / p.sum(1, keepdim=True)).numpy()


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


class StreamEncoder:
    """One range-coded stream over the chunks of a scale, all with the symbol range [lo, hi].

    One stream per scale instead of one per chunk saves the coder's flush and a length and range per
    chunk in the header, ~110 bytes on a Kodak image (1 % of a file at 0.2 bpp). A stream whose
    symbols are all equal (lo == hi) needs no payload.
    """

    def __init__(self, lo: int, hi: int):
        self.lo, self.hi = lo, hi
        self._coder = constriction.stream.queue.RangeEncoder()

    def encode(self, symbols: np.ndarray, index: np.ndarray) -> None:
        if self.lo == self.hi or symbols.size == 0:
            return
        order, levels, runs = _level_runs(index)
        offsets = (symbols[order] - self.lo).astype(np.int32)
        for table, (a, b) in zip(level_tables(levels, self.lo, self.hi), runs):
            self._coder.encode(offsets[a:b], constriction.stream.model.Categorical(table, perfect=False))

    def finish(self) -> bytes:
        if self.lo == self.hi:
            return b""
        return self._coder.get_compressed().astype("<u4").tobytes()


class StreamDecoder:
    """Reads back, chunk by chunk, what a StreamEncoder wrote; the caller supplies each chunk's
    scale indices, which the decoder only knows once the previous chunks are decoded."""

    def __init__(self, payload: bytes, lo: int, hi: int):
        self.lo, self.hi = lo, hi
        if lo == hi:
            return
        if len(payload) % 4:
            raise BitstreamError("stream payload is not a whole number of 32-bit words")
        try:
            self._coder = constriction.stream.queue.RangeDecoder(np.frombuffer(payload, dtype="<u4").astype(np.uint32))
        except Exception as e:  # noqa: BLE001 - constriction reports damaged data as generic errors
            raise BitstreamError(f"entropy decoding failed (damaged stream): {e}") from None

    def decode(self, index: np.ndarray) -> np.ndarray:
        n = index.size
        if n == 0 or self.lo == self.hi:
            return np.full(n, self.lo, dtype=np.int32)
        order, levels, runs = _level_runs(index)
        symbols = np.empty(n, dtype=np.int32)
        try:
            for table, (a, b) in zip(level_tables(levels, self.lo, self.hi), runs):
                model = constriction.stream.model.Categorical(table, perfect=False)
                symbols[order[a:b]] = self._coder.decode(model, b - a)
        except Exception as e:  # noqa: BLE001
            raise BitstreamError(f"entropy decoding failed (damaged stream): {e}") from None
        return symbols + self.lo
