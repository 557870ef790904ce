"""What each encode profile buys: BD-rate against `fast` (PSNR, PCHIP), encode seconds per image, and
LOF iterations used, on Kodak with real .msp files decoded back.

    python benchmarks/lof_gain.py [--images 24] [--stride 1] [--lambdas 0.0018,0.0067,0.025,0.0483]
           [--profiles fast,quick,balanced,best] [--threads N] [--write mspview/resources/profile_measurements.json]

--write merges into the file: profiles measured on other images keep their rows, each row says
how many images it used and the weights it was measured with.

Targets (issue 4): `best` saves >= 5 % BD-rate over `fast`, `balanced` >= 3 %; `balanced` about a
minute or less per Kodak image on this CPU.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from mspview.codec import profiles
from mspview.codec.coder import decode
from mspview.codec.imageio import load_image
from mspview.codec.lof import run_profile
from mspview.codec.model import fast_bf16
from mspview.codec.weights import load_weights
from mspview.eval.bdrate import bd_rate
from mspview.eval.metrics import psnr
from mspview.resources import KODAK


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=24)
    p.add_argument("--lambdas", default="0.0018,0.0067,0.025,0.0483")
    p.add_argument("--profiles", default="fast,quick,balanced,best")
    p.add_argument("--stride", type=int, default=1, help="take every K-th of those images")
    p.add_argument("--offset", type=int, default=0, help="starting from this one (with --stride)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--model", default=None)
    p.add_argument("--write", default=None, help="save the measurements for the CLI and the app")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    lm = load_weights(args.model)
    files = sorted(KODAK.glob("*.png"))[: args.images][args.offset:: args.stride]
    lambdas = [float(v) for v in args.lambdas.split(",")]
    names = args.profiles.split(",")
    curves, stats = {}, {}
    # LOF runs its synthesis in bf16 only on CPUs with native bf16, so rows say which kind measured them
    cpu = "native bf16" if fast_bf16(torch.device("cpu")) else "no native bf16"
    print(f"{len(files)} Kodak images, lambdas {lambdas}, {torch.get_num_threads()} threads, "
          f"{platform.processor() or 'cpu'}, {cpu}")
    print(f"{'profile':<9} {'lambda':>7} {'bpp':>7} {'PSNR':>7} {'enc s/img':>9} {'LOF it':>7}")
    for name in names:
        prof = profiles.get(name)
        rates, dists, secs, iters = [], [], [], []
        for lam in lambdas:
            b, q = [], []
            for f in files:
                img = load_image(f)
                t = time.perf_counter()
                res = run_profile(lm, img, lm.rate(lam), prof)
                secs.append(time.perf_counter() - t)
                iters.append(res.iterations)
                dec = decode(lm, res.encoded.data)  # the real file
                b.append(8 * len(res.encoded.data) / (img.width * img.height))
                q.append(psnr(dec.image, img.rgb))
            rates.append(float(np.mean(b)))
            dists.append(float(np.mean(q)))
            print(f"{name:<9} {lam:>7.4f} {rates[-1]:>7.4f} {dists[-1]:>7.3f} "
                  f"{statistics.mean(secs[-len(files):]):>9.2f} {statistics.mean(iters[-len(files):]):>7.1f}", flush=True)
        curves[name] = (rates, dists)
        stats[name] = {"seconds_per_image": round(statistics.mean(secs), 2), "iterations": round(statistics.mean(iters), 1),
                       "images": [f.stem for f in files], "lambdas": lambdas, "bpp": rates, "psnr": dists,
                       "threads": torch.get_num_threads(), "cpu": cpu, "weights_sha256": lm.sha256}
    print("\nBD-rate against fast (PSNR-RGB, PCHIP, anchor = fast):")
    for name in names:
        if name == "fast":
            stats[name]["bd_rate_vs_fast"] = 0.0
            continue
        try:
            r = bd_rate(curves["fast"], curves[name], "fast", name)
        except Exception as e:  # noqa: BLE001 - too few points or no overlap: say so
            print(f"  {name}: {e}")
            continue
        stats[name]["bd_rate_vs_fast"] = round(r.bd_rate, 2)
        print(f"  {r}   {stats[name]['seconds_per_image']:.1f} s/image, {stats[name]['iterations']:.0f} iterations")
    if args.write:
        out = Path(args.write)
        old = json.loads(out.read_text()) if out.exists() else {}
        merged = {**old.get("profiles", {}), **stats}
        out.write_text(json.dumps({"device": "seconds on the CPU and at the thread count given per row",
                                   "profiles": merged}, indent=1) + "\n")
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
