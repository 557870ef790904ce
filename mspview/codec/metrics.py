"""Distortion and cost, one formula each, for the codec (LOF), its training and the evaluation.

MSE is taken on 8-bit values (0..255); PSNR = 10 log10(255^2 / MSE), capped at PSNR_CAP for identical
images (so that curves and averages stay finite); the rate-distortion cost is the training loss,
J = bpp + lambda * MSE(8-bit) = bpp + lambda * 255^2 * MSE([0, 1]).
"""
from __future__ import annotations

import math

import numpy as np
import torch

PEAK = 255.0
PSNR_CAP = 100.0  # dB: the PSNR of identical images
_MSE_FLOOR = PEAK ** 2 * 10 ** (-PSNR_CAP / 10)


def mse_uint8(a: np.ndarray, b: np.ndarray) -> float:
    """Exact (integer sums), a band of rows at a time: no full-size float copies of large images."""
    total = 0
    for r in range(0, a.shape[0], 512):
        d = a[r: r + 512].astype(np.int32) - b[r: r + 512]
        total += int(np.square(d).sum(dtype=np.int64))
    return total / a.size


def psnr(mse: float | torch.Tensor) -> float | torch.Tensor:
    """PSNR in dB of an 8-bit MSE (a float, or a tensor: no device sync in training)."""
    if isinstance(mse, torch.Tensor):
        return 10 * torch.log10(PEAK ** 2 / mse.clamp_min(_MSE_FLOOR))
    return 10 * math.log10(PEAK ** 2 / max(mse, _MSE_FLOOR))


def psnr_uint8(a: np.ndarray, b: np.ndarray) -> float:
    return psnr(mse_uint8(a, b))


def rd_cost(bpp, mse: float | torch.Tensor, lam: float):
    """J = bpp + lambda * MSE, MSE on 8-bit values (the training loss; floats or tensors)."""
    return bpp + lam * mse
