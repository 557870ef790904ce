"""What bf16 synthesis costs in quality and buys in time, against the fp32 reference.

Quality: every Kodak image at every trained λ, the same decoded latent synthesised in fp32 and in bf16
(`--precision auto` on a CPU with AMX or AVX512-BF16): the largest pixel difference, and the PSNR change
(mean and worst over images, per λ). Time: a full decode (latent + synthesis) of a 1920x1280 file, each
precision, median of --repeat, in this process. Pause any training run while this times.

    python benchmarks/synthesis_precision.py [--threads 2] [--repeat 5] [--lambdas 0.0004,...]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from mspview.codec.coder import analyse, decode, encode, quantize_latent, synthesize
from mspview.codec.imageio import LoadedImage, load_image
from mspview.codec.metrics import psnr_uint8
from mspview.codec.weights import load_weights
from mspview.resources import KODAK

from common import cpu_flags, image_2k


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--lambdas", default=None)
    p.add_argument("--model", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    ref, fast = load_weights(args.model, precision="fp32"), load_weights(args.model, precision="bf16")
    lambdas = [float(v) for v in args.lambdas.split(",")] if args.lambdas else list(ref.model.config.lambdas)
    files = sorted(KODAK.glob("*.png"))
    print(f"{len(files)} Kodak images; PSNR change of bf16 against fp32 (same latent), torch {torch.__version__}; "
          f"CPU flags: {cpu_flags()}")
    print(f"{'lambda':>8} {'mean dB':>9} {'worst dB':>9} {'max |diff|':>10}")
    worst_all, diff_all = 0.0, 0
    for lam in lambdas:
        d_psnr, diffs = [], []
        for f in files:
            img = load_image(f)
            rate = ref.rate(lam)
            y_hat = quantize_latent(ref, analyse(ref, img.rgb, rate), rate).y_hat
            a = synthesize(ref, y_hat, rate, img.height, img.width)
            b = synthesize(fast, y_hat, fast.rate(lam), img.height, img.width)
            d_psnr.append(psnr_uint8(b, img.rgb) - psnr_uint8(a, img.rgb))
            diffs.append(int(np.abs(a.astype(int) - b).max()))
        worst_all, diff_all = min(worst_all, min(d_psnr)), max(diff_all, max(diffs))
        print(f"{lam:>8g} {np.mean(d_psnr):>+9.4f} {min(d_psnr):>+9.4f} {max(diffs):>10d}", flush=True)
    print(f"all: worst PSNR change {worst_all:+.4f} dB, largest pixel difference {diff_all}")

    data = encode(ref, LoadedImage(image_2k(KODAK / "kodim23.png"), "RGB", "RGB"), ref.rate(0.0067)).data
    for lm in (ref, fast):
        decode(lm, data)
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            decode(lm, data)
            times.append(time.perf_counter() - t)
        print(f"1920x1280 full decode, {lm.precision}: {statistics.median(times):.3f} s (median of {args.repeat}, "
              f"{args.threads} threads)")


if __name__ == "__main__":
    main()
