"""The decoding schedule's layout, free of torch: the steps in file order, the latent size at each scale
and where each step's elements sit. The .msp reader and `mspview info` need only this (no torch import,
which costs seconds at start-up); msp.py builds the models on it."""
from __future__ import annotations

from dataclasses import dataclass

BASE, STEP_A, STEP_B = 0, 1, 2
STEP_NAMES = {BASE: "base", STEP_A: "A", STEP_B: "B"}


@dataclass(frozen=True)
class StepKey:
    scale: int
    step: int
    group: int

    def __str__(self) -> str:
        if self.step == BASE:
            return f"s{self.scale} base"
        return f"s{self.scale} {STEP_NAMES[self.step]}{self.group}"


def schedule(num_scales: int, groups: int) -> list[StepKey]:
    """Decoding order of the steps (and of the chunks in a .msp file)."""
    keys = [StepKey(num_scales, BASE, 0)]
    for s in reversed(range(num_scales)):
        keys += [StepKey(s, STEP_A, g) for g in range(groups)]
        keys += [StepKey(s, STEP_B, g) for g in range(groups)]
    return keys


def scale_sizes(h: int, w: int, num_scales: int) -> list[tuple[int, int]]:
    """Latent size at scales 0..S; p00 takes the ceiling, so odd sizes need no padding."""
    sizes = [(h, w)]
    for _ in range(num_scales):
        h, w = (h + 1) // 2, (w + 1) // 2
        sizes.append((h, w))
    return sizes


def part_grid(key: StepKey, part: int, num_scales: int) -> tuple[int, int, int]:
    """Where the elements of one part of a step sit in the full latent: (row0, col0, stride)."""
    if key.step == BASE:
        return 0, 0, 2 ** num_scales
    unit = 2 ** key.scale
    if key.step == STEP_A:
        return unit, unit, 2 * unit
    return (0, unit, 2 * unit) if part == 0 else (unit, 0, 2 * unit)
