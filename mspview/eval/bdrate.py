"""BD-rate (Bjøntegaard delta rate) with the `bjontegaard` package, PCHIP by default.

Every figure names its anchor and the quality overlap it was computed on: a BD-rate is only
meaningful over the PSNR range both curves cover.
"""
from __future__ import annotations

from dataclasses import dataclass

import bjontegaard
import numpy as np
from scipy.interpolate import PchipInterpolator

from ..codec.errors import MSPError


@dataclass
class BDResult:
    anchor: str
    test: str
    bd_rate: float  # percent; negative = test needs fewer bits
    overlap: tuple[float, float]  # quality range both curves cover
    metric: str

    def __str__(self) -> str:
        return (f"{self.test} vs {self.anchor}: {self.bd_rate:+.2f} % BD-rate "
                f"({self.metric} {self.overlap[0]:.2f}-{self.overlap[1]:.2f})")


def _clean(rate, dist) -> tuple[np.ndarray, np.ndarray]:
    r, d = np.asarray(rate, float), np.asarray(dist, float)
    keep = np.isfinite(r) & np.isfinite(d) & (r > 0)
    r, d = r[keep], d[keep]
    order = np.argsort(d)
    r, d = r[order], d[order]
    # monotone envelope: PCHIP needs strictly increasing quality with rate
    mask = np.concatenate([[True], np.diff(d) > 1e-9])
    return r[mask], d[mask]


def bd_rate(anchor: tuple[list, list], test: tuple[list, list], anchor_name: str = "anchor",
            test_name: str = "test", method: str = "pchip", metric: str = "psnr-rgb") -> BDResult:
    """anchor/test: (rates, qualities). Raises MSPError when the curves do not overlap."""
    ra, da = _clean(*anchor)
    rt, dt = _clean(*test)
    if len(ra) < 4 or len(rt) < 4:
        raise MSPError("BD-rate needs at least 4 points per curve")
    lo, hi = max(da.min(), dt.min()), min(da.max(), dt.max())
    if hi <= lo:
        raise MSPError(f"{test_name} and {anchor_name} do not overlap in {metric}")
    value = bjontegaard.bd_rate(ra, da, rt, dt, method=method, require_matching_points=False, min_overlap=0.0)
    return BDResult(anchor_name, test_name, float(value), (float(lo), float(hi)), metric)


def _monotone(r: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points (sorted by quality) whose rate also strictly increases: PCHIP over log-rate needs it."""
    keep, top = [], -np.inf
    for i, v in enumerate(r):
        if v > top:
            keep.append(i)
            top = v
    return r[keep], d[keep]


@dataclass
class SpanGap:
    """Quality of `test` minus quality of `anchor` at equal rate, over a rate span (e.g. 0.1–1.0 bpp).

    A BD-rate averages; "better over a span" needs the worst point, and the part of the span that
    both curves really cover (no extrapolation)."""
    anchor: str
    test: str
    span: tuple[float, float]  # asked for, bpp
    covered: tuple[float, float] | None  # the part of the span inside both curves' rate ranges
    worst: float  # dB (metric units); negative: the test is worse somewhere
    worst_at: float  # bpp
    mean: float

    @property
    def holds(self) -> bool:
        """The test is better everywhere in the whole span asked for."""
        return self.covered is not None and self.worst > 0 and \
            np.isclose(self.covered[0], self.span[0]) and np.isclose(self.covered[1], self.span[1])


def span_gap(anchor: tuple[list, list], test: tuple[list, list], span: tuple[float, float],
             anchor_name: str = "anchor", test_name: str = "test") -> SpanGap:
    """PCHIP of quality over log-rate for each curve, compared on a log-spaced grid of the covered span."""
    (ra, da), (rt, dt) = (_monotone(*_clean(*c)) for c in (anchor, test))
    if len(ra) < 2 or len(rt) < 2:
        raise MSPError("a span comparison needs at least 2 points per curve")
    lo = max(span[0], ra.min(), rt.min())
    hi = min(span[1], ra.max(), rt.max())
    if hi <= lo:
        return SpanGap(anchor_name, test_name, span, None, float("nan"), float("nan"), float("nan"))
    fa = PchipInterpolator(np.log(ra), da)
    ft = PchipInterpolator(np.log(rt), dt)
    grid = np.linspace(np.log(lo), np.log(hi), 400)
    diff = ft(grid) - fa(grid)
    i = int(np.argmin(diff))
    return SpanGap(anchor_name, test_name, span, (float(lo), float(hi)), float(diff[i]), float(np.exp(grid[i])),
                   float(diff.mean()))
