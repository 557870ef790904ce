"""The rate point of an encode: lambda as a .msp header stores it, validated once, with its gains.

Built at the edge (the command line, the app, a .msp header) and passed down, as CompressAI's gain
latent codec receives its gains: everything below (analysis, LOF's costs, the header, the synthesis)
sees the same float32 lambda and the same gains.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .errors import MSPError

# A header stores lambda as float32, which rounds a trained value below it (float32(0.0004) < 0.0004):
# the range check allows that much.
FLOAT32_SLACK = 1e-6


class RateError(MSPError):
    """A lambda outside the range the weights were trained for."""


@dataclass(frozen=True)
class RatePoint:
    lam: float  # float32, as the header stores it
    gain: torch.Tensor  # 1 x M x 1 x 1: y -> the latent that is quantized
    inverse_gain: torch.Tensor  # 1 x M x 1 x 1: y_hat -> the synthesis input
    row: int  # the trained lambda nearest lam: the integer entropy model's base levels for it


def nearest_trained(lambdas: list[float], lam: float) -> int:
    """The index of the trained lambda nearest `lam` in log, decided by exact float64 comparisons (the
    same on every machine: it picks a file's base distribution)."""
    i = sum(1 for t in lambdas[1:] if t <= lam)  # lambdas[i] <= lam < lambdas[i + 1], clamped
    if i + 1 < len(lambdas) and lam * lam >= lambdas[i] * lambdas[i + 1]:
        return i + 1
    return i


def rate_point(gains, lam: float) -> RatePoint:
    """The one check of a lambda against the trained range of `gains` (codec.gain.GainUnits)."""
    lo, hi = gains.lambda_range()
    lam32 = float(np.float32(lam))
    if not (np.isfinite(lam32) and lo * (1 - FLOAT32_SLACK) <= lam32 <= hi * (1 + FLOAT32_SLACK)):
        raise RateError(f"lambda {lam:g} is outside the range this model was trained for ({lo:g} to {hi:g})")
    with torch.no_grad():
        return RatePoint(lam32, gains.gain(lam32), gains.inverse_gain(lam32), nearest_trained(gains.lambdas, lam32))
