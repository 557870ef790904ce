"""Widen a trained model in place (transforms or latent), so that training goes on instead of restarting.

Transforms: a new channel reads its inputs through the layer's usual random init, and every weight out
of it into a trained channel starts at 0, so the widened model computes what the trained one did (up to
the GDN's cross-channel seed, 1e-6). The zero outgoing weights get a gradient at once (new feature x
error), then the incoming ones follow. Session 7 measured the opposite start (zero in, random out) on an
H100: after 6,000 steps the new channels' weights were still ~300x smaller than the trained ones, a
stable silence, since any output of theirs only perturbed the trained channels through random weights.
The latent (`widen_latent`) still starts silent: a new latent channel that carried anything would cost
bits at once. Session 7 saw its new channels stay silent too.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ..codec.model import MSPCodecModel
from ..codec.transforms import ResidualBlock, SimplifiedGDN


def _copy_layer(old: nn.Module, new: nn.Module) -> None:
    if isinstance(old, (nn.Conv2d, nn.ConvTranspose2d)):
        transposed = isinstance(old, nn.ConvTranspose2d)  # weight (in, out, k, k), else (out, in, k, k)
        w_old = old.weight.transpose(0, 1) if transposed else old.weight
        w_new = new.weight.transpose(0, 1) if transposed else new.weight  # a view: writes go through
        cout, cin = w_old.shape[:2]
        w_new[:cout] = 0  # trained outputs read nothing from the new inputs ...
        w_new[:cout, :cin] = w_old  # ... and what they read before
        new.bias[:cout] = old.bias
    elif isinstance(old, SimplifiedGDN):
        c = old.beta_sqrt.shape[0]
        new.beta_sqrt[:c] = old.beta_sqrt
        new.gamma_sqrt[:c, :c] = old.gamma_sqrt


def widen(model: MSPCodecModel, analysis: int | None = None, synthesis: int | None = None) -> MSPCodecModel:
    """A copy of `model` with the analysis (N) and/or synthesis (Ns) transform widened."""
    cfg = model.config
    if cfg.res:
        raise ValueError("widen the transforms before adding residual blocks, not after")
    analysis = analysis or cfg.N
    synthesis = synthesis or cfg.synthesis_width
    for name, old, new in (("analysis", cfg.N, analysis), ("synthesis", cfg.synthesis_width, synthesis)):
        if new < old:
            raise ValueError(f"cannot narrow the {name} from {old} to {new} channels")
    wide = MSPCodecModel(dataclasses.replace(cfg, N=analysis, Ns=synthesis if synthesis != analysis else None))
    state = {k: v for k, v in model.state_dict().items() if not k.startswith(("g_a.", "g_s."))}
    wide.load_state_dict(state, strict=False)
    with torch.no_grad():
        for old_t, new_t in ((model.g_a, wide.g_a), (model.g_s, wide.g_s)):
            for old, new in zip(old_t, new_t):
                _copy_layer(old, new)
    return wide.train(model.training)


def add_residual(model: MSPCodecModel, res: int) -> MSPCodecModel:
    """A copy of `model` with `res` residual blocks at each of the synthesis' low-resolution stages; the
    blocks start as the identity (their last convolution at 0), so the copy computes what `model` did."""
    if res <= model.config.res:
        raise ValueError(f"the synthesis already has {model.config.res} residual blocks a stage")
    deep = MSPCodecModel(dataclasses.replace(model.config, res=res))
    deep.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("g_s.")}, strict=False)
    old_layers = [layer for layer in model.g_s if not isinstance(layer, ResidualBlock)]
    new_layers = [layer for layer in deep.g_s if not isinstance(layer, ResidualBlock)]
    old_blocks = [layer for layer in model.g_s if isinstance(layer, ResidualBlock)]
    new_blocks = [layer for layer in deep.g_s if isinstance(layer, ResidualBlock)]
    with torch.no_grad():
        for old, new in zip(old_layers, new_layers):
            new.load_state_dict(old.state_dict())
        per_stage_old, per_stage_new = model.config.res, res
        for i, old in enumerate(old_blocks):  # a stage's trained blocks first, the new ones after them
            new_blocks[(i // per_stage_old) * per_stage_new + i % per_stage_old].load_state_dict(old.state_dict())
    return deep.train(model.training)


NEW_SIGMA = 0.16  # predicted scale of a new latent channel: its zeros cost ~0.003 bits each


def _latent_map(old_m: int, new_m: int, groups: int, count: int | None = None) -> torch.Tensor:
    """New index of each old latent channel: channel j of group g keeps its place within the group."""
    c, c2 = old_m // groups, new_m // groups
    return torch.tensor([(k // c) * c2 + k % c for k in range(old_m if count is None else count)], dtype=torch.long)


def _predictor_maps(old_m: int, new_m: int, groups: int, g: int, step_b: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Where the input and output channels of group g's predictor went (see MSPModel.run for the layout:
    A: [cur | p11 of groups < g | plane] -> [mu | raw]; B: [cur | p11 | p01 < g | p10 < g | plane] -> [mu01 | raw01 | mu10 | raw10])."""
    c, c2 = old_m // groups, new_m // groups
    whole = _latent_map(old_m, new_m, groups)
    done = _latent_map(old_m, new_m, groups, g * c)
    blocks = [(whole, new_m), (done, g * c2)] if not step_b else [(whole, new_m), (whole, new_m), (done, g * c2), (done, g * c2)]
    ins, base = [], 0
    for index, width in blocks:
        ins.append(index + base)
        base += width
    ins.append(torch.tensor([base]))  # the scale plane
    outs = torch.cat([torch.arange(c) + i * c2 for i in range(4 if step_b else 2)])
    return torch.cat(ins), outs


