"""Entropy coding of one chunk: discretized Gaussians with snapped scales, range coding via `constriction`.

Symbols are round(y - mu) (mean-shifted quantization), so every distribution is zero-mean and only
its scale matters. Scales are snapped to a fixed log-spaced table, so encoder and decoder pick the
same distribution from a small index even when their float scales differ in the last bits.

A chunk is coded level by level: its symbols are taken in the stable order of their scale index and
each run of one level is coded with one categorical table over the chunk's [lo, hi]. That is the
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


def encode_chunk(symbols: np.ndarray, index: np.ndarray) -> tuple[bytes, int, int]:
    """Returns (payload, sym_min, sym_max). A chunk whose symbols are all equal needs no payload."""
    if symbols.size == 0:
        return b"", 0, 0
    lo, hi = int(symbols.min()), int(symbols.max())
    if lo == hi:
        return b"", lo, hi
    order, levels, runs = _level_runs(index)
    offsets = (symbols[order] - lo).astype(np.int32)
    coder = constriction.stream.queue.RangeEncoder()
    for table, (a, b) in zip(level_tables(levels, lo, hi), runs):
        coder.encode(offsets[a:b], constriction.stream.model.Categorical(table, perfect=False))
    return coder.get_compressed().astype("<u4").tobytes(), lo, hi


def decode_chunk(payload: bytes, index: np.ndarray, lo: int, hi: int) -> np.ndarray:
    n = index.size
    if n == 0 or lo == hi:
        return np.full(n, lo, dtype=np.int32)
    if len(payload) % 4:
        raise BitstreamError("chunk payload is not a whole number of 32-bit words")
    words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
    order, levels, runs = _level_runs(index)
    symbols = np.empty(n, dtype=np.int32)
    try:
        coder = constriction.stream.queue.RangeDecoder(words)
        for table, (a, b) in zip(level_tables(levels, lo, hi), runs):
            model = constriction.stream.model.Categorical(table, perfect=False)
            symbols[order[a:b]] = coder.decode(model, b - a)
    except Exception as e:  # noqa: BLE001 - constriction reports damaged data as generic errors
        raise BitstreamError(f"entropy decoding failed (damaged chunk): {e}") from None
    return symbols + lo
