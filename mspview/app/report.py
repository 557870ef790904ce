"""The comparison report a person would send: one figure (the images side by side, each labelled with
its codec, size, bpp and PSNR; the readouts; the bytes per scale; this image's RD curves when measured)
and the same figures as CSV and JSON, with the settings, the software versions and the weights' id."""
from __future__ import annotations

import csv
import json
import platform
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .. import __version__
from ..codec.bitstream import VERSION as MSP_VERSION
from .jobs import EncodeResult
from .session import ROWS, Session, cells, headline


def versions() -> dict:
    import constriction
    import torch

    return {"mspview": __version__, "msp_format": MSP_VERSION, "python": platform.python_version(),
            "torch": torch.__version__, "numpy": np.__version__,
            "constriction": getattr(constriction, "__version__", "0.5.0")}


def provenance(result: EncodeResult, model_id: str, sha256: str | None, weights_path: str,
               **choices) -> tuple[dict, dict]:
    """What a report says made it: the result's profile and λ with the choices it was asked with, and the
    weights' identity."""
    return ({"profile": result.profile, "lambda": result.lam, **choices},
            {"model_id": model_id, "sha256": sha256, "path": weights_path})


def report_data(session: Session, result: EncodeResult, settings: dict, weights: dict) -> dict:
    ours = result.ours
    data = {"image": str(session.path), "width": ours.image.shape[1], "height": ours.image.shape[0],
            "settings": settings, "weights": weights, "versions": versions(),
            "summary": headline(result).split("\n"), "readouts": [asdict(i.readout) for i in result.items]}
    if ours.decoded is not None:
        h = ours.decoded.header
        data["msp"] = {"lambda": h.lam, "profile": h.profile, "header_bytes": len(ours.data) - h.payload_bytes,
                       "scale_bytes": {str(r.scale): r.nbytes for r in h.scales}}
    if result.equal is not None:
        data["equal_psnr"] = asdict(result.equal)
    if result.same is not None:
        data["same_bpp"] = asdict(result.same)
    if session.rd is not None:
        data["rd"] = {"points": [asdict(p) for p in session.rd.points], "bd_rate": session.rd.bd,
                      "versus": session.rd.codec_label}
    return data


def figure(path: Path, session: Session, result: EncodeResult) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panes = ([("original", session.image.rgb)] if session.image is not None else []) + \
        [(f"{i.readout.codec} {i.readout.role}", i.image) for i in result.items]
    rd = session.rd
    rows = 3 if rd is not None else 2
    fig = plt.figure(figsize=(4 * max(3, len(panes)), 4 * rows), dpi=100)
    grid = fig.add_gridspec(rows, max(3, len(panes)), height_ratios=[3] + [2] * (rows - 1))
    for j, (name, img) in enumerate(panes):
        ax = fig.add_subplot(grid[0, j])
        ax.imshow(img, interpolation="lanczos")
        ax.set_axis_off()
        r = next((i.readout for i in result.items if f"{i.readout.codec} {i.readout.role}" == name), None)
        ax.set_title(name + (f"\n{r.nbytes:,} B, {r.bpp:.3f} bpp" + (f", {r.psnr:.2f} dB" if r.psnr else "")
                             if r else ""), fontsize=9)
    table_ax = fig.add_subplot(grid[1, :-1])
    table_ax.set_axis_off()
    table_ax.set_title("\n".join(headline(result).split("\n")[:4]), fontsize=9, loc="left")
    body = [[c.replace("\n", "; ")[:60] for c in cells(i.readout)] for i in result.items]
    table = table_ax.table(cellText=list(map(list, zip(*body))), rowLabels=ROWS,
                           colLabels=[f"{i.readout.codec} {i.readout.role}" for i in result.items], loc="center",
                           cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    bars = fig.add_subplot(grid[1, -1])
    if result.ours.decoded is not None:
        scales = result.ours.decoded.header.scales
        bars.bar([f"s{r.scale}" for r in scales], [r.nbytes for r in scales], color="#4e79a7")
        bars.set_title("mspview bytes per scale (exact)", fontsize=9)
        bars.set_ylabel("bytes")
    if rd is not None:
        ax = fig.add_subplot(grid[2, :])
        for codec, style in (("mspview", "o-"), (rd.codec, "s-")):
            pts = rd.curve(codec)
            if pts:
                ax.plot([p.bpp for p in pts], [p.psnr for p in pts], style, label=codec)
        o = result.ours.readout
        if o.psnr is not None:
            ax.plot([o.bpp], [o.psnr], "*", ms=14, color="#e15759", label="this encode")
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel("PSNR-RGB dB")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
        ax.set_title("this image's RD curves; BD-rate " + ", ".join(
            f"{k} {v:+.1f} %" if isinstance(v, float) else f"{k}: {v}" for k, v in rd.bd.items()), fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_report(folder: Path, session: Session, result: EncodeResult, settings: dict, weights: dict) -> list[Path]:
    stem = session.path.stem if session.path else "image"
    data = report_data(session, result, settings, weights)
    paths = [folder / f"{stem}_report.png", folder / f"{stem}_report.json", folder / f"{stem}_report.csv"]
    figure(paths[0], session, result)
    paths[1].write_text(json.dumps(data, indent=2, default=float) + "\n")
    with open(paths[2], "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["codec", "role", "label", "bytes", "bpp", "psnr_db", "ms_ssim", "encode_s", "decode_s",
                    "setting", "notes", "image", "lambda", "profile", "weights_sha256", "mspview"])
        for n, i in enumerate(result.items):
            r = i.readout
            ours = n == 0  # lambda, profile and weights are mspview's file's; a comparison row has its setting
            w.writerow([r.codec, r.role, r.label, r.nbytes, r.bpp, r.psnr, r.ms_ssim, r.encode_s, r.decode_s,
                        r.setting, "; ".join(r.notes), str(session.path), result.lam if ours else "",
                        result.profile if ours else "", weights.get("sha256") if ours else "", __version__])
    return paths


def comparison_files(folder: Path, session: Session, result: EncodeResult) -> list[Path]:
    """Every file of a result as its real bytes (the .msp and the comparison's files), named after the
    image and what made them."""
    stem = session.path.stem if session.path else "image"
    out = []
    for item in result.items:
        r = item.readout
        name = f"{stem}_{r.codec}_{r.role}".replace(" ", "_").replace(",", "").replace("(", "").replace(")", "")
        path = folder / f"{name}{item.suffix}"
        path.write_bytes(item.data)
        out.append(path)
    return out

