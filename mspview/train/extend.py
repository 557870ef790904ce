"""Extend a trained model's lambda set, so that training goes on over a wider rate range.

Gain vectors of lambdas the model already has are kept; a new lambda's gain vectors start on the
log-linear line through the two nearest trained lambdas (interpolated inside the trained range,
extrapolated outside it), which is where the codec's own rate control would put them.
"""
from __future__ import annotations

import dataclasses
import math

import torch

from ..codec.model import MSPCodecModel
from ..codec.weights import upgraded


def _line_init(table: torch.Tensor, old: list[float], lam: float) -> torch.Tensor:
    logs = [math.log(v) for v in old]
    t = math.log(lam)
    i = max(0, min(len(old) - 2, sum(1 for v in logs if v < t) - 1))
    a = (t - logs[i]) / (logs[i + 1] - logs[i])
    return (1 - a) * table[i] + a * table[i + 1]


def extend_lambdas(model: MSPCodecModel, lambdas: list[float]) -> MSPCodecModel:
    """A copy of `model` trained-for `lambdas`, a superset of its own lambda set."""
    old = list(model.config.lambdas)
    lambdas = sorted(float(v) for v in lambdas)
    missing = [v for v in old if not any(math.isclose(v, w, rel_tol=1e-6) for w in lambdas)]
    if missing:
        raise ValueError(f"the new lambda set must keep the trained lambdas (missing {', '.join(f'{v:g}' for v in missing)})")
    if len(old) < 2:
        raise ValueError("extending needs a model trained at two lambdas at least")
    new = MSPCodecModel(dataclasses.replace(model.config, lambdas=tuple(lambdas)))
    # the base levels have a row per lambda: the one level in each, as weights from before them, until the
    # export calibrates them
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("gain.") and k != "exact.base_levels"}
    new.load_state_dict(upgraded(state, new), strict=False)
    with torch.no_grad():
        for name in ("log_gain", "log_inv_gain"):
            table = getattr(model.gain, name)
            rows = []
            for lam in lambdas:
                same = [i for i, v in enumerate(old) if math.isclose(v, lam, rel_tol=1e-6)]
                rows.append(table[same[0]] if same else _line_init(table, old, lam))
            getattr(new.gain, name).copy_(torch.stack(rows))
    return new.train(model.training)
