"""How good the progressive previews are: per decoded scale, averaged over Kodak, the preview's bytes
(the file's prefix, header included), their share of the file and its PSNR, beside a baseline of the
same bytes: the best PSNR over downscale factors x WebP qualities whose whole file fits those bytes,
upscaled back bicubically (a thumbnail sent first, as a progressive JPEG's first scan or a low-quality
image placeholder would be).

    python benchmarks/progressive.py [--limit N] [--lambda 0.0067] [--profile fast] [--threads 2]
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys

import numpy as np
import torch
from PIL import Image

from mspview.codec import profiles
from mspview.codec.coder import decode
from mspview.codec.imageio import load_image
from mspview.codec.lof import run_profile
from mspview.codec.weights import load_weights
from mspview.eval.metrics import psnr
from mspview.resources import KODAK

FACTORS = (2, 4, 8, 16, 32)


def webp_thumbnail(rgb: np.ndarray, budget: int) -> tuple[float, str]:
    """Best PSNR of a WebP thumbnail of at most `budget` bytes, upscaled bicubically: (dB, how)."""
    h, w = rgb.shape[:2]
    src = Image.fromarray(rgb)
    best = (0.0, "nothing fits")
    for f in FACTORS:
        small = src.resize((max(1, w // f), max(1, h // f)), Image.Resampling.LANCZOS)
        lo, hi, fits = 0, 100, None
        while lo <= hi:  # the highest quality whose file fits (size grows with quality)
            q = (lo + hi) // 2
            buf = io.BytesIO()
            small.save(buf, format="WEBP", quality=q, method=6)
            if buf.tell() <= budget:
                fits, lo = (q, buf.getvalue()), q + 1
            else:
                hi = q - 1
        if fits is None:
            continue
        with Image.open(io.BytesIO(fits[1])) as im:
            up = np.asarray(im.convert("RGB").resize((w, h), Image.Resampling.BICUBIC))
        value = psnr(up, rgb)
        if value > best[0]:
            best = (value, f"1/{f} at quality {fits[0]}")
    return best


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--lambda", dest="lam", type=float, default=0.0067)
    p.add_argument("--profile", default="fast")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--model", default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    lm = load_weights(args.model)
    files = sorted(KODAK.glob("*.png"))[: args.limit]
    rows: dict[int, list[tuple]] = {}
    for f in files:
        img = load_image(f)
        data = run_profile(lm, img, lm.rate(args.lam), profiles.get(args.profile)).encoded.data
        previews = []
        decode(lm, data, on_preview=previews.append)
        for pv in previews:
            base, how = webp_thumbnail(img.rgb, pv.bytes_read)
            rows.setdefault(pv.scales_done, []).append((pv.bytes_read, pv.bytes_read / len(data), psnr(pv.image, img.rgb),
                                                        base, how))
        print(f"{f.stem}: " + "  ".join(f"{r[-1][2]:.2f}/{r[-1][3]:.2f} dB" for _, r in sorted(rows.items())),
              file=sys.stderr, flush=True)
    total = max(rows)
    print(f"{len(files)} Kodak images, lambda {args.lam:g}, profile {args.profile}; baseline: the best WebP "
          f"thumbnail (1/{FACTORS[0]}..1/{FACTORS[-1]}, any quality) of the same bytes, upscaled bicubically")
    print(f"{'scales':>7} {'bytes':>8} {'of file':>8} {'preview dB':>11} {'baseline dB':>12} {'difference':>11}")
    for k in sorted(rows):
        r = rows[k]
        b, share, ours, base = (statistics.mean(x[i] for x in r) for i in range(4))
        print(f"{k} of {total} {b:>8.0f} {100 * share:>7.1f}% {ours:>11.2f} {base:>12.2f} {ours - base:>+10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
