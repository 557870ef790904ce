"""`mspview eval DIR`: rate-distortion sweep of mspview and classical codecs over a folder of images,
against the published anchors, with BD-rates and the PSNR gap over a rate span (eval/sweep.py). Rows
go to OUT/rows.jsonl as they finish: the same command run again skips the rows it already has."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..codec import profiles
from ..codec.errors import MSPError
from ..eval import classical, learned, results, tasks
from ..eval.sweep import Report, evaluate, image_files, update_card, write_report
from ..resources import ANCHORS
from .common import add_model_options, open_model, run_tool

DEFAULT_CODECS = "msp,jpeg,webp,avif,avif420,heic,jxl,jpeg2000"


class Progress:
    """A terminal progress line: bar, rows done / total, failures, the last row, elapsed and time left
    (from this run's pace: rows found from an earlier run cost nothing)."""

    def __init__(self, stream=sys.stderr):
        self.t0, self.stream, self.first = time.time(), stream, None

    def __call__(self, row: dict, done: int, failed: int, total: int) -> None:
        el = time.time() - self.t0
        if self.first is None:
            self.first = done + failed - 1  # rows that were already there
        ran = done + failed - self.first
        eta = el / max(1, ran) * (total - done - failed)
        n = int(30 * done / total)
        label = f"{row['codec']} {row['image'][:24]} {row['setting']:g}"
        fails = f" {failed} failed" if failed else ""
        self.stream.write(f"\r[{'#' * n}{'.' * (30 - n)}] {done}/{total}{fails} {label:<40} {el:6.0f}s elapsed, "
                          f"~{eta:5.0f}s left")
        self.stream.flush()
        if done + failed >= total:
            self.stream.write("\n")

    def cluster(self, client) -> None:
        self.stream.write(f"Dask: {len(client.scheduler_info().get('workers', {}))} workers, "
                          f"dashboard {client.dashboard_link}\n")


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
    if report.errors:
        print(f"\n{len(report.errors)} tasks failed (run the same command again to retry them; listed in bd_rate.md):")
        for e in report.errors[:10]:
            print(f"  {e['image']} {e['codec']} {e['setting']:g}: {e['error']}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mspview eval", description=__doc__.splitlines()[0])
    p.add_argument("folder", help="folder of test images (e.g. ../shared/data/kodak)")
    p.add_argument("--codecs", default=DEFAULT_CODECS,
                   help=f"comma-separated (default {DEFAULT_CODECS}); a CompressAI model as "
                        "compressai:ARCH:CKPT[,CKPT...], one checkpoint per rate point")
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
    p.add_argument("--workers", type=int, default=0, metavar="N",
                   help="run the tasks on a Dask LocalCluster of N worker processes on this machine")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run the tasks on an existing Dask cluster (e.g. tcp://host:8786); images travel as "
                        "bytes, weights by path: every worker must read the same weights file (SHA-256 checked)")
    add_model_options(p)
    args = p.parse_args(argv)

    def body() -> int:
        span = parse_span(args.span)
        folder, out = Path(args.folder), Path(args.out)
        files = image_files(folder, args.limit)
        names = learned.split_codecs(args.codecs)
        codecs = [learned.from_spec(n) if n.startswith("compressai:") else classical.get(n) for n in names if n != "msp"]
        profile = profiles.get(args.profile)
        lm = open_model(args) if "msp" in names else None
        lambdas = ([float(v) for v in args.lambdas.split(",")] if args.lambdas
                   else list(lm.model.config.lambdas) if lm else [])
        if lm:
            for lam in lambdas:
                lm.rate(lam)  # refuse a bad lambda before hours of work
        anchors = results.anchors(Path(args.anchors))
        if args.workers < 0 or (args.workers and args.scheduler):
            raise MSPError("give --workers N (N >= 1) or --scheduler ADDRESS, not both")
        progress = Progress()
        report = evaluate(files, lm, lambdas, profile, codecs, out, anchors, span,
                          tasks.Cluster(args.workers, args.scheduler), progress, progress.cluster)
        if lm and args.update_card and profile.name == "fast":
            update_card(lm, [r for r in report.rows if r["codec"] == "msp-fast"], len(files), folder)
        write_report(out, report, anchors, title=folder.resolve().name.capitalize())
        cmd = "mspview eval " + " ".join(argv if argv is not None else sys.argv[2:])
        (out / "COMMAND.txt").write_text(cmd + "\n")
        print_summary(report, len(files), folder, out)
        return 0

    return run_tool("eval", body)
