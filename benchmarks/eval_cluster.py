"""Wall time of the same evaluation serially and on a Dask LocalCluster (`mspview eval --workers N`), each
into a fresh output folder, and whether their rows agree (bpp, PSNR, MS-SSIM; timings differ).

    python benchmarks/eval_cluster.py [--images 24] [--lambdas 0.0018,0.0067,0.025,0.11] [--profile quick] [--workers 2]

On a 2-core machine the speed-up is bounded by the cores (each worker gets cores / N torch threads, so
the serial run already uses both cores for its convolutions); the gain is in what does not thread:
entropy coding, LOF's per-iteration Python work, a classical encoder. Pause any training while this runs.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mspview.resources import KODAK


def run(folder: Path, out: Path, args, workers: int) -> float:
    cmd = [sys.executable, "-m", "mspview", "eval", str(folder), "--codecs", "msp", "--profile", args.profile,
           "--lambdas", args.lambdas, "--limit", str(args.images), "--out", str(out)]
    if workers:
        cmd += ["--workers", str(workers)]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def rows(out: Path) -> dict:
    found = {}
    for line in (out / "rows.jsonl").read_text().splitlines():
        r = json.loads(line)
        found[(r["image"], r["setting"])] = (r["bytes"], round(r["psnr-rgb"], 6), round(r["ms-ssim-rgb"], 6))
    return found


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=24)
    p.add_argument("--lambdas", default="0.0018,0.0067,0.025,0.11")
    p.add_argument("--profile", default="quick")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        serial = run(KODAK, Path(tmp) / "serial", args, 0)
        dask = run(KODAK, Path(tmp) / "dask", args, args.workers)
        same = rows(Path(tmp) / "serial") == rows(Path(tmp) / "dask")
    n = args.images * len(args.lambdas.split(","))
    print(f"{n} rows ({args.images} Kodak images x {args.lambdas}, profile {args.profile}): serial {serial:.1f} s, "
          f"--workers {args.workers} {dask:.1f} s ({serial / dask:.2f}x); rows equal: {same}")


if __name__ == "__main__":
    main()
