"""Integer CDFs of the coder's 64 discretized Gaussians, and the tables a stream is coded with.

Level i of the scale table has sigma_i = SIGMA_MIN * (SIGMA_MAX / SIGMA_MIN)^(i / 63). Its CDF is held
as integers, C_i(t) = round(2^32 * Phi((t + 0.5) / sigma_i)) for t in [-T_i, T_i - 1], with T_i =
ceil(6.5 sigma_i) + 1 (beyond, the 32-bit value is 0 or 2^32). The integers are derived once by
`derive`, in Python's decimal arithmetic (software, correctly rounded: the same digits on every
machine), and shipped as mspview/resources/gaussian_cdf.npy; a test derives them again.

A stream with symbols in [lo, hi] is coded with, per level, the masses of the symbols lo..hi (the
tails folded into the end symbols), rescaled to integer weights that sum to 2^24 - n (n symbols) by
integer arithmetic. constriction's categorical model (perfect=False) adds one to every weight: with
weights that already sum to its free weight, its float arithmetic is exact and the model it builds is
exactly those integers, on every machine (constriction pinned in pyproject.toml; a golden file guards it).
"""
from __future__ import annotations

import decimal
from functools import lru_cache

import numpy as np

from ..resources import PACKAGE_DATA

SIGMA_MIN, SIGMA_MAX, SIGMA_LEVELS = 0.11, 64.0, 64
CDF_BITS = 32
CODER_BITS = 24  # constriction's range coder: probabilities in units of 2^-24
CDF_FILE = PACKAGE_DATA / "gaussian_cdf.npy"


def _half_width(sigma: decimal.Decimal) -> int:
    return int((decimal.Decimal("6.5") * sigma).to_integral_value(decimal.ROUND_CEILING)) + 1


def derive() -> list[np.ndarray]:
    """The integer CDF of every level, from first principles (about a second)."""
    ctx = decimal.Context(prec=60)
    lo, hi = ctx.ln(decimal.Decimal("0.11")), ctx.ln(decimal.Decimal(64))
    sqrt2 = ctx.sqrt(decimal.Decimal(2))
    sqrt_pi = ctx.sqrt(_pi(ctx))
    one, full = decimal.Decimal(1), decimal.Decimal(2) ** CDF_BITS
    tables = []
    for i in range(SIGMA_LEVELS):
        sigma = ctx.exp(lo + (hi - lo) * i / (SIGMA_LEVELS - 1))
        t_max = _half_width(sigma)
        row = []
        for t in range(-t_max, t_max):
            z = ctx.divide(decimal.Decimal(t) + decimal.Decimal("0.5"), sigma * sqrt2)
            phi = (one + _erf(z, ctx, sqrt_pi)) / 2
            row.append(int((phi * full).to_integral_value(decimal.ROUND_HALF_EVEN)))
        tables.append(np.array(row, np.int64))
    return tables


def _pi(ctx: decimal.Context) -> decimal.Decimal:
    """pi by Machin's formula."""
    def arctan_inv(n: int) -> decimal.Decimal:
        x, total, k, sign = decimal.Decimal(1) / n, decimal.Decimal(0), 1, 1
        term = x
        while term:
            total += sign * term / k
            x /= n * n
            term = x
            k += 2
            sign = -sign
        return total
    with decimal.localcontext(ctx):
        return 16 * arctan_inv(5) - 4 * arctan_inv(239)


def _erf(z: decimal.Decimal, ctx: decimal.Context, sqrt_pi: decimal.Decimal) -> decimal.Decimal:
    """erf by its Maclaurin series (|z| < 6 here; 60 digits leave margin for its cancellation)."""
    with decimal.localcontext(ctx):
        total, power, n = decimal.Decimal(0), z, 0
        z2 = z * z
        eps = decimal.Decimal(10) ** -45
        factorial = decimal.Decimal(1)
        while True:
            term = power / (factorial * (2 * n + 1))
            total += -term if n % 2 else term
            if abs(term) < eps and n > z2:
                break
            n += 1
            factorial *= n
            power *= z2
        return 2 * total / sqrt_pi


def pack(tables: list[np.ndarray]) -> np.ndarray:
    """One flat int64 array: the tables one after another (each level's length is 2 T_i)."""
    return np.concatenate(tables)


@lru_cache(maxsize=1)
def _levels() -> tuple[tuple[int, np.ndarray], ...]:
    """(T_i, C_i) per level, from the shipped file."""
    flat = np.load(CDF_FILE)
    out, pos = [], 0
    ctx = decimal.Context(prec=60)
    lo, hi = ctx.ln(decimal.Decimal("0.11")), ctx.ln(decimal.Decimal(64))
    for i in range(SIGMA_LEVELS):
        t_max = _half_width(ctx.exp(lo + (hi - lo) * i / (SIGMA_LEVELS - 1)))
        out.append((t_max, flat[pos: pos + 2 * t_max]))
        pos += 2 * t_max
    if pos != flat.size:
        raise RuntimeError(f"{CDF_FILE} does not hold the {SIGMA_LEVELS} coder tables")
    return tuple(out)


@lru_cache(maxsize=1)
def grid() -> tuple[int, np.ndarray]:
    """All levels on one grid: row i holds C_i(t) for t in [-R - 1, R] (R the widest T), so that any t
    clips into it."""
    r = max(t_max for t_max, _ in _levels())
    grid = np.zeros((SIGMA_LEVELS, 2 * r + 2), np.int64)
    for i, (t_max, table) in enumerate(_levels()):
        grid[i, r + 1 - t_max: r + 1 + t_max] = table
        grid[i, r + 1 + t_max:] = 1 << CDF_BITS
    return r, grid


def cdf_at(level: int | np.ndarray, t: np.ndarray) -> np.ndarray:
    """C_level(t) = 2^32 P(X <= t + 0.5), for integer t of any range (int64); `level` may be an array
    of the same shape as t."""
    r, table = grid()
    return table[level, np.clip(t + r + 1, 0, 2 * r + 1)]


def masses(level: int, lo: int, hi: int) -> np.ndarray:
    """2^32 P(symbol = k) for k in lo..hi, the tails folded into lo and hi (they sum to 2^32)."""
    c = cdf_at(level, np.arange(lo, hi, dtype=np.int64))
    return np.diff(np.concatenate([[0], c, [1 << CDF_BITS]]))


def coder_weights(level: int, lo: int, hi: int) -> np.ndarray:
    """Integer weights of the symbols lo..hi summing to 2^24 - n: constriction adds 1 to each."""
    m = masses(level, lo, hi)
    free = (1 << CODER_BITS) - m.size
    w = (m * free) >> CDF_BITS  # m <= 2^32, free < 2^24: fits int64
    w[int(np.argmax(m))] += free - int(w.sum())  # the rounding remainder goes to the most likely symbol
    return w
