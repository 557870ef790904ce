"""Full decode time of a 1920x1280 image under two weights files, back to back (A, B, A, B, ...), at
each precision: the issue-26 check that added capacity costs at most 1.3x the shipped model's decode.
Pause any training while this runs; the CPU's flags are printed with the figures.

    python benchmarks/decode_between.py CANDIDATE.pt [--base mspview/resources/msp_default.pt]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from mspview.codec.coder import decode, encode
from mspview.codec.imageio import LoadedImage
from mspview.codec.weights import load_weights

from common import cpu_flags, image_2k


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("candidate")
    p.add_argument("--base", default=None, help="default: the shipped weights")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rgb = image_2k()
    print(f"cpu flags: {cpu_flags()}; {args.threads} threads; 1920x1280; median of {args.repeat}")
    for precision in ("fp32", "auto"):
        models = {"base": load_weights(args.base, precision=precision),
                  "candidate": load_weights(args.candidate, precision=precision)}
        files = {k: encode(m, LoadedImage(rgb, "RGB", "RGB"), m.rate(0.0067)).data for k, m in models.items()}
        times = {k: [] for k in models}
        for k, m in models.items():
            decode(m, files[k])  # warm-up
        for _ in range(args.repeat):
            for k, m in models.items():
                t = time.perf_counter()
                decode(m, files[k])
                times[k].append(time.perf_counter() - t)
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"{precision:>5}: base {med['base']:.3f} s, candidate {med['candidate']:.3f} s, "
              f"ratio {med['candidate'] / med['base']:.2f}x")


if __name__ == "__main__":
    main()
