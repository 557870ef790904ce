"""Large images on the CPU: peak memory and time of `mspview encode` (fast) and `mspview decode`,
each in a fresh process, from 8 megapixels to the 64-megapixel limit; and the message for an image
over the limit. Target (issue 7): 8 MP encodes and decodes within 6 GiB. The transforms run in bands
of latent rows (mspview/codec/transforms.py), so the peak should grow with the image arrays only.

    python benchmarks/large_images.py [--sizes 8,16,32,64] [--threads N] [--model PATH]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from mspview.resources import SAMPLE

REPO = Path(__file__).resolve().parent.parent


def run(args: list[str], env: dict) -> tuple[int, float, float, str]:
    """(exit code, seconds, peak RSS GiB of that process, stderr)."""
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "mspview", *args], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, time.perf_counter() - t, usage.ru_maxrss / 2 ** 20, err


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="8,16,32,64", help="megapixels, comma-separated")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--model", default=None, help="weights (default: the shipped ones)")
    args = p.parse_args()
    model = ["--model", args.model] if args.model else []
    env = dict(os.environ)
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    src = Image.open(SAMPLE).convert("RGB")
    print(f"{'image':>10} {'MP':>6} {'encode s':>9} {'encode GiB':>10} {'decode s':>9} {'decode GiB':>10}  file")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for mp in [float(v) for v in args.sizes.split(",")]:
            scale = (mp * 1e6 / (src.width * src.height)) ** 0.5
            w, h = int(src.width * scale) // 16 * 16, int(src.height * scale) // 16 * 16
            img, msp, out = Path(tmp) / f"{mp:g}mp.png", Path(tmp) / f"{mp:g}mp.msp", Path(tmp) / f"{mp:g}mp_dec.png"
            src.resize((w, h), Image.Resampling.BICUBIC).save(img)
            rc, enc_s, enc_gib, err = run(["encode", str(img), str(msp), "--profile", "fast", *model], env)
            if rc:
                print(f"{w}x{h}: encode failed: {err.strip()}")
                return 1
            rc, dec_s, dec_gib, err = run(["decode", str(msp), str(out), *model], env)
            if rc:
                print(f"{w}x{h}: decode failed: {err.strip()}")
                return 1
            worst = max(worst, enc_gib, dec_gib) if mp <= 8 else worst
            print(f"{f'{w}x{h}':>10} {w * h / 1e6:>6.1f} {enc_s:>9.1f} {enc_gib:>10.2f} {dec_s:>9.1f} {dec_gib:>10.2f}  "
                  f"{msp.stat().st_size} bytes")
        big = Path(tmp) / "too_big.png"
        Image.new("RGB", (8200, 8000), (128, 128, 128)).save(big)
        rc, _, _, err = run(["encode", str(big), str(Path(tmp) / "too_big.msp")], env)
        print(f"8200x8000 (65.6 MP): exit {rc}: {err.strip()}")
    print(f"8 MP peak memory {worst:.2f} GiB (target <= 6 GiB): {'met' if worst <= 6 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
