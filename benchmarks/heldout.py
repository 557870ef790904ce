"""Build the held-out high-resolution evaluation set: modern photos from a source the model never trains
on, downscaled so that the long side is 1280 pixels (a factor of 0.21-0.63 of the camera JPEGs, which
removes their block artefacts), converted to sRGB, saved as PNG, and checked against the committed
manifest (docs/heldout/MANIFEST.tsv: the source file's and the PNG's SHA-256).

    python benchmarks/heldout.py SOURCE_DIR OUT_DIR            # build and check
    python benchmarks/heldout.py SOURCE_DIR OUT_DIR --write     # (re)write the manifest

SOURCE_DIR holds the 30 JPEGs of Unsplash/jpg_original in the public repository SqueezeSoftware/test_files
(commit ba32ed75f9788f6004d749bdf6d725975e6dd98c), under the Unsplash licence (free use, no permission
needed). Keep them and OUT_DIR out of this repository; train on neither.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mspview.codec.imageio import load_image  # noqa: E402  (EXIF orientation, ICC -> sRGB)

MANIFEST = Path(__file__).resolve().parents[1] / "docs" / "heldout" / "MANIFEST.tsv"
LONG_SIDE = 1280
SOURCE = "SqueezeSoftware/test_files@ba32ed75f9788f6004d749bdf6d725975e6dd98c:Unsplash/jpg_original"
FIELDS = ["image", "width", "height", "png_sha256", "source", "source_sha256", "licence"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--write", action="store_true", help="write the manifest instead of checking against it")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for src in sorted(args.src.glob("*.jpg")):
        rgb = load_image(src).rgb
        h, w = rgb.shape[:2]
        f = LONG_SIDE / max(w, h)
        size = (round(w * f), round(h * f))
        png = args.out / (src.stem.removesuffix("-unsplash") + ".png")
        Image.fromarray(rgb).resize(size, Image.LANCZOS).save(png, optimize=False, compress_level=6)
        rows.append({"image": png.name, "width": size[0], "height": size[1], "png_sha256": sha256(png),
                     "source": f"{SOURCE}/{src.name}", "source_sha256": sha256(src), "licence": "Unsplash"})
    if args.write:
        with open(MANIFEST, "w", newline="") as fh:
            writer = csv.DictWriter(fh, FIELDS, delimiter="\t")
            writer.writeheader()
            writer.writerows(rows)
        print(f"{len(rows)} images; manifest written to {MANIFEST}")
        return 0
    with open(MANIFEST, newline="") as fh:
        expected = {r["image"]: r for r in csv.DictReader(fh, delimiter="\t")}
    bad = [r["image"] for r in rows if expected.get(r["image"], {}).get("png_sha256") != r["png_sha256"]]
    missing = sorted(set(expected) - {r["image"] for r in rows})
    print(f"{len(rows)} images built in {args.out}; {len(bad)} differ from the manifest, {len(missing)} missing")
    return 1 if bad or missing else 0


if __name__ == "__main__":
    sys.exit(main())
