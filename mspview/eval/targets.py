"""Encoding to a target rate or quality instead of a lambda: a bpp (within +-2 %), a file size (at most N
bytes) or a PSNR (within +-0.1 dB), found by bisection on lambda (eval/search.py) with real files.

With a latent-overfitting profile, the bisection runs with `fast` (a fraction of a second per try on a
Kodak image), then the profile encodes once at the lambda found; LOF shrinks the file (and moves its
PSNR a little), so when that misses the target one correction follows, at the lambda the fast tries'
slope predicts. Cost: the fast tries (about 6-10) plus one or two profile encodes.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

from ..codec import profiles
from ..codec.errors import MSPError
from ..codec.imageio import LoadedImage
from ..codec.lof import LOFEvent, ProfileResult, run_profile
from ..codec.metrics import psnr_uint8
from .search import Search, Trial, bisect

BPP_TOLERANCE = 0.02  # relative
PSNR_TOLERANCE = 0.1  # dB
SIZE_TOLERANCE = 0.02  # a file of at most N bytes, and at least (1 - this) N where the model allows


@dataclass(frozen=True)
class Target:
    kind: str  # "bpp", "bytes" or "psnr"
    value: float

    def __str__(self) -> str:
        return {"bpp": f"{self.value:g} bpp", "bytes": f"at most {self.value:,.0f} bytes",
                "psnr": f"{self.value:g} dB"}[self.kind]

    def measure(self, nbytes: int, pixels: int, psnr_db: float) -> float:
        return {"bpp": 8 * nbytes / pixels, "bytes": nbytes, "psnr": psnr_db}[self.kind]

    def tolerance(self) -> float:
        return {"bpp": BPP_TOLERANCE * self.value, "bytes": SIZE_TOLERANCE * self.value / 2,
                "psnr": PSNR_TOLERANCE}[self.kind]

    def aim(self) -> float:
        """Where the bisection aims: a size target aims just under its limit."""
        return self.value * (1 - SIZE_TOLERANCE / 2) if self.kind == "bytes" else self.value

    def met(self, value: float) -> bool:
        if self.kind == "bytes":
            return (1 - SIZE_TOLERANCE) * self.value <= value <= self.value
        return abs(value - self.value) <= self.tolerance()


_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([kKmM]?)[bB]?\s*$")


def parse_size(text: str) -> int:
    """'20000', '20KB', '20 kB', '1.5MB' -> bytes (K = 1000: file sizes as users count them)."""
    m = _SIZE.match(text)
    if not m:
        raise MSPError(f"a file size looks like 20000, 20KB or 1.5MB, not {text!r}")
    size = float(m.group(1)) * {"": 1, "k": 1000, "m": 1000 ** 2}[m.group(2).lower()]
    if size < 1:
        raise MSPError(f"a file size of {text!r} is not a file")
    return int(size)


@dataclass
class TargetResult:
    result: ProfileResult
    lam: float
    met: bool
    reached: float  # the measured value of the file kept
    search: Search  # the fast tries
    profile_encodes: int

    def summary(self, target: Target) -> str:
        unit = {"bpp": "bpp", "bytes": "bytes", "psnr": "dB"}[target.kind]
        reached = f"{self.reached:,.0f}" if target.kind == "bytes" else f"{self.reached:.4g}"
        how = "met" if self.met else "not reachable within the trained range; closest"
        encodes = (f", then {self.profile_encodes} {self.result.encoded.header.profile} encode"
                   f"{'s' if self.profile_encodes != 1 else ''}" if self.profile_encodes else "")
        return (f"target {target}: {how} {reached} {unit} at lambda {self.lam:.5g} "
                f"({len(self.search.trials)} fast tries{encodes})")


def encode_to_target(lm, image: LoadedImage, target: Target, profile_name: str = "fast",
                     on_event: Callable[[LOFEvent], None] | None = None,
                     should_stop: Callable[[], bool] | None = None,
                     on_try: Callable[[Trial], None] | None = None) -> TargetResult:
    """Encode `image` so that its real file meets `target`, or as close as the trained lambdas allow."""
    pixels = image.width * image.height
    lo, hi = lm.model.gain.lambda_range()
    fast = profiles.get("fast")
    results: dict[float, ProfileResult] = {}

    def measure(lam: float) -> Trial:
        res = run_profile(lm, image, lm.rate(lam), fast)
        results[lam] = res
        trial = Trial(lam, res.encoded.data, target.measure(len(res.encoded.data), pixels, res.psnr))
        if on_try:
            on_try(trial)
        return trial

    # every target grows with lambda: the top lambda first, so an unreachable one says so after one try
    top = measure(hi)
    if top.value < target.aim() - target.tolerance():
        search = Search(target.aim(), target.tolerance(), [top])
    else:
        search = bisect(measure, lo, hi, target.aim(), target.tolerance(), log=True, should_stop=should_stop)
        search.trials.insert(0, top)
    best = min(search.trials, key=lambda t: _rank(target, t.value))
    candidates = [(best.setting, results[best.setting])]
    profile = profiles.get(profile_name)
    if profile.iterations > 0:
        candidates, lam = [], best.setting
        for _ in range(2):  # the profile encode, and one correction if it misses
            res = run_profile(lm, image, lm.rate(lam), profile, on_event, should_stop)
            candidates.append((lam, res))
            value = target.measure(len(res.encoded.data), pixels, res.psnr)
            if target.met(value) or res.cancelled:
                break
            lam = _corrected(search, target, lam, value, lo, hi)

    def value_of(res: ProfileResult) -> float:
        return target.measure(len(res.encoded.data), pixels, psnr_uint8(res.encoded.image, image.rgb))

    lam, result = min(candidates, key=lambda c: _rank(target, value_of(c[1])))
    reached = value_of(result)
    return TargetResult(result, lam, target.met(reached), reached, search,
                        len(candidates) if profile.iterations > 0 else 0)


def _rank(target: Target, value: float) -> tuple:
    """Sort key of a file for a target: one that meets it first; for a size limit then the largest file
    within it, else the smallest; otherwise the closest."""
    if target.kind == "bytes":
        return (not target.met(value), value > target.value, -value if value <= target.value else value)
    return (not target.met(value), abs(value - target.value))


def _corrected(search: Search, target: Target, lam: float, value: float, lo: float, hi: float) -> float:
    """The lambda that should move `value` onto the target, by the slope d log(value) / d log(lambda)
    of the fast tries around it (PSNR: d value / d log lambda)."""
    pts = sorted(search.trials, key=lambda t: t.setting)
    near = sorted(pts, key=lambda t: abs(math.log(t.setting / lam)))[:2]
    if len(near) < 2 or near[0].setting == near[1].setting or near[0].value == near[1].value:
        return lam
    (a, b) = sorted(near, key=lambda t: t.setting)
    dlog = math.log(b.setting / a.setting)
    if target.kind == "psnr":
        slope = (b.value - a.value) / dlog
        step = (target.value - value) / slope
    else:
        slope = math.log(b.value / a.value) / dlog
        step = math.log(target.aim() / value) / slope
    return min(hi, max(lo, lam * math.exp(step)))
