"""`mspview bench`: encode/decode time per image size, sequential steps, peak memory, and the O(1) vs O(n)
decode-time comparison with a pixel-serial context model of the same latent size (eval/bench.py).

Images are kodim23 resized to each size. Times are the best of --repeat runs on this machine.
"""
from __future__ import annotations

import argparse
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch

from ..codec.errors import MSPError
from ..eval.bench import SIZES, measure_size
from ..eval.results import anchors
from .common import add_model_options, open_model, run_tool


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mspview bench", description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default=",".join(SIZES), help=f"comma-separated from {', '.join(SIZES)}")
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--no-serial", action="store_true", help="skip the serial context model")
    add_model_options(p)
    args = p.parse_args(argv)

    def body() -> int:
        names = args.sizes.split(",")
        unknown = [n for n in names if n not in SIZES]
        if unknown:
            raise MSPError(f"unknown size {unknown[0]!r}; choose from {', '.join(SIZES)}")
        lm = open_model(args)  # fails here, clearly, on a bad --model or --device
        threads = args.threads or torch.get_num_threads()
        print(f"{threads} threads on {lm.model.device}; MSP: S={lm.model.msp.S}, G={lm.model.msp.G}, "
              f"M={lm.model.config.M}; serial model: CompressAI mbt2018's per-position work "
              f"(5x5 masked context + hyperprior -> 1x1 entropy parameters), same M")
        print("latent = entropy decoding with its context model; full = latent + the same synthesis transform; "
              "peak = resident memory of a fresh process encoding and decoding that size")
        print(f"{'size':>6} {'pixels':>11} {'latent':>8} {'enc s':>7} {'MSP steps':>9} {'MSP latent s':>12} "
              f"{'MSP full s':>10} {'serial steps':>12} {'serial latent s':>15} {'serial full s':>13} "
              f"{'x latent':>8} {'x full':>7} {'peak GiB':>8}")
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), max_tasks_per_child=1) as pool:
            for name in names:
                r = pool.submit(measure_size, name, args.model, args.device, args.repeat, not args.no_serial,
                                threads).result()
                latent = r["full"] - r["synth"]
                s_full = r["serial_latent"] + r["synth"]  # a serial decoder runs the same synthesis after its loop
                pixels, latent_size = f"{r['w']}x{r['h']}", "x".join(map(str, r["latent"]))
                print(f"{name:>6} {pixels:>11} {latent_size:>8} {r['enc']:>7.3f} "
                      f"{r['steps']:>9} {latent:>12.3f} {r['full']:>10.3f} {r['serial_steps']:>12} "
                      f"{r['serial_latent']:>15.3f} {s_full:>13.3f} {r['serial_latent'] / latent:>7.1f}x "
                      f"{s_full / r['full']:>6.1f}x {r['peak_gib']:>8.2f}", flush=True)
        published = anchors()
        pairs = [(k, published[k]) for k in ("compressai-mbt2018_mse_cpu", "compressai-mbt2018-mean_mse_cpu") if k in published]
        if pairs:  # context: the same comparison in CompressAI's own published figures (Kodak, 0.39 MP)
            print("published CompressAI decode times on Kodak (CPU, their machine): " + "; ".join(
                f"{a['name']} {np.mean(a['results']['decoding_time']):.2f} s/image" for _, a in pairs))
        return 0

    return run_tool("bench", body)
