"""Rate-distortion sweeps of mspview and classical codecs over a folder of images, and their report.

`evaluate` measures (as tasks, tasks.py: serial or on a Dask cluster, resumable); `write_report` writes, under a folder: one CompressAI-format results JSON per codec
(averaged per rate point), a CSV of every (image, codec, setting) row, RD plots (PSNR and MS-SSIM vs
bpp) against the published anchors, a BD-rate table (PCHIP; anchor and overlap named) and the PSNR gap
over a rate span, as Markdown and JSON. The command line is commands/eval.py.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..codec.errors import MSPError
from ..codec.weights import card_path
from ..resources import DEFAULT_WEIGHTS
from . import classical, results, tasks
from .bdrate import bd_rate, span_gap

# Which of our measured curves and which published anchors each BD-rate row compares.
ANCHOR_STEMS = ("webp", "jpeg2000", "jpeg", "bpg_444_x265_ycbcr", "hm", "vtm", "av1",
                "compressai-bmshj2018-hyperprior_mse_cpu", "compressai-mbt2018-mean_mse_cpu")


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
    card_file = card_path(lm.path)
    card = json.loads(card_file.read_text())
    card["kodak_fast"] = [{"lambda": lam, "bpp": round(float(np.mean([r["bpp"] for r in rows if r["setting"] == lam])), 5),
                           "psnr": round(float(np.mean([r["psnr-rgb"] for r in rows if r["setting"] == lam])), 3)}
                          for lam in dict.fromkeys(r["setting"] for r in rows)]
    card["kodak_fast_images"] = f"{n_images} images from {folder.name}, real .msp files"
    card_file.write_text(json.dumps(card, indent=2) + "\n")


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".ppm", ".bmp")


def image_files(folder: Path, limit: int | None = None) -> list[Path]:
    files = sorted(f for f in Path(folder).iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)[:limit]
    if not files:
        raise MSPError(f"no images in {folder}")
    return files


@dataclass
class Report:
    """What `evaluate` measured: results JSON per codec (ours: mspview; measured: classical), the
    per-image rows, the tasks that failed, the BD-rate table and the PSNR gaps over the span."""
    ours: dict[str, dict] = field(default_factory=dict)
    measured: dict[str, dict] = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    table: list[dict] = field(default_factory=list)
    gaps: list[dict] = field(default_factory=list)
    span: tuple[float, float] = (0.1, 1.0)


def evaluate(files: list[Path], lm, lambdas: list[float], profile, codecs: list[classical.Classical],
             out: Path, anchors: dict[str, dict], span: tuple[float, float], cluster: tasks.Cluster = tasks.Cluster(),
             progress=lambda _row, _done, _failed, _total: None, on_client=lambda _client: None) -> Report:
    """Run mspview (when `lm` is given) and the classical codecs over `files` as tasks (tasks.py), in this
    process or on `cluster`, resuming from the rows already in `out`; the report from the rows."""
    weights = ("" if lm.path == DEFAULT_WEIGHTS else str(lm.path), lm.sha256) if lm else None
    todo, images = tasks.plan(files, codecs, lambdas, profile.name, weights)
    rows, failed = tasks.run(todo, images, tasks.RowStore(out), cluster, progress, on_client)
    rows = tasks.numeric(rows)
    report = Report(span=span, rows=rows, errors=failed)
    if lm:
        name = f"mspview-{profile.name}"
        mine = [r for r in rows if r["codec"] == f"msp-{profile.name}"]
        if mine:
            report.ours[name] = to_results(name, f"mspview {lm.model_id} weights {lm.sha256[:12]}, profile "
                                                 f"{profile.name}", mine)
    for c in codecs:
        mine = [r for r in rows if r["codec"] == c.name]
        if mine:
            report.measured[c.name] = to_results(c.label, f"{c.label}, {c.knob} sweep {list(c.sweep)}", mine)
    report.table = bd_table(report.ours, report.measured, anchors)
    report.gaps = span_table(report.ours, report.measured, anchors, span)
    return report


def write_report(out: Path, report: Report, anchors: dict[str, dict], title: str) -> None:
    """Results JSON per codec, per-image CSV, BD-rate and span tables (JSON + Markdown), RD plots."""
    out.mkdir(parents=True, exist_ok=True)
    for name, res in {**report.ours, **report.measured}.items():
        (out / f"{name}.json").write_text(json.dumps(res, indent=2) + "\n")
    with open(out / "per_image.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(tasks.numeric(report.rows[:1])[0]) if report.rows else ["image"])
        w.writeheader()
        w.writerows(report.rows)
    if report.errors:
        md_errors = ["", "Tasks that failed (tried again by the next run):", ""]
        md_errors += [f"- {e['image']} {e['codec']} {e['setting']:g}: {e['error']}" for e in report.errors]
    else:
        md_errors = []
    (out / "bd_rate.json").write_text(json.dumps(report.table, indent=2) + "\n")
    (out / "span.json").write_text(json.dumps(report.gaps, indent=2) + "\n")
    lo, hi = report.span
    md = ["| test | anchor | metric | BD-rate | overlap |", "| --- | --- | --- | ---: | --- |"]
    md += [f"| {t['test']} | {t['anchor']} | {t['metric']} | {t['bd_rate']:+.2f} % | "
           f"{t['overlap'][0]:.3f}–{t['overlap'][1]:.3f} |" for t in report.table]
    md += ["", f"PSNR-RGB difference at equal rate over {lo:g}–{hi:g} bpp (PCHIP over log-rate, "
               "only where both curves have points; better over the span = covers all of it and worst > 0):", "",
           "| test | anchor | covered (bpp) | worst (dB) | at bpp | mean (dB) | better over the span |",
           "| --- | --- | --- | ---: | ---: | ---: | --- |"]
    md += [f"| {g['test']} | {g['anchor']} | {g['covered'][0]:.3f}–{g['covered'][1]:.3f} | {g['worst_db']:+.2f} | "
           f"{g['worst_at_bpp']:.3f} | {g['mean_db']:+.2f} | {'yes' if g['holds'] else 'no'} |"
           for g in report.gaps if g["covered"]]
    (out / "bd_rate.md").write_text("\n".join(md + md_errors) + "\n")
    plot(out, {**report.ours, **report.measured}, anchors, title=title)
