"""Multi-scale progressive (MSP) probability model.

Scale s splits y_hat^(s) into its 2x2 polyphase components p00, p01, p10, p11; p00 is the next
coarser scale y_hat^(s+1). Decoding goes coarse to fine: the base scale S with a per-channel
Gaussian, then for s = S-1 .. 0 step A (p11 from p00) and step B (p01 and p10 from p00 and p11),
each step split into G channel groups coded one after another. Every step is one call of a small
CNN over the whole tensor, so decoding takes 1 + 2*S*G sequential steps whatever the image size.

`walk` is that schedule, written once. It drives the float model here (training, and LOF's
differentiable surrogate) and the integer model of exact.py (every symbol a file holds); both ask a
`resolve` callback to turn each step's predicted distribution into values, which is where training,
encoding and decoding differ.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import nn
import torch.nn.functional as F

from .cdf_tables import SIGMA_MIN  # the one table of scales
from .layout import BASE, STEP_A, STEP_B, StepKey, scale_sizes

# One part of a step: (mean, scale parameter, target or None). The float model gives (mu, sigma), the
# exact one (mu in fixed point, sigma index). Step B has two parts (p01 and p10).
Part = tuple[torch.Tensor, torch.Tensor, "torch.Tensor | None"]
Resolve = Callable[[StepKey, Sequence[Part]], list[torch.Tensor]]
# predict(step, group, scale, context) -> one (mean, scale parameter) per part, on the context's grid
Predict = Callable[[int, int, int, list[torch.Tensor]], list[tuple[torch.Tensor, torch.Tensor]]]


def _pad_to(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    return F.pad(x, (0, w - x.shape[-1], 0, h - x.shape[-2]))


def interleave(p00, p01, p10, p11, h: int, w: int) -> torch.Tensor:
    """Inverse of the polyphase split."""
    b, c = p00.shape[:2]
    y = p00.new_zeros(b, c, h, w)
    y[..., 0::2, 0::2] = p00
    y[..., 0::2, 1::2] = p01
    y[..., 1::2, 0::2] = p10
    y[..., 1::2, 1::2] = p11
    return y


def walk(num_scales: int, groups: int, shape: tuple[int, int, int, int], base: tuple[torch.Tensor, torch.Tensor],
         predict: Predict, resolve: Resolve, target: torch.Tensor | None = None,
         on_scale: Callable[[int, torch.Tensor], None] | None = None,
         start: tuple[int, torch.Tensor] | None = None, stop: int = 0) -> torch.Tensor:
    """Walk the decoding schedule. `base` is the per-channel (mean, scale parameter) of the coarsest
    scale; `target` (the unquantized latent) is given when encoding or training, None when decoding;
    `on_scale(s, y_hat_s)` is called after each scale; `start` = (s, y_hat_s) walks on from a scale
    already resolved. Returns the resolved latent down to scale `stop` (0: the whole latent; s: its
    positions every 2^s)."""
    b, m, h, w = shape
    S, G, C = num_scales, groups, shape[1] // groups
    sizes = scale_sizes(h, w, S)
    levels = [target]
    for _ in range(S):
        levels.append(None if target is None else levels[-1][..., ::2, ::2])

    if start is None:
        hb, wb = sizes[S]
        mean, spread = (t.view(1, m, 1, 1).expand(b, m, hb, wb) for t in base)
        first, cur = S, resolve(StepKey(S, BASE, 0), [(mean, spread, levels[S])])[0]
        if on_scale:
            on_scale(S, cur)
    else:
        first, cur = start

    def group_of(t: torch.Tensor | None, g: int) -> torch.Tensor | None:
        return None if t is None else t[:, g * C:(g + 1) * C]

    for s in reversed(range(stop, first)):
        hs, ws = sizes[s]
        hc, wc = sizes[s + 1]
        t = levels[s]
        t11 = t01 = t10 = None
        if t is not None:
            t11, t01, t10 = t[..., 1::2, 1::2], t[..., 0::2, 1::2], t[..., 1::2, 0::2]

        p11: list[torch.Tensor] = []
        for g in range(G):
            ctx = [cur] + ([_pad_to(torch.cat(p11, 1), hc, wc)] if p11 else [])
            (mean, spread), = predict(STEP_A, g, s, ctx)
            crop = (..., slice(0, hs // 2), slice(0, ws // 2))
            p11.append(resolve(StepKey(s, STEP_A, g), [(mean[crop], spread[crop], group_of(t11, g))])[0])
        p11_full = torch.cat(p11, 1)
        p11_pad = _pad_to(p11_full, hc, wc)

        p01: list[torch.Tensor] = []
        p10: list[torch.Tensor] = []
        for g in range(G):
            ctx = [cur, p11_pad]
            if p01:
                ctx += [_pad_to(torch.cat(p01, 1), hc, wc), _pad_to(torch.cat(p10, 1), hc, wc)]
            (mean01, spread01), (mean10, spread10) = predict(STEP_B, g, s, ctx)
            c01 = (..., slice(0, hc), slice(0, ws // 2))
            c10 = (..., slice(0, hs // 2), slice(0, wc))
            a, c = resolve(StepKey(s, STEP_B, g), [(mean01[c01], spread01[c01], group_of(t01, g)),
                                                   (mean10[c10], spread10[c10], group_of(t10, g))])
            p01.append(a)
            p10.append(c)
        cur = interleave(cur, torch.cat(p01, 1), torch.cat(p10, 1), p11_full, hs, ws)
        if on_scale:
            on_scale(s, cur)
    return cur


def predictor_inputs(channels: int, groups: int, step: int, group: int) -> int:
    """Input channels of a predictor: the coarser scale, what its step decoded before, the scale plane."""
    c = channels // groups
    if step == STEP_A:
        return channels + group * c + 1
    return 2 * channels + 2 * group * c + 1


class Predictor(nn.Sequential):
    def __init__(self, cin: int, hidden: int, cout: int):
        super().__init__(
            nn.Conv2d(cin, hidden, 3, padding=1), nn.LeakyReLU(0.1),
            nn.Conv2d(hidden, hidden, 3, padding=1), nn.LeakyReLU(0.1),
            nn.Conv2d(hidden, cout, 1),
        )


def sigma_of(raw: torch.Tensor) -> torch.Tensor:
    """The float model's scale from its raw output (softplus, floored at SIGMA_MIN)."""
    return F.softplus(raw) + SIGMA_MIN


