"""Gain units (Cui et al., CVPR 2021): one model, a continuous rate control.

One positive gain vector per trained lambda scales the latent before quantization, an inverse gain
vector undoes it after. Between trained lambdas both are interpolated log-linearly in log(lambda).
"""
from __future__ import annotations

import math

import torch
from torch import nn


class GainUnits(nn.Module):
    def __init__(self, channels: int, lambdas: list[float]):
        super().__init__()
        if sorted(lambdas) != list(lambdas) or len(set(lambdas)) != len(lambdas):
            raise ValueError("lambdas must be strictly increasing")
        self.lambdas = list(lambdas)
        mid = math.sqrt(lambdas[0] * lambdas[-1])
        # Higher lambda -> finer quantization: start from gain ~ sqrt(lambda / mid).
        init = torch.tensor([0.5 * math.log(l / mid) for l in lambdas]).unsqueeze(1).repeat(1, channels)
        self.log_gain = nn.Parameter(init.clone())
        self.log_inv_gain = nn.Parameter(-init.clone())

    def lambda_range(self) -> tuple[float, float]:
        return self.lambdas[0], self.lambdas[-1]

    def _weights(self, lam: float) -> tuple[int, int, float]:
        """Interpolation between the trained lambdas around `lam` (validated by rate.rate_point)."""
        lo, hi = self.lambda_range()
        t = math.log(min(max(lam, lo), hi))
        for i in range(len(self.lambdas) - 1):
            a, b = math.log(self.lambdas[i]), math.log(self.lambdas[i + 1])
            if t <= b:
                return i, i + 1, (t - a) / (b - a)
        return len(self.lambdas) - 1, len(self.lambdas) - 1, 0.0

    def _interp(self, table: torch.Tensor, lam: float) -> torch.Tensor:
        i, j, a = self._weights(lam)
        return torch.exp((1 - a) * table[i] + a * table[j]).view(1, -1, 1, 1)

    def gain(self, lam: float) -> torch.Tensor:
        return self._interp(self.log_gain, lam)

    def inverse_gain(self, lam: float) -> torch.Tensor:
        return self._interp(self.log_inv_gain, lam)

    def gain_at(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gains for a batch of trained-lambda indices (training)."""
        return (torch.exp(self.log_gain[index]).unsqueeze(-1).unsqueeze(-1),
                torch.exp(self.log_inv_gain[index]).unsqueeze(-1).unsqueeze(-1))
