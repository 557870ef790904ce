"""BD-rate (Bjøntegaard delta rate) with the `bjontegaard` package, PCHIP by default.

Every figure names its anchor and the quality overlap it was computed on: a BD-rate is only
meaningful over the PSNR range both curves cover.
"""
from __future__ import annotations

from dataclasses import dataclass

import bjontegaard
import numpy as np

from ..codec.errors import MSPError


@dataclass
class BDResult:
    anchor: str
    test: str
    bd_rate: float  # percent; negative = test needs fewer bits
    overlap: tuple[float, float]  # quality range both curves cover
    metric: str = "psnr-rgb"

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
