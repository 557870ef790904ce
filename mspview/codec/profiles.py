"""Encode profiles: named presets that trade encode time for a smaller file (LOF settings).

Measured cost and gain (benchmarks/lof_gain.py on Kodak) are read from
mspview/resources/profile_measurements.json so that the CLI and the app can show them next to the name.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from .errors import MSPError
from ..resources import DEFAULT_WEIGHTS, PROFILE_MEASUREMENTS as MEASUREMENTS
from .weights import card_path


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    iterations: int = 0  # LOF iterations (0 = no LOF)
    check_every: int = 10  # true-cost check period of the greedy search
    patience: int = 3  # checks without improvement (after halving the step) before stopping
    lr: float = 0.03  # initial Adam step on the gained latent
    greedy_rounding: bool = False  # final pass flipping ambiguous roundings group by group
    amp: bool = True  # bf16 autocast for the synthesis inside LOF iterations (checks stay fp32)


# Iteration counts from the measured LOF curves (session 2, Kodak): the true cost falls fastest in
# the first 60 iterations and flattens after about 150 at this step size.
PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("fast", "no latent overfitting: one analysis pass"),
    Profile("quick", "a few latent-overfitting iterations, for previews and demos", iterations=30,
            check_every=10, patience=2),
    Profile("balanced", "latent overfitting, greedy search", iterations=100, check_every=10, patience=3),
    Profile("best", "longer latent overfitting, greedy search and greedy rounding pass",
            iterations=200, check_every=10, patience=5, greedy_rounding=True),
)}


def get(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise MSPError(f"unknown profile {name!r}; choose from {', '.join(PROFILES)}") from None


def measurements() -> dict:
    """Measured seconds per Kodak image and BD-rate vs fast, per profile (may be empty)."""
    try:
        return json.loads(MEASUREMENTS.read_text())
    except (OSError, ValueError):
        return {}


def summary(name: str) -> str:
    m = measurements().get("profiles", {}).get(name)
    if not m:
        return "not measured yet"
    threads = f"{m['threads']} CPU thread{'s' if m['threads'] > 1 else ''}" if "threads" in m else "a CPU"
    if "cpu" in m:
        threads += f", {m['cpu']}"
    threads = f" on the machine that measured it ({threads}; yours may differ)"
    gain = "" if name == "fast" else f", {m['bd_rate_vs_fast']:+.1f} % BD-rate vs fast ({len(m.get('images', []))} Kodak images)"
    secs = m["seconds_per_image"]
    older = "" if m.get("weights_sha256") in (None, _shipped_sha256()) else " (measured with earlier weights)"
    return f"~{secs:.{1 if secs < 10 else 0}f} s per Kodak image{threads}{gain}{older}"


def _shipped_sha256() -> str | None:
    try:
        return json.loads(card_path(DEFAULT_WEIGHTS).read_text()).get("sha256")
    except (OSError, ValueError):
        return None


def describe_all() -> str:
    rows = [f"{'profile':<10} {'LOF it':>6}  measured (Kodak)"]
    for p in PROFILES.values():
        rows.append(f"{p.name:<10} {p.iterations:>6}  {summary(p.name)}  -- {p.description}")
    return "\n".join(rows)
