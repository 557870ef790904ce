"""Would adapting a few synthesis parameters per image pay (issue 26, item 5)? Measured before building.

For each image and lambda: the `fast` file's quantized latent is kept; a subset of the synthesis'
parameters (the biases of its last layers, or those and the last inverse GDN's beta, stored as its
square root) is fitted to the image by Adam on the MSE for --iterations steps, the change quantized
with a uniform step and counted in the rate with a signed Exp-Golomb code (what a file would have to
carry). The RD curves of the adapted and plain files are then compared by BD-rate (PSNR, PCHIP), with
the adaptation's seconds per image. Pause any training while the seconds matter; the CPU's flags are printed.

    python benchmarks/decoder_adaptation.py [--images 8] [--folder ../shared/data/kodak]
           [--lambdas 0.0018,0.0067,0.025,0.0483] [--iterations 30] [--lr 0.01]
           [--subset biases2|biases4|biases4+beta]
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch

from mspview.codec import profiles
from mspview.codec.coder import padded_pixels
from mspview.codec.imageio import load_image
from mspview.codec.lof import run_profile
from mspview.codec.transforms import pixels_tensor, to_picture
from mspview.codec.weights import load_weights
from mspview.eval.bdrate import bd_rate
from mspview.eval.metrics import psnr
from mspview.resources import KODAK

from decode_vs_compressai import cpu_flags

STEP = 1 / 256  # quantization step of a parameter's change


def subset(g_s, name: str) -> list[torch.nn.Parameter]:
    deconvs = [m for m in g_s if isinstance(m, torch.nn.ConvTranspose2d)]
    params = [d.bias for d in deconvs[-2:]] if name.startswith("biases2") else [d.bias for d in deconvs]
    if name.endswith("+beta"):
        params.append([m for m in g_s if hasattr(m, "beta_sqrt")][-1].beta_sqrt)
    return params


def exp_golomb_bits(q: np.ndarray) -> float:
    """Bits of signed Exp-Golomb codes of integers (0 costs 1 bit)."""
    u = np.where(q > 0, 2 * q - 1, -2 * q).astype(np.int64)
    return float(np.sum(2 * np.floor(np.log2(u + 1)) + 1))


def adapt(lm, y_hat, rate, x, h, w, params, iterations: int, lr: float) -> tuple[np.ndarray, float, float]:
    """The image through the adapted synthesis (quantized change), the change's bits and the seconds."""
    originals = [p.detach().clone() for p in params]
    for p in lm.model.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=lr)
    z = y_hat * rate.inverse_gain
    t = time.perf_counter()
    for _ in range(iterations):
        out = lm.model.g_s(z)[..., :h, :w]
        loss = torch.mean((out - x[..., :h, :w]) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - t
    bits = 0.0
    with torch.no_grad():
        for p, p0 in zip(params, originals):
            q = torch.round((p - p0) / STEP)
            bits += exp_golomb_bits(q.numpy())
            p.copy_(p0 + q * STEP)
        image = to_picture(lm.model.g_s(z))[:h, :w].numpy()
        for p, p0 in zip(params, originals):
            p.copy_(p0)
            p.requires_grad_(False)
    return image, bits, seconds


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=8)
    p.add_argument("--folder", default=str(KODAK))
    p.add_argument("--lambdas", default="0.0018,0.0067,0.025,0.0483")
    p.add_argument("--iterations", type=int, default=30)
    p.add_argument("--subset", default="biases2")
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    lm = load_weights(precision="fp32")
    files = sorted(Path(args.folder).glob("*.png"))
    files = files[:: max(1, len(files) // args.images)][: args.images]
    lambdas = [float(v) for v in args.lambdas.split(",")]
    params = subset(lm.model.g_s, args.subset)
    print(f"cpu flags: {cpu_flags()}; {torch.get_num_threads()} threads; {len(files)} images from {args.folder}; "
          f"subset {args.subset} ({sum(q.numel() for q in params)} parameters), {args.iterations} Adam steps of {args.lr:g}")
    bds, seconds = [], []
    for f in files:
        image = load_image(f)
        h, w = image.height, image.width
        x = pixels_tensor(padded_pixels(image.rgb), lm.model.device)
        plain, adapted = ([], []), ([], [])
        for lam in lambdas:
            rate = lm.rate(lam)
            res = run_profile(lm, image, rate, profiles.get("fast"))
            nbits = 8 * len(res.encoded.data)
            plain[0].append(nbits / (h * w))
            plain[1].append(psnr(res.encoded.image, image.rgb))
            out, extra, s = adapt(lm, res.encoded.y_hat, rate, x, h, w, params, args.iterations, args.lr)
            adapted[0].append((nbits + extra) / (h * w))
            adapted[1].append(psnr(out, image.rgb))
            seconds.append(s)
            print(f"{f.name} λ {lam:g}: {plain[1][-1]:.3f} dB -> {adapted[1][-1]:.3f} dB, "
                  f"+{extra / 8:.0f} bytes ({100 * extra / nbits:.2f} % of the file), {s:.1f} s", flush=True)
        bd = bd_rate(plain, adapted, "fast", "fast + adapted synthesis").bd_rate
        bds.append(bd)
        print(f"{f.name}: BD-rate {bd:+.2f} %", flush=True)
    print(f"mean BD-rate of the adapted synthesis against fast: {np.mean(bds):+.2f} % over {len(bds)} images "
          f"(worst {max(bds):+.2f} %, best {min(bds):+.2f} %); adaptation {np.median(seconds):.1f} s median per file")
    return 0 if all(math.isfinite(b) for b in bds) else 1


if __name__ == "__main__":
    raise SystemExit(main())
