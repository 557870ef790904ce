"""Analysis and synthesis transforms (Ballé et al. 2018 layout, 4 stride-2 stages = x16)."""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from .metrics import PEAK

# Inference runs the transforms on bands of latent rows, so memory stays bounded at any image size.
# A band carries BAND_HALO latent rows of context on each side: the receptive fields reach 30 pixels
# (g_a) and 1.9 latent rows (g_s), so banded results equal whole-image ones. BAND_BYTES bounds the
# largest activation of a band: Kodak and 1080p run as one band, a 4K image as two.
BAND_HALO = 2
BAND_BYTES = 512 * 2 ** 20


def row_bands(rows: int, bytes_per_row: int, budget: int | None = None) -> list[tuple[int, int]]:
    """Split `rows` latent rows into equal bands [a, b) whose largest activation fits `budget` bytes
    (default BAND_BYTES)."""
    per = max(1, (budget or BAND_BYTES) // max(1, bytes_per_row))
    count = -(-rows // per)
    size = -(-rows // count)
    return [(a, min(rows, a + size)) for a in range(0, rows, size)]


def with_halo(a: int, b: int, rows: int, halo: int = BAND_HALO) -> tuple[int, int]:
    return max(0, a - halo), min(rows, b + halo)


def activation_bytes_per_row(latent_width: int, channels: int) -> int:
    """fp32 bytes of a half-resolution activation per latent row (8 rows of 8x the latent width)."""
    return 8 * 8 * latent_width * channels * 4


class SimplifiedGDN(nn.Module):
    """GDN with an L1 norm and no square root (Johnston et al. 2019): y = x / (beta + gamma * |x|).

    As good as full GDN for compression and cheaper per training step, which is what counts on a CPU.
    Parameters are stored as square roots so that beta and gamma stay non-negative. An entry of
    gamma_sqrt at exactly 0 gets no gradient (d gamma / d gamma_sqrt = 2 gamma_sqrt), so the
    cross-channel entries start at CROSS_SEED, not 0. Weights trained before session 7 have them at 0
    (a per-channel normalisation that could never learn more); `seed_cross_terms` revives them.
    """

    CROSS_SEED = 1e-3  # gamma = 1e-6 across channels: no measurable change to the output, but a gradient

    def __init__(self, channels: int, inverse: bool = False, gamma_init: float = 0.1):
        super().__init__()
        self.inverse = inverse
        self.beta_sqrt = nn.Parameter(torch.ones(channels))
        eye = torch.eye(channels)
        self.gamma_sqrt = nn.Parameter(eye * gamma_init ** 0.5 + (1 - eye) * self.CROSS_SEED)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta = self.beta_sqrt.square() + 1e-6
        gamma = self.gamma_sqrt.square()
        c = gamma.shape[0]
        weight, bias = gamma.view(c, c, 1, 1).to(x.dtype), beta.to(x.dtype)
        if torch.is_grad_enabled():
            norm = F.conv2d(x.abs(), weight, bias)
            return x * norm if self.inverse else x / norm
        # Inference: normalise in place, a band of rows at a time, so that the peak holds one
        # full-size activation instead of three (x is always an intermediate of the transform).
        band = max(1, 2 ** 22 // (c * x.shape[0] * x.shape[-1]))
        for rows in torch.split(x, band, dim=-2):
            norm = F.conv2d(rows.abs(), weight, bias)
            rows.mul_(norm) if self.inverse else rows.div_(norm)
        return x


def seed_cross_terms(module: nn.Module) -> int:
    """Give every GDN gamma entry that sits at exactly 0 the seed value, so that it can learn; the count."""
    seeded = 0
    with torch.no_grad():
        for gdn in module.modules():
            if isinstance(gdn, SimplifiedGDN):
                dead = gdn.gamma_sqrt == 0
                gdn.gamma_sqrt[dead] = SimplifiedGDN.CROSS_SEED
                seeded += int(dead.sum())
    return seeded


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


class ResidualBlock(nn.Module):
    """x + conv3x3(leaky(conv3x3(x))) (ELIC's synthesis blocks). The second convolution starts at 0, so
    a block added to a trained synthesis starts as the identity and training goes on from there."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.leaky_relu(self.conv1(x), 0.01))


# Latent rows one residual block a stage adds to the synthesis' reach: two 3x3 convolutions at 1/16 and
# at 1/8 of the image (2 + 1 rows).
RES_HALO = 3


class SynthesisTransform(nn.Sequential):
    """Four 5x5 stride-2 transposed convolutions with inverse GDN; `res` residual blocks at each of the
    1/16 and 1/8 resolutions add capacity where a pixel costs 1/256 and 1/64 of a full-size one (a block
    pair adds 16 % to the synthesis' 36k MAC per pixel; one at 1/4 would add 51 %)."""

    def __init__(self, n: int, m: int, res: int):
        blocks = lambda c: [ResidualBlock(c) for _ in range(res)]  # noqa: E731
        super().__init__(
            *blocks(m),
            _deconv(m, n), SimplifiedGDN(n, inverse=True), *blocks(n),
            _deconv(n, n), SimplifiedGDN(n, inverse=True),
            _deconv(n, n), SimplifiedGDN(n, inverse=True),
            _deconv(n, 3),
        )
        self.width, self.halo = n, BAND_HALO + RES_HALO * res
        first = lambda kind: next(i for i, layer in enumerate(self) if isinstance(layer, kind))  # noqa: E731
        self.fp32_layers = range(first(nn.ConvTranspose2d), first(SimplifiedGDN) + 1)

    def decode(self, y: torch.Tensor, bf16: bool = False) -> torch.Tensor:
        """Inference: the picture of `y` as 8-bit levels (16h x 16w x 3 uint8), the same function as
        forward (then `to_levels`), 2x faster on the CPU at 2K: channels-last activations; the last layer,
        with only 3 outputs, as a sub-pixel convolution whose phases are rounded to levels at half
        resolution and interleaved as bytes. `bf16`: in bf16 (2x faster again where the CPU has AMX or
        AVX512-BF16) but for the first transposed convolution and inverse GDN (1/16 -> 1/8 resolution,
        1/20 of the time), where bf16 made most of the PSNR change; the last layer with its weights split
        and its output about mid-grey (`subpixel_levels_bf16`). README: the bound measured on Kodak."""
        x, dtype = channels_last(y), self[-1].weight.dtype  # float32 (float64 where that is the default)
        for i, layer in enumerate(list(self)[:-1]):
            if not bf16 or i in self.fp32_layers:
                x = layer(x.to(dtype))
            else:
                with torch.autocast(y.device.type, dtype=torch.bfloat16):
                    x = layer(x)
        if bf16:
            levels = subpixel_levels_bf16(self[-1], x.to(torch.bfloat16))
        else:
            levels = subpixel_phases(x, (self[-1].weight, self[-1].bias)) * PEAK
        return interleave(to_levels(levels))

    def decode_bands(self, y: torch.Tensor, budget: int | None = None,
                     bf16: bool = False) -> Iterator[tuple[int, torch.Tensor]]:
        """Inference band by band: yields (first output row, rows x W x 3 uint8) for consecutive bands."""
        rows = y.shape[-2]
        for a, b in row_bands(rows, activation_bytes_per_row(y.shape[-1], self.width), budget):
            a0, b0 = with_halo(a, b, rows, self.halo)
            yield 16 * a, self.decode(y[..., a0:b0, :], bf16)[16 * (a - a0): 16 * (b - a0)]


def pixels_tensor(px, device: torch.device | str = "cpu") -> torch.Tensor:
    """H x W x 3 uint8 -> 1 x 3 x H x W float in [0, 1]: every image's way into a network."""
    return torch.as_tensor(np.array(px, dtype=np.uint8, copy=True)).to(device).permute(2, 0, 1)[None].float() / 255.0


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """Channels-last activations make oneDNN's convolutions 1.5x faster here (inference only;
    measured no gain for training steps)."""
    return x.contiguous(memory_format=torch.channels_last)


def to_levels(x: torch.Tensor) -> torch.Tensor:
    """Pixel values in 8-bit levels (floats, overwritten) -> uint8, rounded and clamped: every picture's
    way out of a network."""
    return x.clamp_(0, PEAK).round_().to(torch.uint8)


def to_picture(x: torch.Tensor) -> torch.Tensor:
    """A network's output (1 x 3 x H x W, about [0, 1]) -> the picture, H x W x 3 uint8."""
    return to_levels(x[0] * PEAK).permute(1, 2, 0)


def subpixel_kernel(weight: torch.Tensor) -> torch.Tensor:
    """A 5x5 stride-2 transposed convolution's weight (padding 2, output padding 1; cin x cout x 5 x 5) as
    one 3x3 convolution's with 4 output phases (4*cout x cin x 3 x 3): output channel (2a + b) * cout + c
    makes output pixel (2i + a, 2j + b) of channel c (`interleave`), from input[i+d] through tap
    a + 2 - 2d of the kernel, d in {-1, 0, 1}."""
    cin, cout = weight.shape[:2]
    w = weight.new_zeros(2, 2, cout, cin, 3, 3)
    for a in range(2):
        for b in range(2):
            for i, d in enumerate((-1, 0, 1)):
                for j, e in enumerate((-1, 0, 1)):
                    ka, kb = a + 2 - 2 * d, b + 2 - 2 * e
                    if ka < 5 and kb < 5:
                        w[a, b, :, :, i, j] = weight[:, :, ka, kb].t()
    return w.view(4 * cout, cin, 3, 3)


def subpixel_phases(x: torch.Tensor, *layers: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """The transposed convolutions of the (weight, bias) `layers` as their 4 output phases each, side by
    side (1 x 4*cout*len(layers) x h x w), in one convolution."""
    return F.conv2d(x, torch.cat([subpixel_kernel(w) for w, _ in layers]), torch.cat([b.repeat(4) for _, b in layers]),
                    padding=1)


def interleave(phases: torch.Tensor) -> torch.Tensor:
    """`subpixel_phases`' layout (1 x 4c x h x w, any memory format) -> the picture, 2h x 2w x c (a copy
    in the phases' type: done on bytes it moves a quarter of what a float pixel shuffle moves)."""
    _, c4, h, w = phases.shape
    c = c4 // 4
    return phases[0].permute(1, 2, 0).reshape(h, w, 2, 2, c).permute(0, 2, 1, 3, 4).reshape(2 * h, 2 * w, c)


MID_GREY = PEAK / 2  # the bf16 last layer's output is in 8-bit levels about this


def subpixel_levels_bf16(layer: nn.ConvTranspose2d, x: torch.Tensor) -> torch.Tensor:
    """The last layer on bf16 activations, in bf16 (2.4x faster at 2K than casting them to fp32 for it),
    as its phases (`subpixel_phases`) in 8-bit levels, fp32, within a quarter of a level of fp32: its
    weights are split into a bf16 high part and the bf16 remainder, computed as extra outputs and added
    in fp32 (so weight rounding cancels), and it outputs levels about mid-grey, where bf16's rounding
    step is at most half a level."""
    w, b = layer.weight.float() * PEAK, layer.bias.float() * PEAK - MID_GREY
    w_hi, b_hi = w.to(torch.bfloat16), b.to(torch.bfloat16)
    w_lo, b_lo = (w - w_hi.float()).to(torch.bfloat16), (b - b_hi.float()).to(torch.bfloat16)
    cout = layer.weight.shape[1]
    phases = subpixel_phases(x, (w_hi, b_hi), (w_lo, b_lo))
    hi, lo = phases[:, :4 * cout], phases[:, 4 * cout:]  # the phases of the high and the low weights
    return hi.float().add_(lo).add_(MID_GREY)
