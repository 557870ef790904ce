"""A downscaled, size-capped copy of a training folder, to carry to a GPU machine with a transfer limit.

JPEG sources are downscaled once (which removes most block artefacts, as the sampler would) and
re-saved as JPEG 4:4:4 at high quality; lossless sources are downscaled less. Images are taken in a
seeded random order until the size cap, so a smaller cap is an unbiased subset. Train on the pack
with `--jpeg-scale` near 1 (it is already downscaled):

    python -m mspview.train.pack ../shared/data/train pack --max-mib 46
    mspview train --data pack --jpeg-scale 0.85,1 --patch 256 ...
"""
from __future__ import annotations

import argparse
import io
import random
import sys
from pathlib import Path

from PIL import Image

from .data import JPEG_SUFFIXES, list_images


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mspview.train.pack", description=__doc__.splitlines()[0])
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--scale", type=float, default=0.65, help="downscale of JPEG sources")
    p.add_argument("--lossless-scale", type=float, default=0.85, help="downscale of PNG and other lossless sources")
    p.add_argument("--min-side", type=int, default=258, help="never downscale a short side below this (patch + 2)")
    p.add_argument("--quality", type=int, default=90)
    p.add_argument("--max-mib", type=float, default=46.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    dst = Path(args.dst)
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        raise SystemExit(f"pack: {dst} is not an empty folder")
    try:
        files = list_images(args.src)
    except FileNotFoundError as e:
        raise SystemExit(f"pack: {e}") from None
    dst.mkdir(parents=True, exist_ok=True)
    random.Random(args.seed).shuffle(files)
    total, kept = 0, 0
    for i, f in enumerate(files):
        try:
            with Image.open(f) as im:
                im = im.convert("RGB")
                s = args.scale if f.suffix.lower() in JPEG_SUFFIXES else args.lossless_scale
                s = min(1.0, max(s, args.min_side / min(im.size)))
                if s < 1:
                    im = im.resize((round(im.width * s), round(im.height * s)), Image.Resampling.LANCZOS)
                buf = io.BytesIO()
                im.save(buf, format="JPEG", quality=args.quality, subsampling=0)
        except (OSError, Image.DecompressionBombError) as e:
            print(f"pack: skipped {f}: {e}")
            continue
        if total + buf.tell() > args.max_mib * 2**20:
            break
        (dst / f"{i:05d}_{f.stem}.jpg").write_bytes(buf.getvalue())
        total += buf.tell()
        kept += 1
    print(f"pack: {kept} of {len(files)} images, {total / 2**20:.1f} MiB in {dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
