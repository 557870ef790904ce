"""What the MSP's sampling lets a preview show at best: after k of 4 scales a file holds every 2^s-th
latent position (s = 4 - k), i.e. 16x16 blocks of the image 16*2^s pixels apart. An oracle that knows
those blocks exactly (the original's pixels) and interpolates everything else from their means
(bicubic on the block grid) bounds what any decoder that renders the known blocks and guesses the rest
can do; beside it, the WebP thumbnail of benchmarks/progressive.py averages the whole image instead.
With --latent, the other oracle: scales that summarise their regions, i.e. the shipped model's latent
(lambda 0.0067, before and after quantization) averaged over 2^s x 2^s positions and known exactly,
synthesized at 1/2^s of the resolution (or interpolated to 1/2^(s-1) first) and upsampled. With
--base-layer, what a base layer coded by this codec would show: benchmarks/progressive.py's thumbnail
search with mspview's own `fast` files (header included) of the downscaled image instead of WebP's, for
the bytes each preview of the lambda-0.0067 file has read.

    python benchmarks/preview_oracle.py [--limit N] [--latent | --base-layer] [--threads 1]
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


def latent_oracle(lm, rgb: np.ndarray, s: int) -> list[float]:
    """PSNR of the picture of the latent averaged over 2^s x 2^s positions: (unquantized, quantized) x
    (synthesized at 1/2^s, interpolated to 1/2^(s-1) and synthesized there), each upsampled bicubically."""
    from mspview.codec.coder import STRIDE, analyse, quantize_latent, synthesize
    rate = lm.rate(0.0067)
    h, w = rgb.shape[:2]

    def picture(y: torch.Tensor, factor: int) -> np.ndarray:
        small = synthesize(lm, y, rate, STRIDE * y.shape[-2], STRIDE * y.shape[-1])
        size = (factor * small.shape[1], factor * small.shape[0])
        return np.asarray(Image.fromarray(small).resize(size, Image.Resampling.BICUBIC))[:h, :w]

    y = analyse(lm, rgb, rate)
    out = []
    for latent in (y, quantize_latent(lm, y, rate).y_hat):
        summary = F.avg_pool2d(latent, 2 ** s, ceil_mode=True)
        finer = F.interpolate(summary, scale_factor=2, mode="bilinear", align_corners=False)
        out += [psnr(picture(summary, 2 ** s), rgb), psnr(picture(finer, 2 ** (s - 1)), rgb)]
    return out


def own_thumbnail(lm, rgb: np.ndarray, budgets: list[int]) -> list[float]:
    """Per budget, the best PSNR of an mspview `fast` file of at most that many bytes of the image
    downscaled by 2..16 (any trained lambda), decoded and upscaled bicubically."""
    from mspview.codec.coder import decode, encode
    from mspview.codec.imageio import LoadedImage
    h, w = rgb.shape[:2]
    src = Image.fromarray(rgb)
    found = []  # (bytes, PSNR)
    for f in (2, 4, 8, 16):
        small = np.asarray(src.resize((max(1, w // f), max(1, h // f)), Image.Resampling.LANCZOS))
        for lam in lm.model.config.lambdas:
            data = encode(lm, LoadedImage(np.ascontiguousarray(small), "RGB", "RGB"), lm.rate(lam)).data
            up = Image.fromarray(decode(lm, data).image).resize((w, h), Image.Resampling.BICUBIC)
            found.append((len(data), psnr(np.asarray(up), rgb)))
    return [max((q for n, q in found if n <= b), default=0.0) for b in budgets]


def base_layer(files) -> int:
    from mspview.codec.coder import decode, encode
    from mspview.codec.imageio import LoadedImage
    from mspview.codec.weights import load_weights
    from progressive import webp_thumbnail
    lm = load_weights()
    rows: dict[int, list[tuple]] = {}
    for f in files:
        with Image.open(f) as im:
            rgb = np.asarray(im.convert("RGB"))
        previews = []
        decode(lm, encode(lm, LoadedImage(rgb, "RGB", "RGB"), lm.rate(0.0067)).data, on_preview=previews.append)
        previews = previews[:-1]  # the coarse ones
        own = own_thumbnail(lm, rgb, [p.bytes_read for p in previews])
        for p, q in zip(previews, own):
            thumb = webp_thumbnail(rgb, p.bytes_read)[0]
            rows.setdefault(p.scales_done, []).append((p.bytes_read, psnr(p.image, rgb), thumb, q))
    print(f"{len(files)} Kodak images, lambda 0.0067: the previews, the WebP thumbnail and mspview's own thumbnail "
          f"of the same bytes")
    print(f"{'scales':>7} {'bytes':>7} {'preview':>9} {'WebP thumbnail':>15} {'mspview thumbnail':>18}")
    for k, r in sorted(rows.items()):
        m = [statistics.mean(x[i] for x in r) for i in range(4)]
        print(f"{k} of {NUM_SCALES + 1} {m[0]:>7.0f} {m[1]:>6.2f} dB {m[2]:>12.2f} dB {m[3]:>15.2f} dB")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--latent", action="store_true", help="the summarising scales' oracle (the shipped model)")
    p.add_argument("--base-layer", action="store_true", help="mspview's own thumbnail of each preview's bytes")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    files = sorted(KODAK.glob("*.png"))[: args.limit]
    if args.base_layer:
        return base_layer(files)
    if args.latent:
        from mspview.codec.weights import load_weights
        lm = load_weights()
        rows = {s: [] for s in range(NUM_SCALES, 0, -1)}
        for f in files:
            with Image.open(f) as im:
                rgb = np.asarray(im.convert("RGB"))
            for s in rows:
                rows[s].append(latent_oracle(lm, rgb, s))
        print(f"{len(files)} Kodak images; the latent (lambda 0.0067) averaged over 2^s x 2^s, known exactly")
        print(f"{'scales':>7} {'averaged over':>14} {'at 1/2^s':>9} {'at 1/2^(s-1)':>13} {'quantized: at 1/2^s':>20} "
              f"{'at 1/2^(s-1)':>13}")
        for s, r in rows.items():
            m = [statistics.mean(x[i] for x in r) for i in range(4)]
            print(f"{NUM_SCALES + 1 - s} of {NUM_SCALES + 1} {2 ** s:>11}x{2 ** s:<2} {m[0]:>6.2f} dB {m[1]:>10.2f} dB "
                  f"{m[2]:>17.2f} dB {m[3]:>10.2f} dB")
        return 0
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
