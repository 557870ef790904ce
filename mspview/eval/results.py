"""Results in CompressAI's JSON format, shared by eval, plots and the published anchors.

    {"name": ..., "description": ..., "results": {"bpp": [...], "psnr-rgb": [...],
     "ms-ssim-rgb": [...], "encoding_time": [...], "decoding_time": [...]}}
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..resources import ANCHORS

KEYS = ("bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time")


def make(name: str, description: str, points: list[dict]) -> dict:
    """points: one dict per rate point with the KEYS (already averaged over images)."""
    return {"name": name, "description": description,
            "results": {k: [float(p[k]) for p in points] for k in KEYS if all(k in p for p in points)}}


def average(per_image: list[dict]) -> dict:
    out = {}
    for k in KEYS:
        vals = [r[k] for r in per_image if k in r and np.isfinite(r[k])]
        if vals:
            out[k] = float(np.mean(vals))
    return out


def load(path: str | Path) -> dict:
    d = json.loads(Path(path).read_text())
    if "results" not in d or "bpp" not in d["results"]:
        raise ValueError(f"{path}: not a results file (no results.bpp)")
    return d


def anchors(folder: Path = ANCHORS) -> dict[str, dict]:
    """Published anchors keyed by file stem (vtm, hm, bpg_444_x265_ycbcr, webp, ...)."""
    if not folder.is_dir():
        return {}
    out = {}
    for f in sorted(folder.glob("*.json")):
        try:
            out[f.stem] = load(f)
        except (ValueError, OSError):
            continue
    return out


def curve(results: dict, metric: str = "psnr-rgb") -> tuple[list, list]:
    r = results["results"]
    return r["bpp"], r.get(metric, [])