class MSPModel(nn.Module):
    """The float MSP model: what training optimises and LOF differentiates through. Files are coded
    with its integer version (exact.py), quantized from these weights."""

    def __init__(self, channels: int, num_scales: int, groups: int, hidden: int):
        super().__init__()
        if channels % groups:
            raise ValueError("channels must be divisible by groups")
        self.M, self.S, self.G = channels, num_scales, groups
        c = channels // groups
        self.C = c
        self.base_mu = nn.Parameter(torch.zeros(channels))
        self.base_sigma = nn.Parameter(torch.ones(channels) * 2.0)
        # Shared across scales; the scale index enters as a constant input plane.
        self.step_a = nn.ModuleList(Predictor(predictor_inputs(channels, groups, STEP_A, g), hidden, 2 * c)
                                    for g in range(groups))
        self.step_b = nn.ModuleList(Predictor(predictor_inputs(channels, groups, STEP_B, g), hidden, 4 * c)
                                    for g in range(groups))

    @property
    def num_steps(self) -> int:
        return 1 + 2 * self.S * self.G

    def _predict(self, step: int, g: int, s: int, ctx: list[torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        b, _, h, w = ctx[0].shape
        plane = torch.full((b, 1, h, w), s / self.S, device=ctx[0].device, dtype=ctx[0].dtype)
        net = self.step_a[g] if step == STEP_A else self.step_b[g]
        out = net(torch.cat(ctx + [plane], 1))
        halves = out.chunk(2 if step == STEP_A else 4, 1)
        return [(halves[i], sigma_of(halves[i + 1])) for i in range(0, len(halves), 2)]

    def run(self, shape: tuple[int, int, int, int], resolve: Resolve, target: torch.Tensor | None = None,
            on_scale: Callable[[int, torch.Tensor], None] | None = None) -> torch.Tensor:
        base = (self.base_mu, sigma_of(self.base_sigma))
        return walk(self.S, self.G, shape, base, self._predict, resolve, target, on_scale)


def gaussian_likelihood(values: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """P(value) under a Gaussian discretized to unit bins around mu (fp32, stable in the tails)."""
    v = (values - mu).abs()
    k = 1.0 / (sigma * math.sqrt(2.0))
    upper = 0.5 * torch.erfc((v - 0.5) * k)
    lower = 0.5 * torch.erfc((v + 0.5) * k)
    return (upper - lower).clamp_min(1e-9)
