"""Widen a trained model's synthesis transform in place, so that training goes on instead of restarting.

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


def widen_synthesis(model: MSPCodecModel, width: int) -> MSPCodecModel:
    old_width = model.config.synthesis_width
    if width < old_width:
        raise ValueError(f"cannot narrow the synthesis from {old_width} to {width} channels")
    wide = MSPCodecModel(dataclasses.replace(model.config, Ns=width))
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("g_s.")}
    wide.load_state_dict(state, strict=False)
    with torch.no_grad():
        for old, new in zip(model.g_s, wide.g_s):
            if isinstance(old, nn.ConvTranspose2d):  # weight: (in, out, k, k)
                cin, cout = old.weight.shape[:2]
                new.weight[:, cout:] = 0
                new.bias[cout:] = 0
                new.weight[:cin, :cout] = old.weight
                new.bias[:cout] = old.bias
            elif isinstance(old, SimplifiedGDN):
                c = old.beta_sqrt.shape[0]
                new.beta_sqrt[:c] = old.beta_sqrt
                new.gamma_sqrt[:c, :] = 0
                new.gamma_sqrt[:, :c] = 0
                new.gamma_sqrt[:c, :c] = old.gamma_sqrt
    return wide.train(model.training)
