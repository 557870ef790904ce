"""What the progressive previews of a 2K (1920x1280) file cost beside its full decode, in-process: the
decode without previews, and the previews alone (`timings["preview_s"]` of a decode that makes them:
per preview the MSP fill, the synthesis at the resolution its scales support, the upsampling). Target
(issue 27): all previews together at most 0.5x one full decode. Pause any training while this runs.

    python benchmarks/preview_cost.py [--threads 2] [--repeat 3] [--model PATH]
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from mspview.codec.coder import decode, encode
from mspview.codec.imageio import LoadedImage
from mspview.codec.weights import load_weights
from mspview.resources import SAMPLE

from common import cpu_flags, image_2k


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--model", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    lm = load_weights(args.model)
    rgb = image_2k(SAMPLE)
    data = encode(lm, LoadedImage(rgb, "RGB", "RGB"), lm.rate(0.0067)).data
    decode(lm, data)  # warm-up: the exact path's tables, oneDNN's kernels
    full, previews, each = [], [], []
    for _ in range(args.repeat):
        t = time.perf_counter()
        decode(lm, data)
        full.append(time.perf_counter() - t)
        marks = []
        t = time.perf_counter()
        timings = decode(lm, data, on_preview=lambda pv: marks.append(time.perf_counter() - t)).timings
        previews.append(timings["preview_s"])
        each.append(marks)
    best = int(np.argmin(previews))
    print(f"CPU flags: {cpu_flags()}; 1920x1280, {args.threads} threads, {lm.precision}, best of {args.repeat}: full decode {min(full):.3f} s; "
          f"its {len(each[best]) - 1} previews together {previews[best]:.3f} s "
          f"({previews[best] / min(full):.2f}x a full decode); with previews, each on hand at "
          + ", ".join(f"{m:.2f}" for m in each[best]) + " s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
