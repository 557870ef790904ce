"""`mspview eval DIR`: rate-distortion sweep of mspview and classical codecs over a folder of images.

Writes, under --out: one CompressAI-format results JSON per codec (averaged per rate point), a CSV
of every (image, codec, setting) row, RD plots (PSNR and MS-SSIM vs bpp) against the published
anchors, and a BD-rate table (PCHIP; anchor and overlap named) as Markdown and JSON.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

from ..codec import profiles
from ..codec.coder import decode
from ..codec.errors import MSPError
from ..codec.imageio import load_image
from ..codec.lof import run_profile
from ..commands.common import add_model_options, open_model, run_tool
from . import classical, results
from .bdrate import bd_rate, span_gap
from .metrics import bpp, ms_ssim, psnr

DEFAULT_CODECS = "msp,jpeg,webp,avif,avif420,heic,jxl,jpeg2000"
# Which of our measured curves and which published anchors each BD-rate row compares.
ANCHOR_STEMS = ("webp", "jpeg2000", "jpeg", "bpg_444_x265_ycbcr", "hm", "vtm", "av1",
                "compressai-bmshj2018-hyperprior_mse_cpu", "compressai-mbt2018-mean_mse_cpu")


class Progress:
    def __init__(self, total: int, stream=sys.stderr):
        self.total, self.done, self.t0, self.stream = total, 0, time.time(), stream

    def step(self, label: str) -> None:
        self.done += 1
        el = time.time() - self.t0
        eta = el / self.done * (self.total - self.done)
        n = int(30 * self.done / self.total)
        self.stream.write(f"\r[{'#' * n}{'.' * (30 - n)}] {self.done}/{self.total} {label:<28} "
                          f"{el:6.0f}s elapsed, ~{eta:5.0f}s left")
        self.stream.flush()
        if self.done == self.total:
            self.stream.write("\n")


def sweep_msp(lm, files, lambdas, profile, progress) -> list[dict]:
    rows = []
    for lam in lambdas:
        for f in files:
            img = load_image(f)
            t = time.perf_counter()
            res = run_profile(lm, img, lam, profile)
            enc_s = time.perf_counter() - t
            t = time.perf_counter()
            dec = decode(lm, res.encoded.data)
            dec_s = time.perf_counter() - t
            rows.append({"image": f.name, "codec": f"msp-{profile.name}", "setting": lam,
                         "bytes": len(res.encoded.data), "bpp": bpp(len(res.encoded.data), img.width, img.height),
                         "psnr-rgb": psnr(dec.image, img.rgb), "ms-ssim-rgb": ms_ssim(dec.image, img.rgb),
                         "encoding_time": enc_s, "decoding_time": dec_s})
            progress.step(f"msp-{profile.name} {f.name} λ={lam:g}")
    return rows


def sweep_classical(codec: classical.Classical, files, progress) -> list[dict]:
    rows = []
    for setting in codec.sweep:
        for f in files:
            img = load_image(f)
            t = time.perf_counter()
            data = codec.encode(img.rgb, setting)
            enc_s = time.perf_counter() - t
            t = time.perf_counter()
            out = codec.decode(data)
            dec_s = time.perf_counter() - t
            rows.append({"image": f.name, "codec": codec.name, "setting": setting, "bytes": len(data),
                         "bpp": bpp(len(data), img.width, img.height), "psnr-rgb": psnr(out, img.rgb),
                         "ms-ssim-rgb": ms_ssim(out, img.rgb), "encoding_time": enc_s, "decoding_time": dec_s})
            progress.step(f"{codec.name} {f.name} {codec.knob}={setting:g}")
    return rows


def to_results(name: str, description: str, rows: list[dict]) -> dict:
    points = []
    for setting in dict.fromkeys(r["setting"] for r in rows):
        points.append(results.average([r for r in rows if r["setting"] == setting]))
    points.sort(key=lambda p: p["bpp"])
    return results.make(name, description, points)


def bd_table(ours: dict[str, dict], measured: dict[str, dict], anchors: dict[str, dict]) -> list[dict]:
    table = []
    for test_name, test in ours.items():
        refs = [(f"{k} (measured here)", v) for k, v in measured.items()]
        refs += [(f"{k} (published)", anchors[k]) for k in ANCHOR_STEMS if k in anchors]
        for ref_name, ref in refs:
            for metric in ("psnr-rgb", "ms-ssim-rgb"):
                try:
                    r = bd_rate(results.curve(ref, metric), results.curve(test, metric), ref_name, test_name,
                                metric=metric)
                except (MSPError, ValueError, KeyError):
                    continue
                table.append({"test": test_name, "anchor": ref_name, "metric": metric,
                              "bd_rate": round(r.bd_rate, 2), "overlap": [round(v, 4) for v in r.overlap]})
    return table


def parse_span(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise MSPError(f"--span must be LO,HI in bpp (got {text!r})") from None
    if not 0 < lo < hi:
        raise MSPError(f"--span needs 0 < LO < HI (got {text!r})")
    return lo, hi


def span_table(ours: dict[str, dict], measured: dict[str, dict], anchors: dict[str, dict],
               span: tuple[float, float]) -> list[dict]:
    """PSNR difference at equal rate over `span`, against every reference: worst point and mean."""
    refs = [(f"{k} (measured here)", v) for k, v in measured.items()]
    refs += [(f"{k} (published)", anchors[k]) for k in ANCHOR_STEMS if k in anchors]
    table = []
    for test_name, test in ours.items():
        for ref_name, ref in refs:
            try:
                g = span_gap(results.curve(ref, "psnr-rgb"), results.curve(test, "psnr-rgb"), span, ref_name, test_name)
            except (MSPError, ValueError, KeyError):
                continue
            row = {"test": test_name, "anchor": ref_name, "span": list(span), "holds": bool(g.holds),
                   "covered": [round(v, 4) for v in g.covered] if g.covered else None}
            if g.covered:
                row.update(worst_db=round(g.worst, 3), worst_at_bpp=round(g.worst_at, 4), mean_db=round(g.mean, 3))
            table.append(row)
    return table


def plot(out_dir: Path, curves: dict[str, dict], anchors: dict[str, dict], title: str = "Kodak",
         max_bpp: float = 1.3) -> list[Path]:
    """One RD plot per metric: published anchors dashed, measured codecs solid, mspview on top; the
    legend beside the axes (inside, it hid the curves' high-rate ends), the y range fitted to what is
    drawn below max_bpp. MS-SSIM is drawn in dB, -10 log10(1 - MS-SSIM), as papers do: on its own scale
    all curves crowd under 1.0 above 0.5 bpp."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for metric, label in (("psnr-rgb", "PSNR-RGB (dB)"), ("ms-ssim-rgb", "MS-SSIM-RGB (dB)")):
        to_y = (lambda v: -10 * np.log10(max(1 - v, 1e-10))) if metric.startswith("ms-ssim") else float
        fig, ax = plt.subplots(figsize=(10, 6), dpi=110)
        shown: list[float] = []

        def draw(r: dict, *style, **kw) -> None:
            ys = [to_y(v) for v in r[metric]]
            ax.plot(r["bpp"], ys, *style, **kw)
            shown.extend(y for b, y in zip(r["bpp"], ys) if b <= max_bpp and np.isfinite(y))

        for k in ANCHOR_STEMS:
            if k in anchors and metric in anchors[k]["results"]:
                draw(anchors[k]["results"], "--", lw=1, alpha=0.7, label=f"{anchors[k]['name']} (published)")
        for name, res in curves.items():
            if metric in res["results"]:
                ours = name.startswith("msp")
                draw(res["results"], "o-" if ours else "s-", lw=2.5 if ours else 1.2, ms=4, label=res["name"],
                     zorder=5 if ours else 3)
        ax.set_xlim(0, max_bpp)
        if shown:
            lo, hi = min(shown), max(shown)
            pad = 0.04 * (hi - lo or 1)
            ax.set_ylim(lo - pad, hi + pad)
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        ax.set_title(f"{title} rate-distortion, {label}")
        p = out_dir / f"rd_{metric}.png"
        fig.savefig(p, bbox_inches="tight")
        plt.close(fig)
        paths.append(p)
    return paths


def update_card(lm, rows: list[dict], n_images: int, folder: Path) -> None:
    card_file = lm.path.with_suffix(".json")
    card = json.loads(card_file.read_text())
    card["kodak_fast"] = [{"lambda": lam, "bpp": round(float(np.mean([r["bpp"] for r in rows if r["setting"] == lam])), 5),
                           "psnr": round(float(np.mean([r["psnr-rgb"] for r in rows if r["setting"] == lam])), 3)}
                          for lam in dict.fromkeys(r["setting"] for r in rows)]
    card["kodak_fast_images"] = f"{n_images} images from {folder.name}, real .msp files"
    card_file.write_text(json.dumps(card, indent=2) + "\n")


def reusable(out: Path, codecs, image_names: set[str]) -> dict[str, tuple[dict, list[dict]]]:
    """Classical results already in OUT for exactly these images: {codec: (results JSON, CSV rows)}."""
    csv_path = out / "per_image.csv"
    if not csv_path.exists():
        return {}
    with open(csv_path, newline="") as fh:
        old = list(csv.DictReader(fh))
    found = {}
    for c in codecs:
        rows = [{**r, **{k: float(r[k]) for k in ("setting", "bytes", "bpp", "psnr-rgb", "ms-ssim-rgb",
                                                    "encoding_time", "decoding_time")}}
                for r in old if r["codec"] == c.name]
        if (out / f"{c.name}.json").exists() and rows and {r["image"] for r in rows} == image_names:
            found[c.name] = (json.loads((out / f"{c.name}.json").read_text()), rows)
    return found


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
    p.add_argument("--anchors", default=str(results.ANCHORS), help="folder of published results JSON")
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
        folder = Path(args.folder)
        files = sorted(f for f in folder.iterdir() if f.suffix.lower() in (".png", ".jpg", ".jpeg", ".ppm", ".bmp"))
        if args.limit:
            files = files[: args.limit]
        if not files:
            raise MSPError(f"no images in {folder}")
        names = [c.strip() for c in args.codecs.split(",") if c.strip()]
        codecs = [classical.get(n) for n in names if n != "msp"]
        profile = profiles.get(args.profile)
        lm = open_model(args) if "msp" in names else None
        lambdas = ([float(v) for v in args.lambdas.split(",")] if args.lambdas
                   else list(lm.model.config.lambdas) if lm else [])
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        reused = reusable(out, codecs, {f.name for f in files}) if args.reuse else {}
        codecs = [c for c in codecs if c.name not in reused]
        total = len(files) * (len(lambdas) + sum(len(c.sweep) for c in codecs))
        prog = Progress(total)
        rows: list[dict] = []
        ours, measured = {}, {}
        if lm:
            r = sweep_msp(lm, files, lambdas, profile, prog)
            rows += r
            name = f"mspview-{profile.name}"
            ours[name] = to_results(name, f"mspview {lm.model_id} weights {lm.sha256[:12]}, profile {profile.name}, "
                                          f"device {lm.model.device}", r)
            if args.update_card and profile.name == "fast":
                update_card(lm, r, len(files), folder)
        for name, (res, r) in reused.items():
            rows += r
            measured[name] = res
        for c in codecs:
            r = sweep_classical(c, files, prog)
            rows += r
            measured[c.name] = to_results(c.label, f"{c.label}, {c.knob} sweep {list(c.sweep)}", r)
        for name, res in {**ours, **measured}.items():
            (out / f"{name}.json").write_text(json.dumps(res, indent=2) + "\n")
        with open(out / "per_image.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0].keys()))
            w.writeheader()
            w.writerows(rows)
        anchors = results.anchors(Path(args.anchors))
        table = bd_table(ours, measured, anchors)
        (out / "bd_rate.json").write_text(json.dumps(table, indent=2) + "\n")
        md = ["| test | anchor | metric | BD-rate | overlap |", "| --- | --- | --- | ---: | --- |"]
        md += [f"| {t['test']} | {t['anchor']} | {t['metric']} | {t['bd_rate']:+.2f} % | "
               f"{t['overlap'][0]:.3f}–{t['overlap'][1]:.3f} |" for t in table]
        gaps = span_table(ours, measured, anchors, span)
        (out / "span.json").write_text(json.dumps(gaps, indent=2) + "\n")
        md += ["", f"PSNR-RGB difference at equal rate over {span[0]:g}–{span[1]:g} bpp (PCHIP over log-rate, "
                   "only where both curves have points; better over the span = covers all of it and worst > 0):", "",
               "| test | anchor | covered (bpp) | worst (dB) | at bpp | mean (dB) | better over the span |",
               "| --- | --- | --- | ---: | ---: | ---: | --- |"]
        md += [f"| {g['test']} | {g['anchor']} | {g['covered'][0]:.3f}–{g['covered'][1]:.3f} | {g['worst_db']:+.2f} | "
               f"{g['worst_at_bpp']:.3f} | {g['mean_db']:+.2f} | {'yes' if g['holds'] else 'no'} |"
               for g in gaps if g["covered"]]
        (out / "bd_rate.md").write_text("\n".join(md) + "\n")
        plot(out, {**ours, **measured}, anchors, title=folder.resolve().name.capitalize())
        cmd = "mspview eval " + " ".join(argv if argv is not None else sys.argv[2:])
        (out / "COMMAND.txt").write_text(cmd + "\n")

        print(f"\n{len(files)} images from {folder}; results in {out}/")
        print(f"{'codec':<34} {'bpp':>24} {'PSNR':>30}")
        for name, res in {**ours, **measured}.items():
            r = res["results"]
            print(f"{res['name'][:34]:<34} {' '.join(f'{v:.3f}' for v in r['bpp'][:6]):>24} "
                  f"{' '.join(f'{v:.2f}' for v in r['psnr-rgb'][:6]):>30}")
        print("\nBD-rate (PSNR-RGB, PCHIP; negative = fewer bits than the anchor):")
        for t in table:
            if t["metric"] == "psnr-rgb":
                print(f"  {t['test']} vs {t['anchor']:<52} {t['bd_rate']:+7.2f} %  "
                      f"(overlap {t['overlap'][0]:.2f}-{t['overlap'][1]:.2f} dB)")
        print(f"\nPSNR difference at equal rate over {span[0]:g}-{span[1]:g} bpp (worst / mean, where both curves have points):")
        for g in gaps:
            where = (f"covered {g['covered'][0]:.3f}-{g['covered'][1]:.3f} bpp  worst {g['worst_db']:+.2f} dB "
                     f"at {g['worst_at_bpp']:.3f}  mean {g['mean_db']:+.2f} dB" if g["covered"] else "no common rates")
            print(f"  {g['test']} vs {g['anchor']:<52} {where}  {'BETTER' if g['holds'] else ''}")
        return 0

    return run_tool("eval", body)
