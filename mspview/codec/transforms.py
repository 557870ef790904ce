"""Analysis and synthesis transforms (Ballé et al. 2018 layout, 4 stride-2 stages = x16)."""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


class SimplifiedGDN(nn.Module):
    """GDN with an L1 norm and no square root (Johnston et al. 2019): y = x / (beta + gamma * |x|).

    As good as full GDN for compression and cheaper per training step, which is what counts on a CPU.
    Parameters are stored as square roots so that beta and gamma stay non-negative.
    """

    def __init__(self, channels: int, inverse: bool = False, gamma_init: float = 0.1):
        super().__init__()
        self.inverse = inverse
        self.beta_sqrt = nn.Parameter(torch.ones(channels))
        self.gamma_sqrt = nn.Parameter(torch.eye(channels) * gamma_init ** 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta = self.beta_sqrt.square() + 1e-6
        gamma = self.gamma_sqrt.square()
        c = gamma.shape[0]
        norm = F.conv2d(x.abs(), gamma.view(c, c, 1, 1).to(x.dtype), beta.to(x.dtype))
        return x * norm if self.inverse else x / norm


def _conv(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 5, stride=2, padding=2)


def _deconv(cin: int, cout: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, 5, stride=2, padding=2, output_padding=1)


class AnalysisTransform(nn.Sequential):
    def __init__(self, n: int, m: int):
        super().__init__(
            _conv(3, n), SimplifiedGDN(n),
            _conv(n, n), SimplifiedGDN(n),
            _conv(n, n), SimplifiedGDN(n),
            _conv(n, m),
        )


class SynthesisTransform(nn.Sequential):
    def __init__(self, n: int, m: int):
        super().__init__(
            _deconv(m, n), SimplifiedGDN(n, inverse=True),
            _deconv(n, n), SimplifiedGDN(n, inverse=True),
            _deconv(n, n), SimplifiedGDN(n, inverse=True),
            _deconv(n, 3),
        )
