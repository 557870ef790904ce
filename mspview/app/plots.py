"""pyqtgraph views: live LOF curves, this image's RD curves, and bit-allocation views (bars per scale,
step and group; maps of bits over the image, summed or one scale at a time; bits per channel). Every
view has `clear()`, which the window calls when the image changes: no view shows another image's data.
Legends sit beside the plots, never on the curves."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QSizePolicy, QSlider, QTabWidget, QVBoxLayout,
                               QWidget)

from ..codec.bitstream import Header
from ..codec.coder import BitMaps
from ..codec.lof import LOFEvent
from ..codec.layout import BASE, STEP_NAMES
from .jobs import RDPoint, RDSweep

# Plain lines repaint fast. exitCleanup off: its atexit pass over graphics items crashes PySide6 at exit.
pg.setConfigOptions(antialias=False, imageAxisOrder="row-major", exitCleanup=False)
SCALE_COLOURS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#9c755f"]
SURROGATE, CHECK, BEST = "#4e79a7", "#f28e2b", "#e15759"
PLOT_MIN = (220, 150)  # no plot is squashed below this (the docks' minimum sizes follow)


def legend(*entries: tuple[str, str]) -> QLabel:
    """A legend as a wrapped line of coloured text beside the plots."""
    label = QLabel("  ".join(f'<span style="color:{c}">■</span>&nbsp;{t}' for c, t in entries))
    label.setWordWrap(True)
    return label


def plot_widget(**kw) -> pg.PlotWidget:
    w = pg.PlotWidget(**kw)
    w.setMinimumSize(*PLOT_MIN)
    for axis in ("left", "bottom"):
        w.getAxis(axis).enableAutoSIPrefix(False)  # "bits per pixel (x0.001)" helps no one
    return w


class LOFCurves(QWidget):
    """Rate, PSNR and total cost against iteration; true-cost checks marked, best so far in red.

    Events are buffered and the plots redrawn at most every REDRAW_MS: a repaint of three plots
    costs tens of milliseconds, and the UI thread must stay responsive during a fast LOF."""
    REDRAW_MS = 200

    def __init__(self, parent=None):
        super().__init__(parent)
        self._dirty = False
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._redraw)
        self._timer.start(self.REDRAW_MS)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(2, 0, 2, 0)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        outer.addWidget(self.message)
        row = QHBoxLayout()
        outer.addLayout(row, 1)
        self.plots = {}
        for key, title, unit in (("bpp", "rate", "bpp"), ("psnr", "distortion", "PSNR dB"), ("cost", "total cost J", "J")):
            w = plot_widget(title=title)
            w.setLabel("bottom", "iteration")
            w.setLabel("left", unit)
            surrogate = w.plot([], [], pen=pg.mkPen(SURROGATE, width=1))
            checks = w.plot([], [], pen=None, symbol="o", symbolSize=6, symbolBrush=CHECK)
            self.plots[key] = (w, surrogate, checks)
            row.addWidget(w)
        self.best = self.plots["cost"][0].plot([], [], pen=pg.mkPen(BEST, width=2))
        outer.addWidget(legend((SURROGATE, "each iteration: the noise surrogate (rate of y plus uniform noise, above "
                                           "the real file's; PSNR of the rounded latent)"),
                               (CHECK, "true-cost check: the real rate and PSNR"), (BEST, "best so far")))
        self.clear()

    def clear(self, message: str = "") -> None:
        """Empty the curves and reset their axes; `message` says why they will stay empty."""
        self.message.setText(message)
        self.message.setVisible(bool(message))
        self._iter = {k: ([], []) for k in self.plots}
        self._check = {k: ([], []) for k in self.plots}
        self._best = ([], [])
        for w, s, c in self.plots.values():
            s.setData([], [])
            c.setData([], [])
            w.enableAutoRange()
        self.best.setData([], [])

    def point_count(self) -> int:
        return len(self._iter["cost"][0]) + len(self._check["cost"][0])

    def last_iteration(self) -> int:
        return max(self._iter["cost"][0], default=0)

    def add(self, ev: LOFEvent) -> None:
        store = self._iter if ev.kind == "iter" else self._check
        for key, value in (("bpp", ev.bpp), ("psnr", ev.psnr), ("cost", ev.cost)):
            xs, ys = store[key]
            xs.append(ev.iteration)
            ys.append(value)
        if ev.kind != "iter":
            self._best[0].append(ev.iteration)
            self._best[1].append(ev.best_cost)
        self._dirty = True

    def _redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        self.best.setData(*self._best)
        for key, (_, s, c) in self.plots.items():
            s.setData(*self._iter[key])
            c.setData(*self._check[key])


class RDView(QWidget):
    """This image's PSNR against bpp: mspview at every trained λ and the comparison's sweep (points
    appear as the sweep measures them), the last encode starred, BD-rates above."""
    IDLE = "RD curve (Encode menu): this image at every trained λ and the comparison codec's settings"

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 0)
        self.summary = QLabel(self.IDLE)
        self.summary.setWordWrap(True)
        lay.addWidget(self.summary)
        self.plot = plot_widget()
        self.plot.setLabel("bottom", "bits per pixel")
        self.plot.setLabel("left", "PSNR-RGB dB")
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.setLimits(xMin=0)  # one point alone would otherwise centre an axis with negative bpp
        lay.addWidget(self.plot, 1)
        self.key = legend((SCALE_COLOURS[0], "mspview (fast)"), (CHECK, "comparison"), (BEST, "last encode ★"))
        lay.addWidget(self.key)
        self.hover = QLabel("hover a point for its file")
        lay.addWidget(self.hover)
        self.plot.scene().sigMouseMoved.connect(self._on_move)
        self.ours = self.plot.plot([], [], pen=pg.mkPen(SCALE_COLOURS[0], width=2), symbol="o", symbolSize=6,
                                   symbolBrush=SCALE_COLOURS[0])
        self.theirs = self.plot.plot([], [], pen=pg.mkPen(CHECK, width=1), symbol="s", symbolSize=5, symbolBrush=CHECK)
        self.current = self.plot.plot([], [], pen=None, symbol="star", symbolSize=14, symbolBrush=BEST)
        self.clear()

    def clear(self) -> None:
        self.summary.setText(self.IDLE)
        self.hover.setText("hover a point for its file")
        self.points: list[RDPoint] = []
        self.ours.setData([], [])
        self.theirs.setData([], [])
        self.current.setData([], [])
        self.plot.enableAutoRange()

    def add_point(self, point: RDPoint) -> None:
        self.points.append(point)
        self._redraw()

    def _redraw(self) -> None:
        for item, mine in ((self.ours, True), (self.theirs, False)):
            pts = sorted((p for p in self.points if (p.codec == "mspview") == mine), key=lambda p: p.bpp)
            item.setData([p.bpp for p in pts], [p.psnr for p in pts])

    def set_sweep(self, sweep: RDSweep) -> None:
        self.points = list(sweep.points)
        self._redraw()
        if sweep.codec:
            self.key.setText(legend((SCALE_COLOURS[0], "mspview (fast)"), (CHECK, sweep.codec_label),
                                    (BEST, "last encode ★")).text())
            parts = [f"{name} {v:+.1f} %" if isinstance(v, float) else f"{name}: {v}"
                     for name, v in (("PSNR", sweep.bd["psnr"]), ("MS-SSIM", sweep.bd["ms_ssim"]))]
            self.summary.setText(f"BD-rate of mspview (fast) against {sweep.codec_label} on this image "
                                 f"(negative = fewer bits): {', '.join(parts)}")
        else:
            self.summary.setText("mspview (fast) at every trained λ; choose a comparison codec for BD-rates")

    def point_near(self, bpp: float, psnr: float, pixels: float = 8.0) -> RDPoint | None:
        """The measured point within `pixels` screen pixels of (bpp, psnr), if any."""
        vb = self.plot.getPlotItem().vb
        (xr, yr), (w, h) = vb.viewRange(), (max(vb.width(), 1.0), max(vb.height(), 1.0))

        def dist(p: RDPoint) -> float:
            return math.hypot((p.bpp - bpp) / (xr[1] - xr[0]) * w, (p.psnr - psnr) / (yr[1] - yr[0]) * h)
        near = min(self.points, key=dist, default=None)
        return near if near is not None and dist(near) <= pixels else None

    def _on_move(self, pos) -> None:
        at = self.plot.getPlotItem().vb.mapSceneToView(pos)
        p = self.point_near(at.x(), at.y())
        if p:
            setting = f"λ {p.setting:g}" if p.codec.startswith("mspview") else f"setting {p.setting:g}"
            ssim = f", MS-SSIM {p.ms_ssim:.4f}" if math.isfinite(p.ms_ssim) else ""
            self.hover.setText(f"{p.codec} {setting}: {p.nbytes:,} bytes, {p.bpp:.4f} bpp, {p.psnr:.2f} dB{ssim}")

    def set_current(self, bpp: float | None, psnr: float | None) -> None:
        self.current.setData([bpp], [psnr]) if psnr is not None and bpp is not None else self.current.setData([], [])


def map_choices(num_scales: int) -> list[str]:
    """What the bit map can show for a file of `num_scales` + 1 scales: all summed, the base, then each
    finer scale."""
    return ["all scales", "base"] + [f"scale {s}" for s in range(num_scales - 1, -1, -1)]


def map_scale(choice: str, num_scales: int) -> int | None:
    """The scale a map choice shows (None: all summed)."""
    if choice == "all scales":
        return None
    return num_scales if choice == "base" else int(choice.split()[1])


class HeatMap(pg.GraphicsLayoutWidget):
    """Bits per latent position (16x16 pixels each) over the image, with colour bar, opacity and hover
    values."""
    hovered = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumSize(*PLOT_MIN)
        self.view = self.addViewBox(lockAspect=True, invertY=True)
        self.base = pg.ImageItem()
        self.heat = pg.ImageItem()
        self.view.addItem(self.base)
        self.view.addItem(self.heat)
        self.cmap = pg.colormap.get("inferno")
        self.bar = pg.ColorBarItem(values=(0, 1), colorMap=self.cmap, label="bits per latent position")
        self.bar.setImageItem(self.heat, insert_in=None)
        self.addItem(self.bar)
        self.bits: np.ndarray | None = None
        self.what = ""
        self.scene().sigMouseMoved.connect(self._on_move)

    def reset(self) -> None:
        """Empty. (Not `clear`: GraphicsLayoutWidget binds its layout's clear() over that name.)"""
        self.bits = None
        self.base.clear()
        self.heat.clear()

    def set_data(self, image: np.ndarray, bits: np.ndarray, what: str) -> None:
        gray = image.mean(axis=2) if image.ndim == 3 else image
        self.base.setImage(gray.astype(np.float32), levels=(0, 255))
        self.bits, self.what = bits, what
        hi = float(np.percentile(bits, 99)) if bits.size else 1.0
        self.heat.setImage(bits.astype(np.float32), levels=(0, max(hi, 1e-6)))
        self.heat.setRect(0, 0, 16 * bits.shape[1], 16 * bits.shape[0])  # one latent position = 16x16 pixels
        self.bar.setLevels((0, max(hi, 1e-6)))
        self.view.autoRange()

    def set_opacity(self, value: float) -> None:
        self.heat.setOpacity(value)

    def value_at(self, x: float, y: float) -> str:
        if self.bits is None:
            return ""
        i, j = int(y // 16), int(x // 16)
        if not (0 <= i < self.bits.shape[0] and 0 <= j < self.bits.shape[1]):
            return ""
        return (f"pixel ({int(x)}, {int(y)}) latent ({j}, {i}), {self.what}: {self.bits[i, j]:.1f} bits "
                f"({self.bits[i, j] / 256:.3f} bpp)")

    def _on_move(self, pos) -> None:
        p = self.view.mapSceneToView(pos)
        text = self.value_at(p.x(), p.y())
        if text:
            self.hovered.emit(text)


class BitAllocation(QTabWidget):
    """Bytes per chunk (estimated) and per scale (exact, from the file); a map of bits over the image
    (all scales or one); estimated bits per channel, by group. Everything exports (PNG and numbers)."""
    hovered = Signal(str)
    map_changed = Signal(str)  # the map choice, for the compare view's overlay

    def __init__(self, parent=None):
        super().__init__(parent)
        self.header: Header | None = None
        self.maps: BitMaps | None = None
        chunk_page = QWidget()
        chunk_lay = QVBoxLayout(chunk_page)
        chunk_lay.setContentsMargins(4, 2, 4, 0)
        # a wrapped label, not the plot title: a title is clipped when the dock is narrow
        self.scale_bytes = QLabel()
        self.scale_bytes.setWordWrap(True)
        chunk_lay.addWidget(self.scale_bytes)
        self.chunks = plot_widget()
        self.chunks.setLabel("left", "bytes per chunk (estimated)")
        self.chunks.showGrid(y=True, alpha=0.3)
        chunk_lay.addWidget(self.chunks, 1)
        self.chunk_hover = QLabel()
        chunk_lay.addWidget(self.chunk_hover)
        self.chunk_rows: list[str] = []
        self.chunks.scene().sigMouseMoved.connect(self._on_chunk_move)
        self.addTab(chunk_page, "Per scale / step / group")

        heat_page = QWidget()
        lay = QVBoxLayout(heat_page)
        lay.setContentsMargins(0, 0, 0, 0)
        self.heat = HeatMap()
        self.heat.hovered.connect(self.hovered)
        row = QHBoxLayout()
        self.map_choice = QComboBox()
        self.map_choice.addItems(map_choices(3))  # refilled for each file's scales
        self.map_choice.setToolTip("all scales: the bits of every 32x32-pixel block (2x2 latent positions, one of "
                                   "each polyphase component); one scale: the bits it spends, each coded position's "
                                   "spread over the image block it stands for")
        self.map_choice.currentTextChanged.connect(self._show_map)
        row.addWidget(self.map_choice)
        row.addWidget(QLabel("opacity"))
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(70)
        self.opacity.valueChanged.connect(lambda v: self.heat.set_opacity(v / 100))
        row.addWidget(self.opacity)
        lay.addLayout(row)
        self.hover_label = QLabel()
        self.hover_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.heat.hovered.connect(self.hover_label.setText)
        lay.addWidget(self.hover_label)
        lay.addWidget(self.heat, 1)
        self.addTab(heat_page, "Map over the image")

        channel_page = QWidget()
        clay = QVBoxLayout(channel_page)
        clay.setContentsMargins(4, 2, 4, 0)
        self.channels = plot_widget()
        self.channels.setLabel("bottom", "latent channel (groups of the MSP steps marked)")
        self.channels.setLabel("left", "bits (estimated)")
        clay.addWidget(self.channels, 1)
        self.channel_hover = QLabel()
        clay.addWidget(self.channel_hover)
        self.channels.scene().sigMouseMoved.connect(self._on_channel_move)
        self.addTab(channel_page, "Per channel")
        self.heat.set_opacity(0.7)
        self.image: np.ndarray | None = None
        self.clear()

    def clear(self) -> None:
        """Empty: the bars, the map, the channels (a new image, or no result yet)."""
        self.header, self.maps, self.image = None, None, None
        self.chunks.clear()
        self.channels.clear()
        self.heat.reset()
        self.chunk_rows = []
        self.scale_bytes.setText("exact bytes per scale: encode or open a file")
        self.chunk_hover.setText("hover a bar for its chunk")
        self.hover_label.setText("hover the map for values")
        self.channel_hover.setText("hover a bar for its channel")

    def set_data(self, header: Header, maps: BitMaps, image: np.ndarray) -> None:
        self.header, self.maps, self.image = header, maps, image
        choices = map_choices(header.num_scales)
        if [self.map_choice.itemText(i) for i in range(self.map_choice.count())] != choices:
            chosen = self.map_choice.currentText()
            self.map_choice.blockSignals(True)
            self.map_choice.clear()
            self.map_choice.addItems(choices)
            self.map_choice.setCurrentIndex(max(0, choices.index(chosen) if chosen in choices else 0))
            self.map_choice.blockSignals(False)
        self.chunks.clear()
        keys = list(maps.chunks)
        ys = np.array([maps.chunks[k] / 8 for k in keys], float)
        brushes = [SCALE_COLOURS[k.scale % len(SCALE_COLOURS)] for k in keys]
        self.chunks.addItem(pg.BarGraphItem(x=np.arange(len(keys)), height=ys, width=0.8, brushes=brushes))
        self.chunks.getAxis("bottom").setTicks(chunk_ticks(keys))
        total = max(float(ys.sum()), 1e-9)
        self.chunk_rows = [f"{k}: {y:.0f} B ({100 * y / total:.1f} % of the estimate)" for k, y in zip(keys, ys)]
        # Chunks share their scale's stream, so only the per-scale sizes are exact (from the file).
        exact = " · ".join(f"s{r.scale} {r.nbytes} B" for r in header.scales)
        self.scale_bytes.setText(f"exact bytes per scale stream (from the file): {exact}")
        self.channels.clear()
        self.channels.addItem(pg.BarGraphItem(x=np.arange(len(maps.channels)), height=maps.channels, width=0.9,
                                              brush=SCALE_COLOURS[0]))
        for g in range(1, header.groups):  # group boundaries of the steps' channel groups
            self.channels.addItem(pg.InfiniteLine(g * header.channels // header.groups - 0.5, angle=90,
                                                  pen=pg.mkPen("#888888", style=Qt.PenStyle.DashLine)))
        self._show_map(self.map_choice.currentText())

    def map(self, choice: str | None = None) -> np.ndarray | None:
        """The bits map of a choice (map_choices), or None without data."""
        if self.maps is None:
            return None
        scale = map_scale(choice or self.map_choice.currentText(), self.header.num_scales)
        return self.maps.blocks() if scale is None else self.maps.density(scale)

    def _show_map(self, choice: str) -> None:
        if self.maps is not None:
            self.heat.set_data(self.image, self.map(choice), choice)
        self.map_changed.emit(choice)

    def chunk_at(self, x: float) -> str:
        i = int(round(x))
        return self.chunk_rows[i] if 0 <= i < len(self.chunk_rows) else ""

    def channel_at(self, x: float) -> str:
        if self.maps is None:
            return ""
        c = int(round(x))
        if not 0 <= c < len(self.maps.channels):
            return ""
        group = c // (self.header.channels // self.header.groups)
        return f"channel {c} (group {group}): {self.maps.channels[c]:.0f} bits ({self.maps.channels[c] / 8:.0f} B)"

    def _on_chunk_move(self, pos) -> None:
        text = self.chunk_at(self.chunks.getPlotItem().vb.mapSceneToView(pos).x())
        if text:
            self.chunk_hover.setText(text)

    def _on_channel_move(self, pos) -> None:
        text = self.channel_at(self.channels.getPlotItem().vb.mapSceneToView(pos).x())
        if text:
            self.channel_hover.setText(text)
            self.hovered.emit(text)

    def export(self, folder: Path, stem: str) -> list[Path]:
        """The maps as PNG (bits per position, per choice, with a colour bar) and NumPy, and the tables as
        CSV and JSON."""
        if self.maps is None:
            return []
        from .compare_view import heat_colours

        out = []
        arrays = {}
        for choice in map_choices(self.header.num_scales):
            bits = self.map(choice)
            if choice != "all scales" and not bits.any():
                continue
            key = choice.replace(" ", "_")
            arrays[key] = bits
            top = float(np.percentile(bits, 99)) or 1.0
            rgb = np.repeat(np.repeat(heat_colours(bits, top), 16, 0), 16, 1)
            path = folder / f"{stem}_bits_{key}.png"
            with_colour_bar(rgb, top).save(path)
            out.append(path)
        np.savez_compressed(folder / f"{stem}_bits.npz", **arrays, per_channel=self.maps.channels)
        out.append(folder / f"{stem}_bits.npz")
        with open(folder / f"{stem}_bits_chunks.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["chunk", "scale", "step", "group", "estimated_bits"])
            for k, bits in self.maps.chunks.items():
                w.writerow([str(k), k.scale, STEP_NAMES[k.step], k.group, round(bits, 1)])
        out.append(folder / f"{stem}_bits_chunks.csv")
        (folder / f"{stem}_bits.json").write_text(json.dumps({
            "scale_bytes": {str(r.scale): r.nbytes for r in self.header.scales},
            "chunk_bits": {str(k): round(v, 1) for k, v in self.maps.chunks.items()},
            "channel_bits": [round(float(v), 1) for v in self.maps.channels],
            "map_grid": "bits per latent position (16 x 16 pixels), in bits_*.npz and the PNGs (x16 upscaled)",
        }, indent=1))
        out.append(folder / f"{stem}_bits.json")
        return out


def with_colour_bar(rgb: np.ndarray, top: float):
    """An exported map with its colour bar under it: the colours from 0 to `top` bits per latent position
    (the 99th percentile; above it, the brightest colour), labelled at both ends."""
    from PIL import Image, ImageDraw

    from .compare_view import ERROR_LUT

    h, w = rgb.shape[:2]
    bar = 28
    out = Image.new("RGB", (w, h + bar), (255, 255, 255))
    out.paste(Image.fromarray(rgb), (0, 0))
    ramp = ERROR_LUT[np.linspace(0, 255, max(1, w - 8)).astype(np.uint8)][None].repeat(10, axis=0)
    out.paste(Image.fromarray(ramp), (4, h + 2))
    draw = ImageDraw.Draw(out)
    draw.text((4, h + 14), "0", fill=(0, 0, 0))
    label = f"{top:.1f}+ bits per 16x16 position"
    draw.text((max(4, w - 4 - int(draw.textlength(label))), h + 14), label, fill=(0, 0, 0))
    return out


def chunk_ticks(keys: list) -> list[list[tuple[float, str]]]:
    """Axis ticks for the chunk bars: one labelled tick per scale (at the middle of its chunks), and
    the step and group of each chunk as minor ticks (pyqtgraph drops those that would overlap)."""
    spans: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        spans.setdefault("base" if k.step == BASE else f"scale {k.scale}", []).append(i)
    major = [((idx[0] + idx[-1]) / 2, name) for name, idx in spans.items()]
    minor = [(i, f"{STEP_NAMES[k.step]}{k.group}") for i, k in enumerate(keys) if k.step != BASE]
    return [major, minor]
