"""Progressive previews: a small decoder from the scales read so far to a picture.

The synthesis was trained on complete latents and renders one whose finer positions are only
predicted (their means) poorly, at the cost of a full decode per preview. The preview decoder starts
from what a prefix of the file holds, the latent of scale s (every 2^s-th latent position, on its own
grid), lifts it to the latent grid (s pixel-shuffle stages) and renders the picture with a thin
pixel-shuffle decoder (width, width/2, width/3 channels at 1/16, 1/8, 1/4 of the image; each 4x4 block
of pixels from one 1/4-resolution position): no layer at full or half resolution, no MSP fill. Trained apart, with the codec frozen
(mspview.train.preview); a weights file without it previews through the synthesis.
"""
from __future__ import annotations

from itertools import chain

import torch
from torch import nn

from .transforms import channels_last, row_bands, to_picture, with_halo

# The render's receptive field reaches 2.75 latent rows (two 3x3 layers on the latent grid, one on each
# finer grid); three rows of context keep bands exact.
RENDER_HALO = 3
OUTPUTS = 3 * 4 * 4  # RGB of the 4x4 pixels each 1/4-resolution position renders (pixel shuffle by 4)


def _up(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, 4 * cout, 3, padding=1), nn.PixelShuffle(2), nn.LeakyReLU(0.1)]


class PreviewDecoder(nn.Module):
    def __init__(self, channels: int, num_scales: int, width: int):
        super().__init__()
        self.lift = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels, width, 3, padding=1), nn.LeakyReLU(0.1),
                          *chain.from_iterable(_up(width, width) for _ in range(s)))
            for s in range(1, num_scales + 1))
        w2, w3 = width // 2, width // 3
        self.render = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1), nn.LeakyReLU(0.1),
            *_up(width, w2), *_up(w2, w3),
            nn.Conv2d(w3, OUTPUTS, 3, padding=1), nn.PixelShuffle(4))

    def forward(self, y_s: torch.Tensor, scale: int) -> torch.Tensor:
        """y_s: the latent of scale `scale` (1 .. S), divided by the rate's gain as the synthesis gets
        it -> the picture (N x 3 x 16*2^s*rows x 16*2^s*cols, about [0, 1]; crop to the image)."""
        return self.render(self.lift[scale - 1](y_s))

    def decode_bands(self, y_s: torch.Tensor, scale: int, bf16: bool = False, budget: int | None = None):
        """Inference band by band over the latent grid (the render holds the big activations), channels-
        last, in bf16 where asked: yields (first output row, rows x W x 3 uint8)."""
        with torch.autocast(y_s.device.type, dtype=torch.bfloat16, enabled=bf16):
            x = self.lift[scale - 1](channels_last(y_s))
            rows, width = x.shape[-2:]
            per_row = 4 * 4 * width * (self.render[-2].in_channels + OUTPUTS) * 4  # fp32 bytes at 1/4 resolution
            for a, b in row_bands(rows, per_row, budget):
                a0, b0 = with_halo(a, b, rows, RENDER_HALO)
                out = self.render(x[..., a0:b0, :])[..., 16 * (a - a0): 16 * (b - a0), :]
                yield 16 * a, to_picture(out.float())
