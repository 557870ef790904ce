"""`mspview eval DIR`: rate-distortion sweep of mspview and classical codecs over a folder of images,
against the published anchors, with BD-rates and the PSNR gap over a rate span (eval/sweep.py)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..codec import profiles
from ..codec.errors import MSPError
from ..eval import classical, results
from ..eval.sweep import Report, evaluate, image_files, update_card, write_report
from ..resources import ANCHORS
from .common import add_model_options, open_model, run_tool

DEFAULT_CODECS = "msp,jpeg,webp,avif,avif420,heic,jxl,jpeg2000"


class Progress:
    """A terminal progress line: bar, count, label, elapsed and estimated time left."""

    def __init__(self, stream=sys.stderr):
        self.t0, self.stream = time.time(), stream

    def __call__(self, label: str, done: int, total: int) -> None:
        el = time.time() - self.t0
        eta = el / done * (total - done)
        n = int(30 * done / total)
        self.stream.write(f"\r[{'#' * n}{'.' * (30 - n)}] {done}/{total} {label:<28} {el:6.0f}s elapsed, ~{eta:5.0f}s left")
        self.stream.flush()
        if done == total:
            self.stream.write("\n")


def parse_span(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise MSPError(f"--span must be LO,HI in bpp (got {text!r})") from None
    if not 0 < lo < hi:
        raise MSPError(f"--span needs 0 < LO < HI (got {text!r})")
    return lo, hi


def print_summary(report: Report, files: int, folder: Path, out: Path) -> None:
    lo, hi = report.span
    print(f"\n{files} images from {folder}; results in {out}/")
    print(f"{'codec':<34} {'bpp':>24} {'PSNR':>30}")
    for res in {**report.ours, **report.measured}.values():
        r = res["results"]
        print(f"{res['name'][:34]:<34} {' '.join(f'{v:.3f}' for v in r['bpp'][:6]):>24} "
              f"{' '.join(f'{v:.2f}' for v in r['psnr-rgb'][:6]):>30}")
    print("\nBD-rate (PSNR-RGB, PCHIP; negative = fewer bits than the anchor):")
    for t in report.table:
        if t["metric"] == "psnr-rgb":
            print(f"  {t['test']} vs {t['anchor']:<52} {t['bd_rate']:+7.2f} %  "
                  f"(overlap {t['overlap'][0]:.2f}-{t['overlap'][1]:.2f} dB)")
    print(f"\nPSNR difference at equal rate over {lo:g}-{hi:g} bpp (worst / mean, where both curves have points):")
    for g in report.gaps:
        where = (f"covered {g['covered'][0]:.3f}-{g['covered'][1]:.3f} bpp  worst {g['worst_db']:+.2f} dB "
                 f"at {g['worst_at_bpp']:.3f}  mean {g['mean_db']:+.2f} dB" if g["covered"] else "no common rates")
        print(f"  {g['test']} vs {g['anchor']:<52} {where}  {'BETTER' if g['holds'] else ''}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mspview eval", description=__doc__.splitlines()[0])
    p.add_argument("folder", help="folder of test images (e.g. ../shared/data/kodak)")
    p.add_argument("--codecs", default=DEFAULT_CODECS, help=f"comma-separated (default {DEFAULT_CODECS})")
    p.add_argument("--profile", default="fast", help="mspview encode profile")
    p.add_argument("--lambdas", default=None, help="comma-separated lambdas (default: the model's trained set)")
    p.add_argument("--span", default="0.1,1.0", metavar="LO,HI",
                   help="rate span (bpp) over which to report the worst and mean PSNR difference to each anchor")
    p.add_argument("--limit", type=int, default=None, help="use only the first N images")
    p.add_argument("--out", default="eval-results", help="output folder")
    p.add_argument("--anchors", default=str(ANCHORS), help="folder of published results JSON")
    p.add_argument("--update-card", action="store_true",
                   help="store the per-lambda means (fast profile, all lambdas) in the weights' JSON card: "
                        "the app shows them as the expected bpp")
    p.add_argument("--reuse", action="store_true",
                   help="load classical codecs already measured in OUT (results JSON + per-image rows) "
                        "instead of encoding them again; mspview is always run")
    add_model_options(p)
    args = p.parse_args(argv)

    def body() -> int:
        span = parse_span(args.span)
        folder, out = Path(args.folder), Path(args.out)
        files = image_files(folder, args.limit)
        names = [c.strip() for c in args.codecs.split(",") if c.strip()]
        codecs = [classical.get(n) for n in names if n != "msp"]
        profile = profiles.get(args.profile)
        lm = open_model(args) if "msp" in names else None
        lambdas = ([float(v) for v in args.lambdas.split(",")] if args.lambdas
                   else list(lm.model.config.lambdas) if lm else [])
        if lm:
            for lam in lambdas:
                lm.rate(lam)  # refuse a bad lambda before hours of work
        anchors = results.anchors(Path(args.anchors))
        report = evaluate(files, lm, lambdas, profile, codecs, out, anchors, span, args.reuse, Progress())
        if lm and args.update_card and profile.name == "fast":
            update_card(lm, [r for r in report.rows if r["codec"] == "msp-fast"], len(files), folder)
        write_report(out, report, anchors, title=folder.resolve().name.capitalize())
        cmd = "mspview eval " + " ".join(argv if argv is not None else sys.argv[2:])
        (out / "COMMAND.txt").write_text(cmd + "\n")
        print_summary(report, len(files), folder, out)
        return 0

    return run_tool("eval", body)
