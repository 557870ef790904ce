"""What the MSP's sampling lets a preview show at best: after k of 4 scales a file holds every 2^s-th
latent position (s = 4 - k), i.e. 16x16 blocks of the image 16*2^s pixels apart. An oracle that knows
those blocks exactly (the original's pixels) and interpolates everything else from their means
(bicubic on the block grid) bounds what any decoder that renders the known blocks and guesses the rest
can do; beside it, the WebP thumbnail of benchmarks/progressive.py averages the whole image instead.

    python benchmarks/preview_oracle.py [--limit N]
"""
from __future__ import annotations

import argparse
import statistics
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from mspview.eval.metrics import psnr
from mspview.resources import KODAK

NUM_SCALES = 3  # the shipped model's S: previews after 1, 2, 3 of its 4 scales


def oracle(rgb: np.ndarray, s: int) -> tuple[float, float]:
    """PSNR of (the known blocks' means interpolated, the same with the known blocks exact)."""
    h, w = rgb.shape[:2]
    x = torch.from_numpy(np.array(rgb, dtype=np.float32)).permute(2, 0, 1)[None]
    step = 16 * 2 ** s
    known = F.avg_pool2d(x, 16)[..., :: 2 ** s, :: 2 ** s]
    hk, wk = known.shape[-2:]
    # block centres sit at step * i + 8: sample the known grid there, bicubic, edges held
    gy = ((torch.arange(h) + 0.5 - 8) / step) / max(hk - 1, 1) * 2 - 1
    gx = ((torch.arange(w) + 0.5 - 8) / step) / max(wk - 1, 1) * 2 - 1
    grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], -1)[None]
    means = F.grid_sample(known, grid, mode="bicubic", padding_mode="border", align_corners=True)
    exact = means.clone()
    for i in range(0, h, step):
        for j in range(0, w, step):
            exact[..., i:i + 16, j:j + 16] = x[..., i:i + 16, j:j + 16]

    def u8(t: torch.Tensor) -> np.ndarray:
        return t[0].permute(1, 2, 0).clamp(0, 255).round().to(torch.uint8).numpy()

    return psnr(u8(means), rgb), psnr(u8(exact), rgb)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=None)
    args = p.parse_args()
    files = sorted(KODAK.glob("*.png"))[: args.limit]
    rows: dict[int, list[tuple[float, float]]] = {s: [] for s in range(1, NUM_SCALES + 1)}
    for f in files:
        with Image.open(f) as im:
            rgb = np.asarray(im.convert("RGB"))
        for s in rows:
            rows[s].append(oracle(rgb, s))
    print(f"{len(files)} Kodak images; the known 16x16 blocks from the original")
    print(f"{'scales':>7} {'blocks apart (px)':>18} {'means interpolated':>19} {'known blocks exact':>19}")
    for s in sorted(rows, reverse=True):
        a, b = (statistics.mean(r[i] for r in rows[s]) for i in (0, 1))
        print(f"{NUM_SCALES + 1 - s} of {NUM_SCALES + 1} {16 * 2 ** s:>18} {a:>16.2f} dB {b:>16.2f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
