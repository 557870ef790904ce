"""The export-time half of the exact entropy path: quantizing the float MSP model into its integer twin
(exact.ExactMSP) from activation ranges measured on calibration latents. A decoder never runs this; it
runs on `mspview export`, `train --export` and `save_weights(..., calibration=...)` (Cool-chic keeps its
integer conversion beside each layer; CompressAI keeps `update()` apart from compress/decompress)."""
from __future__ import annotations

import torch
from torch import nn

import numpy as np

from .cdf_tables import SIGMA_LEVELS
from .entropy import bits_table, level_boundaries, quantize, sigma_index
from .exact import (ACT_MAX, BIAS_LIMIT, IN_MULT_BITS, LEAK, MU_FRAC_BITS, MU_LIMIT, MULT_BITS, ExactMSP,
                    IntLayer, fingerprint, to_float)
from .msp import SIGMA_MIN, STEP_A, STEP_B, sigma_of

RANGE_HEADROOM = 2.0  # activation ranges: twice the largest value seen in calibration
THRESHOLD_LIMIT = 2 ** 52  # a sigma threshold every accumulator reaches (-) or none does (+)


def multiplier(ratio: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(m, shift) with m / 2^shift ~ ratio > 0 and m in [2^(bits-1), 2^bits)."""
    ratio = ratio.double().clamp_min(1e-30)
    shift = (bits - 1 - torch.floor(torch.log2(ratio))).to(torch.int64).clamp(1, 200)
    m = torch.round(ratio * torch.pow(2.0, shift.double())).to(torch.int64)
    full = m >= 2 ** bits  # rounding reached 2^bits: one bit less of shift
    return torch.where(full, m // 2, m), torch.where(full, shift - 1, shift)


# ----------------------------------------------------------------------------------------- layers


def _quantize_weight(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per output channel (rows of w: cout x k): 15-bit integers and their scale."""
    scale = w.abs().amax(1).clamp_min(1e-12) / ACT_MAX
    return torch.round(w / scale[:, None]).clamp(-ACT_MAX, ACT_MAX).to(torch.int16), scale


def _fill_layer(layer: IntLayer, conv: nn.Conv2d, in_scale: torch.Tensor, out_scale: torch.Tensor | None) -> torch.Tensor:
    """Quantize a float conv whose inputs carry per-channel scales `in_scale` (folded into the weights).
    Returns the accumulator's per-channel scale (real value = accumulator * scale)."""
    w = conv.weight.detach().double() * in_scale.view(1, -1, 1, 1)  # cout, cin, kh, kw
    cout = w.shape[0]
    q, sw = _quantize_weight(w.permute(0, 2, 3, 1).reshape(cout, -1))  # tap-major, as im2col lays them
    sw = sw * 256  # the product is (a . w - a_lo . w_lo) / 256
    layer.weight.copy_(q.t())
    layer.bias.copy_(torch.round(conv.bias.detach().double() / sw).clamp(-BIAS_LIMIT, BIAS_LIMIT).to(torch.int64))
    if out_scale is not None:
        m, sh = multiplier(sw / out_scale, MULT_BITS)
        layer.mult_pos.copy_(m)
        layer.mult_neg.copy_(torch.round(m.double() * LEAK).to(torch.int64))
        layer.shift.copy_(sh)
    return sw


def _raw_boundaries() -> torch.Tensor:
    """The float model's raw output at each boundary between sigma levels (inverse of sigma_of)."""
    b = torch.from_numpy(level_boundaries()).double() - SIGMA_MIN
    return torch.log(torch.expm1(b))


@torch.no_grad()
def quantize_from_float(float_msp, exact: ExactMSP, ranges: dict) -> None:
    """Fill `exact` from the float model and the activation ranges of `calibration_ranges`."""
    fx = 1 << MU_FRAC_BITS
    in_range = RANGE_HEADROOM * ranges["latent"].double().clamp_min(1e-3)
    a, sh = multiplier(ACT_MAX / (in_range * fx), IN_MULT_BITS)  # y_hat_fx -> 15-bit input
    exact.in_mult.copy_(a)
    exact.in_shift.copy_(sh)
    latent_scale = torch.pow(2.0, sh.double()) / (a.double() * fx)  # the input scale the integers carry
    exact.base_mu.copy_(torch.round(float_msp.base_mu.detach().double() * fx).clamp(-MU_LIMIT, MU_LIMIT).to(torch.int64))
    exact.base_index.copy_(sigma_index(sigma_of(float_msp.base_sigma.detach().float())))
    exact.base_levels.copy_(exact.base_index.expand_as(exact.base_levels))  # until calibrate_base
    bounds = _raw_boundaries()
    for step, nets, ints in ((STEP_A, float_msp.step_a, exact.step_a), (STEP_B, float_msp.step_b, exact.step_b)):
        for g, (net, q) in enumerate(zip(nets, ints)):
            key = (step, g)
            in_scale = torch.cat([latent_scale[exact.input_channels(step, g)],
                                  torch.tensor([1.0 / (exact.S * exact.plane_unit())], dtype=torch.float64)])
            h1, h2 = (RANGE_HEADROOM * ranges[name][key].double().clamp_min(1e-6) / ACT_MAX
                      for name in ("hidden1", "hidden2"))
            conv1, conv2, conv3 = predictor_layers(net)[0]
            _fill_layer(q.l1, conv1, in_scale, h1)
            _fill_layer(q.l2, conv2, h1, h2)
            s3 = _fill_layer(q.l3, conv3, h2, None).view(q.parts, 2, q.c)
            mu_scale, raw_scale = s3[:, 0].reshape(-1), s3[:, 1].reshape(-1)
            m, sh = multiplier(mu_scale * fx, MULT_BITS)
            q.mu_mult.copy_(m)
            q.mu_shift.copy_(sh)
            # raw >= boundary  <=>  accumulator * raw_scale >= boundary
            t = torch.ceil(bounds.view(1, -1) / raw_scale.view(-1, 1)).clamp(-THRESHOLD_LIMIT, THRESHOLD_LIMIT)
            q.thresholds.copy_(t.to(torch.int64))
    exact.source.copy_(fingerprint(float_msp))
    exact.ready.fill_(1)


def predictor_layers(net: nn.Module) -> tuple[list[nn.Conv2d], list[nn.LeakyReLU]]:
    """The float predictor's convolutions and activations, read from its structure (3x3 conv, LeakyReLU,
    3x3 conv, LeakyReLU, 1x1 conv: what IntPredictor computes), or a clear error where the float model
    has changed shape, so that the integer twin can never silently follow other layers."""
    kinds = [type(m) for m in net.children()]
    want = [nn.Conv2d, nn.LeakyReLU, nn.Conv2d, nn.LeakyReLU, nn.Conv2d]
    convs = [m for m in net.children() if isinstance(m, nn.Conv2d)]
    acts = [m for m in net.children() if isinstance(m, nn.LeakyReLU)]
    if kinds != want or [c.kernel_size for c in convs] != [(3, 3), (3, 3), (1, 1)]:
        raise ValueError(f"the integer MSP model computes conv3x3-LeakyReLU-conv3x3-LeakyReLU-conv1x1, "
                         f"not {[k.__name__ for k in kinds]}: update exact.IntPredictor with the float model")
    if any(a.negative_slope != LEAK for a in acts):
        raise ValueError(f"the integer MSP model folds a LeakyReLU slope of {LEAK}, not "
                         f"{[a.negative_slope for a in acts]}")
    return convs, acts


@torch.no_grad()
def calibration_ranges(float_msp, latents: list[torch.Tensor]) -> dict:
    """Activation ranges of the float model on calibration latents (gained y, any sizes): per latent
    channel the largest |y_hat| the predictors see, per predictor and hidden channel the largest
    |activation| after each LeakyReLU (RANGE_HEADROOM above them, larger values saturate)."""
    hidden: dict = {"hidden1": {}, "hidden2": {}}
    hooks = []
    for step, nets in ((STEP_A, float_msp.step_a), (STEP_B, float_msp.step_b)):
        for g, net in enumerate(nets):
            for name, act in zip(("hidden1", "hidden2"), predictor_layers(net)[1]):
                def hook(_m, _i, out, store=hidden[name].setdefault((step, g), [])):
                    store.append(out.detach().abs().transpose(0, 1).reshape(out.shape[1], -1))
                hooks.append(act.register_forward_hook(hook))

    def resolve(_key, parts):  # as the encoder quantizes: y_hat = round(y - mu) + mu
        return [torch.round(target - mu) + mu for mu, _sigma, target in parts]

    latent = []
    try:
        for y in latents:
            y_hat = float_msp.run(tuple(y.shape), resolve, target=y)
            latent.append(y_hat.abs().transpose(0, 1).reshape(y_hat.shape[1], -1))
    finally:
        for h in hooks:
            h.remove()

    def q(chunks: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack([c.amax(1) for c in chunks]).amax(0).float()

    return {"latent": q(latent), "hidden1": {k: q(v) for k, v in hidden["hidden1"].items()},
            "hidden2": {k: q(v) for k, v in hidden["hidden2"].items()}}


# ----------------------------------------------------------------------------------------- sigma levels
# The float model learns its sigmas against noisy residuals (training's rate proxy) while files code
# rounded ones: at the smallest sigmas it is far too sure of a zero (each rare nonzero symbol costs 15-20
# bits), at the largest a little unsure. Each predictor's levels are recalibrated on the symbols the
# encoder codes with it: a monotone map from each level to the level whose table codes its symbols in
# the fewest bits, folded into its thresholds, so that decoding and the format stay as they are. The
# base has one float sigma per channel for every lambda, while the gained latent's spread grows with
# lambda: its levels are fitted per trained lambda instead (`calibrate_base`).


@torch.no_grad()
def level_counts(exact: ExactMSP, latents: list[torch.Tensor]) -> dict[tuple[int, int], np.ndarray]:
    """Per predictor (step, group): how often the encoder codes each symbol at each sigma level for these
    latents (gained y), SIGMA_LEVELS x the code-length table's symbols (`entropy.bits_table`), symbols
    beyond the table at its ends."""
    offset, table = bits_table()
    counts: dict[tuple[int, int], np.ndarray] = {}

    def resolve(key, parts):  # as coder.quantize_latent
        out = []
        for mu_fx, idx, target in parts:
            sym = quantize(target - to_float(mu_fx)).to(torch.int64)
            if key.step != 0:
                col = sym.clamp(-offset, offset).flatten().cpu().numpy() + offset
                n = counts.setdefault((key.step, key.group), np.zeros(table.shape, np.int64))
                np.add.at(n, (idx.flatten().cpu().numpy().astype(np.int64), col), 1)
            out.append((sym << MU_FRAC_BITS) + mu_fx)
        return out

    for y in latents:
        exact.run(tuple(y.shape), resolve, target=y)
    return counts


def level_map(counts: np.ndarray) -> np.ndarray:
    """The monotone map of sigma levels (level -> level) that codes the counted symbols in the fewest
    bits under the coder's tables; levels never seen keep their own where monotonicity allows."""
    _, table = bits_table()
    cost = counts.astype(np.float64) @ table.T  # cost[i, j]: level i's symbols coded with level j's table
    n = SIGMA_LEVELS
    cost += 1e-6 * np.abs(np.arange(n)[:, None] - np.arange(n)[None, :])  # ties: the level itself
    best = cost[0].copy()  # best[j]: the cheapest map of levels 0..i with level i -> j
    choice = np.zeros((n, n), np.int64)  # choice[i, j]: where level i-1 goes then
    for i in range(1, n):
        arg = np.array([int(np.argmin(best[:j + 1])) for j in range(n)])
        best, choice[i] = cost[i] + best[arg], arg
    f = np.zeros(n, np.int64)
    f[-1] = int(np.argmin(best))
    for i in range(n - 1, 0, -1):
        f[i - 1] = choice[i, f[i]]
    return f


@torch.no_grad()
def apply_level_map(predictor, f: np.ndarray) -> None:
    """Fold a monotone level map into a predictor's thresholds: a raw output at level i gives level f[i]."""
    # level = how many thresholds the accumulator reaches; level L is now reached where the level before
    # the map is k = min{i: f[i] >= L}: at threshold k-1, everywhere for k = 0, nowhere where no f[i] >= L
    k = torch.searchsorted(torch.as_tensor(f, dtype=torch.int64), torch.arange(1, SIGMA_LEVELS))
    t = predictor.thresholds
    ends = torch.full((t.shape[0], 1), THRESHOLD_LIMIT, dtype=t.dtype, device=t.device)
    predictor.thresholds.copy_(torch.cat([-ends, t, ends], 1)[:, k.to(t.device)])


def recalibrate_levels(exact: ExactMSP, latents: list[torch.Tensor]) -> None:
    """Every predictor's sigma levels mapped as its symbols on these latents say (`level_map`)."""
    for (step, g), counts in level_counts(exact, latents).items():
        apply_level_map((exact.step_a if step == STEP_A else exact.step_b)[g], level_map(counts))


@torch.no_grad()
def calibrate_base(exact: ExactMSP, latents: list[torch.Tensor], gains) -> None:
    """The base's level per trained lambda (row) and channel: the one whose table codes the symbols of
    every position of these latents (ungained y; the base's positions are a sample of them) in the
    fewest bits, about the base's mean."""
    offset, table = bits_table()
    mu = to_float(exact.base_mu).view(1, -1, 1, 1)
    for row, lam in enumerate(gains.lambdas):
        g = gains.gain(lam).to(mu.device)
        sym = torch.cat([quantize(y * g - mu).transpose(0, 1).reshape(y.shape[1], -1) for y in latents], 1)
        col = sym.clamp(-offset, offset).to(torch.int64).cpu().numpy() + offset
        counts = np.stack([np.bincount(c, minlength=table.shape[1]) for c in col])  # channels x symbols
        exact.base_levels[row] = torch.from_numpy((counts @ table.T).argmin(1).astype(np.uint8))
