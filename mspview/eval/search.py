"""Bisection on a codec's setting until a measured value (bpp, PSNR) meets a target: one helper for
a classical codec at mspview's bpp or PSNR, mspview itself at a target rate or quality (on lambda),
and a second mspview model at the first one's bpp. CompressAI's `find_close` and JPEG AI's target-bpp
option do the same for their users.

Every setting tried is kept: when no setting lands within the tolerance, the caller still has the
closest file, and the two tries that bracket the target (for an interpolated figure, labelled so).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from ..codec.errors import Cancelled

RESOLUTION = 1e-3  # a continuous setting is not bisected finer than this (relative)


@dataclass
class Trial:
    setting: float
    data: bytes  # the file this setting made
    value: float  # what was measured on it (bpp, dB)
    extra: dict = field(default_factory=dict)  # whatever else the measure found (a decoded image, PSNR)


@dataclass
class Search:
    target: float
    tolerance: float
    trials: list[Trial]

    @property
    def best(self) -> Trial:
        """The try closest to the target."""
        return min(self.trials, key=lambda t: abs(t.value - self.target))

    @property
    def within(self) -> bool:
        return abs(self.best.value - self.target) <= self.tolerance

    def bracket(self) -> tuple[Trial, Trial] | None:
        """The tries just below and just above the target, when there are both."""
        below = [t for t in self.trials if t.value <= self.target]
        above = [t for t in self.trials if t.value >= self.target]
        if not below or not above:
            return None
        return max(below, key=lambda t: t.value), min(above, key=lambda t: t.value)

    def interpolated_bytes(self) -> float | None:
        """File size at exactly the target, interpolated linearly in log(bytes) between the bracketing
        tries (None without a bracket)."""
        pair = self.bracket()
        if pair is None:
            return None
        (a, b) = pair
        if b.value == a.value:
            return float(len(a.data))
        t = (self.target - a.value) / (b.value - a.value)
        return math.exp((1 - t) * math.log(len(a.data)) + t * math.log(len(b.data)))


def bisect(measure: Callable[[float], Trial], lo: float, hi: float, target: float, tolerance: float, *,
           integer: bool = False, log: bool = False, increasing: bool = True, max_tries: int = 24,
           should_stop: Callable[[], bool] | None = None) -> Search:
    """Bisect the setting in [lo, hi] (in log space with `log`; whole numbers with `integer`) until the
    measured value is within `tolerance` of `target`. `increasing`: a higher setting measures higher.
    Raises Cancelled when `should_stop()` turns true between tries."""
    search = Search(target, tolerance, [])
    tried: set[float] = set()

    def run(setting: float) -> Trial | None:
        if setting in tried:
            return None
        if should_stop and should_stop():
            raise Cancelled("search cancelled")
        tried.add(setting)
        trial = measure(setting)
        search.trials.append(trial)
        return trial

    for _ in range(max_tries):
        mid = math.sqrt(lo * hi) if log else (lo + hi) / 2
        if integer:
            mid = int(round(mid))
        trial = run(mid)
        if trial is None or abs(trial.value - target) <= tolerance:
            break
        if (trial.value < target) == increasing:
            lo = mid
        else:
            hi = mid
        if integer and hi - lo <= 1:
            for end in (lo, hi):  # the two neighbours of the target: the closest of all whole settings
                run(end)
            break
        if not integer and (hi / lo if log else 1 + (hi - lo) / max(abs(hi), abs(lo), 1e-12)) < 1 + RESOLUTION:
            break  # the target lies beyond an end of the range (or between two settings a hair apart)
    return search