def widen_latent(model: MSPCodecModel, channels: int) -> MSPCodecModel:
    """A copy of `model` with M latent channels, new ones silent: the analysis gives them zeros, the MSP
    model predicts 0 with a small scale, the synthesis weights out of them are random (they see zeros)."""
    cfg = model.config
    if channels < cfg.M:
        raise ValueError(f"cannot narrow the latent from {cfg.M} to {channels} channels")
    if channels % cfg.groups:
        raise ValueError(f"latent channels must be a multiple of the {cfg.groups} channel groups")
    wide = MSPCodecModel(dataclasses.replace(cfg, M=channels))
    new_state = wide.state_dict()
    wide.load_state_dict({k: v for k, v in model.state_dict().items() if v.shape == new_state[k].shape}, strict=False)
    keep = _latent_map(cfg.M, channels, cfg.groups)
    raw_sigma = torch.log(torch.expm1(torch.tensor(NEW_SIGMA - 0.11)))  # inverse of msp.sigma_of
    with torch.no_grad():
        old_a, new_a = model.g_a[-1], wide.g_a[-1]
        new_a.weight.zero_()
        new_a.bias.zero_()
        new_a.weight[keep] = old_a.weight
        new_a.bias[keep] = old_a.bias
        wide.g_s[0].weight[keep] = model.g_s[0].weight  # (in, out, k, k)
        for name in ("log_gain", "log_inv_gain"):
            old_t, new_t = getattr(model.gain, name), getattr(wide.gain, name)
            new_t.copy_(old_t.mean(1, keepdim=True).expand_as(new_t))
            new_t[:, keep] = old_t
        wide.msp.base_mu.zero_()
        wide.msp.base_mu[keep] = model.msp.base_mu
        wide.msp.base_sigma.fill_(raw_sigma)
        wide.msp.base_sigma[keep] = model.msp.base_sigma
        for step_b, olds, news in ((False, model.msp.step_a, wide.msp.step_a), (True, model.msp.step_b, wide.msp.step_b)):
            for g, (old, new) in enumerate(zip(olds, news)):
                ins, outs = _predictor_maps(cfg.M, channels, cfg.groups, g, step_b)
                new[0].weight.zero_()
                new[0].weight[:, ins] = old[0].weight
                new[-1].weight.zero_()
                new[-1].weight[outs] = old[-1].weight
                c2 = channels // cfg.groups
                fill = torch.zeros(new[-1].bias.shape)
                for part in range(1 if not step_b else 2):  # raw-scale halves: a small scale
                    fill[(2 * part + 1) * c2:(2 * part + 2) * c2] = raw_sigma
                new[-1].bias.copy_(fill)
                new[-1].bias[outs] = old[-1].bias
    return wide.train(model.training)
