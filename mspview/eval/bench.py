"""`mspview bench`: encode/decode time per image size, sequential steps, peak memory, and the O(1) vs O(n)
decode-time comparison with a pixel-serial context model of the same latent size (serial_context.py).

Images are kodim23 resized to each size. Times are the best of --repeat runs on this machine.
"""
from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..codec.coder import analyse, decode, encode
from ..codec.imageio import LoadedImage
from ..commands.common import add_model_options, open_model, run_tool
from .serial_context import SerialContextModel, roundtrip

SAMPLE = Path(__file__).resolve().parent.parent.parent / "resources" / "samples" / "kodim23.png"
SIZES = {"0.25MP": (576, 432), "1MP": (1152, 864), "2K": (1920, 1080), "4MP": (2304, 1728)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mspview bench", description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default=",".join(SIZES), help=f"comma-separated from {', '.join(SIZES)}")
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--no-serial", action="store_true", help="skip the serial context model")
    add_model_options(p)
    args = p.parse_args(argv)

    def body() -> int:
        lm = open_model(args)
        src = Image.open(SAMPLE).convert("RGB")
        serial = SerialContextModel(lm.model.config.M)
        print(f"{torch.get_num_threads()} threads on {lm.model.device}; MSP: S={lm.model.msp.S}, G={lm.model.msp.G}, "
              f"M={lm.model.config.M}; serial model: 5x5 masked context + 1x1 entropy parameters, same M")
        print(f"{'size':>6} {'pixels':>11} {'latent':>8} {'enc s':>7} {'dec s':>7} {'MSP steps':>9} "
              f"{'serial dec s':>12} {'serial steps':>12} {'speed-up':>8}")
        for name in args.sizes.split(","):
            w, h = SIZES[name]
            img = LoadedImage(np.asarray(src.resize((w, h), Image.Resampling.BICUBIC)), "RGB", "RGB")
            enc_t, dec_t = [], []
            for _ in range(args.repeat):
                t = time.perf_counter()
                data = encode(lm, img, 0.0067).data
                enc_t.append(time.perf_counter() - t)
                t = time.perf_counter()
                decode(lm, data)
                dec_t.append(time.perf_counter() - t)
            y = analyse(lm, img.rgb, 0.0067).cpu()
            steps = lm.model.msp.num_steps
            if args.no_serial:
                s_dec, s_steps, ratio = float("nan"), y.shape[2] * y.shape[3], float("nan")
            else:
                _, s_dec = roundtrip(serial, y)
                s_steps, ratio = y.shape[2] * y.shape[3], s_dec / min(dec_t)
            print(f"{name:>6} {f'{w}x{h}':>11} {f'{y.shape[3]}x{y.shape[2]}':>8} {min(enc_t):>7.3f} {min(dec_t):>7.3f} "
                  f"{steps:>9} {s_dec:>12.3f} {s_steps:>12} {ratio:>7.1f}x", flush=True)
        print(f"peak resident memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20:.2f} GiB")
        return 0

    return run_tool("bench", body)
