"""BD-rate (PSNR-RGB and MS-SSIM, PCHIP) of results files against each other, in CompressAI's JSON
format as `mspview eval` writes them: the way to judge a new weights file against the shipped one on
real files, and both against an anchor.

    python benchmarks/bd_between.py runs/kodak_new/mspview-fast.json --anchor runs/kodak_shipped/mspview-fast.json \
        --anchor docs/results/kodak/avif.json
"""
from __future__ import annotations

import argparse

from mspview.codec.errors import MSPError
from mspview.eval import results
from mspview.eval.bdrate import bd_rate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("tests", nargs="+", help="results JSON files to judge")
    p.add_argument("--anchor", action="append", required=True, help="results JSON to judge them against")
    args = p.parse_args()
    for test in args.tests:
        t = results.load(test)
        for anchor in args.anchor:
            a = results.load(anchor)
            for metric in ("psnr-rgb", "ms-ssim-rgb"):
                try:
                    r = bd_rate(results.curve(a, metric), results.curve(t, metric), anchor, test, metric=metric)
                except (MSPError, KeyError, ValueError) as e:
                    print(f"{test} vs {anchor} ({metric}): {e}")
                    continue
                print(f"{test} vs {anchor}: {r.bd_rate:+.2f} % ({metric}, overlap {r.overlap[0]:.3f}-{r.overlap[1]:.3f})")


if __name__ == "__main__":
    main()
