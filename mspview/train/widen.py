"""Widen a trained model's transforms in place, so that training goes on instead of restarting.

The new channels start silent: weights into a new channel are zero, so it outputs 0 and the widened
model computes exactly what the trained one did. Weights out of a new channel get the layer's usual
random init; they see zeros at first, but they carry the gradient back, so the new channels learn.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ..codec.model import MSPCodecModel
from ..codec.transforms import SimplifiedGDN


def _copy_layer(old: nn.Module, new: nn.Module) -> None:
    if isinstance(old, (nn.Conv2d, nn.ConvTranspose2d)):
        transposed = isinstance(old, nn.ConvTranspose2d)  # weight (in, out, k, k), else (out, in, k, k)
        w_old = old.weight.transpose(0, 1) if transposed else old.weight
        w_new = new.weight.transpose(0, 1) if transposed else new.weight  # a view: writes go through
        cout, cin = w_old.shape[:2]
        w_new[cout:] = 0
        new.bias[cout:] = 0
        w_new[:cout, :cin] = w_old
        new.bias[:cout] = old.bias
    elif isinstance(old, SimplifiedGDN):
        c = old.beta_sqrt.shape[0]
        new.beta_sqrt[:c] = old.beta_sqrt
        new.gamma_sqrt[:c, :] = 0
        new.gamma_sqrt[:, :c] = 0
        new.gamma_sqrt[:c, :c] = old.gamma_sqrt


def widen(model: MSPCodecModel, analysis: int | None = None, synthesis: int | None = None) -> MSPCodecModel:
    """A copy of `model` with the analysis (N) and/or synthesis (Ns) transform widened."""
    cfg = model.config
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
