"""The app's working state, free of Qt: the open image (or .msp file), every result made for it, the
one the detail views show, this image's RD sweep. The window renders it; tests read it.

Every encode of the current image is kept (each with its comparison files) until the image changes,
within RESULTS_MEMORY bytes of decoded images: the oldest results go first (a 64 MP image is ~200 MB
per decoded image, so about five are kept; a Kodak image, hundreds).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..codec.imageio import LoadedImage
from ..codec.metrics import psnr_uint8
from ..eval.metrics import ms_ssim
from .jobs import EncodeResult, Item, RDSweep, Readout, percent_smaller

RESULTS_MEMORY = 1 << 30
ROWS = ["bytes", "bpp", "PSNR dB", "MS-SSIM", "encode s", "decode s", "setting", "notes"]  # a readout's cells


def fmt(v, digits: int) -> str:
    """A figure, or nothing where there is none (never 'nan')."""
    return "" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{digits}f}"


def cells(r: Readout) -> list[str]:
    """A readout as the rows of ROWS, as every view and report writes them."""
    return [f"{r.nbytes:,}", f"{r.bpp:.4f}", fmt(r.psnr, 2), fmt(r.ms_ssim, 4), fmt(r.encode_s, 2),
            fmt(r.decode_s, 3), r.setting, "\n".join(r.notes)]


@dataclass
class View:
    """One image the compare view can show."""
    name: str
    pixels: np.ndarray
    item: Item | None  # None: the original


@dataclass
class Session:
    image: LoadedImage | None = None
    path: Path | None = None  # the image or .msp file opened
    results: list[EncodeResult] = field(default_factory=list)
    current: EncodeResult | None = None  # what the readouts, bit views and previews show
    rd: RDSweep | None = None
    dropped: int = 0  # results let go for the memory cap

    def open_image(self, image: LoadedImage, path: Path) -> None:
        self.image, self.path = image, path
        self._forget()

    def open_file(self, path: Path) -> None:
        """A .msp file: no original to compare with until its decode is in."""
        self.image, self.path = None, path
        self._forget()

    def _forget(self) -> None:
        self.results, self.current, self.rd, self.dropped = [], None, None, 0

    def add(self, result: EncodeResult, current: bool = True) -> int:
        """Keep a result (the current one unless said otherwise: a side's classical file); the number of
        old results let go for memory."""
        self.results.append(result)
        if current:
            self.current = result
        dropped = 0
        while len(self.results) > 1 and self.memory() > RESULTS_MEMORY:
            gone = self.results.pop(0)
            if gone is self.current:
                self.current = next((r for r in reversed(self.results) if r.source != "side"), None)
            dropped += 1
        self.dropped += dropped
        return dropped

    def find(self, request) -> EncodeResult | None:
        """A kept result made by exactly this request (not a cancelled one)."""
        return next((r for r in self.results if r.request is not None and r.request == request), None)

    def memory(self) -> int:
        return sum(item.image.nbytes for r in self.results for item in r.items)

    def views(self) -> list[View]:
        """The original, then every item of every kept result, under names that tell them apart; a file
        kept twice (the same mspview file beside two comparisons) is shown once."""
        out = [View("original", self.image.rgb, None)] if self.image is not None else []
        seen: dict[str, int] = {}
        files: set[tuple[str, bytes]] = set()
        for r in self.results:
            for item in r.items:
                if (item.suffix, item.data) in files:
                    continue
                files.add((item.suffix, item.data))
                name = f"{item.readout.title} · {item.readout.bpp:.3f} bpp"
                seen[name] = seen.get(name, 0) + 1
                out.append(View(name if seen[name] == 1 else f"{name} ({seen[name]})", item.image, item))
        return out

    @property
    def title(self) -> str:
        if self.path is None:
            return ""
        size = f" {self.image.width}×{self.image.height}" if self.image is not None else ""
        return f"{self.path.name}{size}"


def newest_index(views: list[View]) -> int:
    """The newest result's mspview image (the last view whose item is an mspview file)."""
    for i in range(len(views) - 1, -1, -1):
        if views[i].item is not None and views[i].item.suffix == ".msp" and views[i].item.readout.codec == "mspview":
            return i
    return min(1, len(views) - 1)


def shown_panes(views: list[View], mode: str, picks: tuple[int, int], current: list[Item]) -> list[View]:
    """What the compare view shows in a mode: one image ("single"), the two picked ("split"), a grid of
    the original, the current result's files and the two picked ("side"), or nothing ("diff": the
    difference of the two picked is drawn instead)."""
    picked = [views[picks[0]], views[picks[1]]]
    if mode == "single":
        return views
    if mode == "side":
        return [v for v in views if v.item is None or any(v.item is i for i in current) or any(v is p for p in picked)]
    if mode == "diff":
        return []
    return picked


def headline(result: EncodeResult) -> str:
    """What a comparison found, in words: our size and quality, the PSNR gap at the same bpp, the size
    saved against the comparison's file of equal PSNR (interpolated when no setting hits it)."""
    o = result.ours.readout
    lines = [f"{o.codec} ({o.role}, {o.setting}): {o.nbytes:,} bytes, {o.bpp:.3f} bpp" + (f", {o.psnr:.2f} dB" if o.psnr else "")]
    same = result.same
    if same and o.psnr is not None:
        at = ("the same bpp" if not same.note else f"the same bpp ({same.note})" if same.interpolated
              else f"{same.bpp:.3f} bpp ({same.note})")
        lines.append(f"{o.psnr - same.psnr:+.2f} dB against {same.codec} at {at}")
    eq = result.equal
    if eq and eq.nbytes:
        than = (f"than {eq.codec} at equal PSNR ({eq.nbytes:,.0f} bytes, {eq.note})" if eq.interpolated
                else f"than {eq.codec}'s {eq.nbytes:,.0f}-byte file of equal PSNR")
        lines.append(f"{percent_smaller(o.nbytes, eq.nbytes)} {than}")
    elif eq:
        lines.append(f"no {eq.codec} file of equal PSNR: {eq.note}")
    lines += result.notes
    return "\n".join(lines)


@dataclass
class RegionStats:
    """One image's figures over a rectangle of the picture (x0, y0, x1, y1 in pixels)."""
    name: str
    psnr: float | None  # against the original's same pixels
    ms_ssim: float | None  # None where the region is too small for its five scales
    bpp: float | None  # mspview's files: the bits its bit map puts in the region, per pixel


def region_stats(original: np.ndarray | None, views: list[View], box: tuple[int, int, int, int]) -> list[RegionStats]:
    """PSNR, MS-SSIM and (mspview's) bits of every view over the same rectangle: where a codec spends
    its bits and what it buys there. A latent position's bits count in proportion to the part of its
    16 x 16 pixels inside the rectangle."""
    x0, y0, x1, y1 = box
    ref = original[y0:y1, x0:x1] if original is not None else None
    out = []
    for v in views:
        if v.item is None:
            continue
        crop = v.pixels[y0:y1, x0:x1]
        quality = psnr_uint8(crop, ref) if ref is not None else None
        structure = ms_ssim(crop, ref) if ref is not None else None
        bpp = None
        maps = v.item.bitmaps
        if maps is not None:
            rows = np.clip(np.minimum(np.arange(maps.spatial.shape[0]) * 16 + 16, y1) - np.maximum(
                np.arange(maps.spatial.shape[0]) * 16, y0), 0, 16)
            cols = np.clip(np.minimum(np.arange(maps.spatial.shape[1]) * 16 + 16, x1) - np.maximum(
                np.arange(maps.spatial.shape[1]) * 16, x0), 0, 16)
            bpp = float((maps.spatial * np.outer(rows, cols) / 256).sum() / ((x1 - x0) * (y1 - y0)))
        out.append(RegionStats(v.name, quality, structure if structure == structure else None, bpp))
    return out


def region_text(stats: list[RegionStats], box: tuple[int, int, int, int]) -> str:
    x0, y0, x1, y1 = box
    parts = [f"region {x1 - x0}×{y1 - y0} at ({x0}, {y0}):"]
    for r in stats:
        figures = [f"{r.psnr:.2f} dB" if r.psnr is not None else "",
                   f"MS-SSIM {r.ms_ssim:.4f}" if r.ms_ssim is not None else "",
                   f"{r.bpp:.3f} bpp" if r.bpp is not None else ""]
        parts.append(f"{r.name}: {', '.join(f for f in figures if f)}")
    return "   ".join(parts)
