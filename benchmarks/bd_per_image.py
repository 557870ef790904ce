"""Per-image BD-rate (PSNR-RGB, PCHIP) of a candidate's mspview rows against another run's, from the
rows.jsonl that `mspview eval` writes: the "better on every image" check before shipping weights.

    python benchmarks/bd_per_image.py runs/kodak_new/rows.jsonl runs/kodak_shipped/rows.jsonl
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict

from mspview.eval.bdrate import bd_rate


def curves(path: str) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = defaultdict(list)
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r["codec"].startswith("msp") and "error" not in r:
                out[r["image"]].append((r["bpp"], r["psnr-rgb"]))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("test", help="the candidate's rows.jsonl")
    p.add_argument("anchor", help="the rows.jsonl to judge it against")
    args = p.parse_args()
    new, old = curves(args.test), curves(args.anchor)
    rates = {}
    for image in sorted(set(new) & set(old)):
        a, b = sorted(old[image]), sorted(new[image])
        rates[image] = bd_rate([[x for x, _ in a], [y for _, y in a]], [[x for x, _ in b], [y for _, y in b]],
                               args.anchor, args.test).bd_rate
    for image, r in rates.items():
        print(f"{image:<24} {r:+6.2f} %")
    worse = [i for i, r in rates.items() if r > 0]
    print(f"{len(rates)} images: {min(rates.values()):+.2f} .. {max(rates.values()):+.2f} %; worse on {len(worse)}"
          + (f": {', '.join(worse)}" if worse else ""))
    return 1 if worse else 0


if __name__ == "__main__":
    raise SystemExit(main())
