"""Decode time per image on this machine: Kodak (768x512) and 1, 4, 8 megapixel images.

Splits out the synthesis and the entropy decoding (the rest is the MSP model), and reports the peak
resident memory of a fresh process decoding each size. Targets (issue 2): <= 0.5 s median per Kodak
image, time per megapixel flat within 1.5x from 0.4 to 8 MP, 8 MP within 4 GiB.

    python benchmarks/decode_speed.py [--model PATH] [--threads N] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mspview.resources import KODAK


def make_file(megapixels: float, model: str | None, path: Path) -> str:
    """Encode (fast profile) kodim23 resized to about `megapixels` into `path`."""
    from mspview.codec.coder import encode
    from mspview.codec.imageio import LoadedImage
    from mspview.codec.weights import load_weights

    lm = load_weights(model)
    src = Image.open(KODAK / "kodim23.png").convert("RGB")
    scale = (megapixels * 1e6 / (src.width * src.height)) ** 0.5
    img = src.resize((round(src.width * scale), round(src.height * scale)), Image.Resampling.BICUBIC)
    path.write_bytes(encode(lm, LoadedImage(np.asarray(img), "RGB", "RGB"), lm.rate(0.0067)).data)
    return f"{img.width}x{img.height}"


def decode_file(path: Path, model: str | None, repeat: int) -> dict:
    """Decode in this (fresh) process; peak RSS is the decoder's own."""
    from mspview.codec.coder import decode
    from mspview.codec.weights import load_weights

    lm = load_weights(model)
    data = path.read_bytes()
    runs = [decode(lm, data) for _ in range(repeat)]
    best = min((r.timings for r in runs), key=lambda t: t["total_s"])
    h = runs[0].header
    return {"size": f"{h.width}x{h.height}", "megapixels": h.width * h.height / 1e6,
            "total_s": best["total_s"], "synthesis_s": best["synthesis_s"], "entropy_s": best["entropy_s"],
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20}


def kodak(model: str | None) -> list[float]:
    from mspview.codec.coder import decode, encode
    from mspview.codec.imageio import load_image
    from mspview.codec.weights import load_weights

    lm = load_weights(model)
    times = []
    for f in sorted(KODAK.glob("*.png")):
        data = encode(lm, load_image(f), lm.rate(0.0067)).data
        decode(lm, data)  # warm
        times.append(min(decode(lm, data).timings["total_s"] for _ in range(2)))
    return times


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--decode", default=None, help=argparse.SUPPRESS)  # child process mode
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.decode:
        print(json.dumps(decode_file(Path(args.decode), args.model, args.repeat)))
        return 0
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device cpu")
    t = kodak(args.model)
    print(f"Kodak (24 images, 768x512, lambda 0.0067): median decode {statistics.median(t):.3f} s, "
          f"min {min(t):.3f} s, max {max(t):.3f} s")
    print(f"{'size':>11} {'MP':>5} {'total s':>8} {'synthesis s':>11} {'entropy s':>10} {'s/MP':>6} {'peak RSS GiB':>13}")
    rows = []
    tmp = Path(tempfile.mkdtemp())
    for mp in (0.39, 1.0, 4.0, 8.0):
        make_file(mp, args.model, tmp / f"{mp}.msp")
        cmd = [sys.executable, __file__, "--decode", str(tmp / f"{mp}.msp"), "--repeat", str(args.repeat)]
        cmd += ["--model", args.model] if args.model else []
        cmd += ["--threads", str(args.threads)] if args.threads else []
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(r)
        print(f"{r['size']:>11} {r['megapixels']:>5.2f} {r['total_s']:>8.3f} {r['synthesis_s']:>11.3f} "
              f"{r['entropy_s']:>10.3f} {r['total_s'] / r['megapixels']:>6.3f} {r['peak_rss_gib']:>13.2f}")
    per_mp = [r["total_s"] / r["megapixels"] for r in rows]
    print(f"time per megapixel: max/min = {max(per_mp) / min(per_mp):.2f} (target <= 1.5); "
          f"8 MP decoder peak RSS {rows[-1]['peak_rss_gib']:.2f} GiB (target <= 4)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
