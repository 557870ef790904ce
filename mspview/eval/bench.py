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
from .results import anchors
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
              f"M={lm.model.config.M}; serial model: CompressAI mbt2018's per-position work "
              f"(5x5 masked context + hyperprior -> 1x1 entropy parameters), same M")
        print("latent = entropy decoding with its context model; full = latent + the same synthesis transform")
        print(f"{'size':>6} {'pixels':>11} {'latent':>8} {'enc s':>7} {'MSP steps':>9} {'MSP latent s':>12} "
              f"{'MSP full s':>10} {'serial steps':>12} {'serial latent s':>15} {'serial full s':>13} "
              f"{'x latent':>8} {'x full':>7}")
        for name in args.sizes.split(","):
            w, h = SIZES[name]
            img = LoadedImage(np.asarray(src.resize((w, h), Image.Resampling.BICUBIC)), "RGB", "RGB")
            enc_t, runs = [], []
            for _ in range(args.repeat):
                t = time.perf_counter()
                data = encode(lm, img, 0.0067).data
                enc_t.append(time.perf_counter() - t)
                runs.append(decode(lm, data).timings)
            best = min(runs, key=lambda r: r["total_s"])
            full, synth = best["total_s"], best["synthesis_s"]
            latent = full - synth
            y = analyse(lm, img.rgb, 0.0067).cpu()
            s_steps = y.shape[2] * y.shape[3]
            s_lat = float("nan") if args.no_serial else roundtrip(serial, y)[1]
            s_full = s_lat + synth  # a serial decoder runs the same synthesis after its latent loop
            print(f"{name:>6} {f'{w}x{h}':>11} {f'{y.shape[3]}x{y.shape[2]}':>8} {min(enc_t):>7.3f} "
                  f"{lm.model.msp.num_steps:>9} {latent:>12.3f} {full:>10.3f} {s_steps:>12} {s_lat:>15.3f} "
                  f"{s_full:>13.3f} {s_lat / latent:>7.1f}x {s_full / full:>6.1f}x", flush=True)
        published = anchors()
        pairs = [(k, published[k]) for k in ("compressai-mbt2018_mse_cpu", "compressai-mbt2018-mean_mse_cpu") if k in published]
        if pairs:  # context: the same comparison in CompressAI's own published figures (Kodak, 0.39 MP)
            print("published CompressAI decode times on Kodak (CPU, their machine): " + "; ".join(
                f"{a['name']} {np.mean(a['results']['decoding_time']):.2f} s/image" for _, a in pairs))
        print(f"peak resident memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20:.2f} GiB")
        return 0

    return run_tool("bench", body)
