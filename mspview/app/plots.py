"""pyqtgraph views: live LOF curves, this image's RD curves, and bit-allocation views (bars, heat map,
per channel)."""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QTabWidget, QVBoxLayout, QWidget

from ..codec.bitstream import Header
from ..codec.coder import BitMaps
from ..codec.lof import LOFEvent
from ..codec.msp import BASE, STEP_NAMES
from .jobs import RDPoint, RDSweep

# Plain lines repaint fast. exitCleanup off: its atexit pass over graphics items crashes PySide6 at exit.
pg.setConfigOptions(antialias=False, imageAxisOrder="row-major", exitCleanup=False)
SCALE_COLOURS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#9c755f"]


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
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.plots = {}
        for key, title, unit in (("bpp", "rate", "bpp"), ("psnr", "distortion", "PSNR dB"), ("cost", "total cost J", "J")):
            w = pg.PlotWidget(title=title)
            w.setLabel("bottom", "iteration")
            w.setLabel("left", unit)
            w.getAxis("left").enableAutoSIPrefix(False)
            w.addLegend(offset=(-5, 5), labelTextSize="7pt")
            surrogate = w.plot([], [], pen=pg.mkPen("#4e79a7", width=1), name="iteration (surrogate)")
            checks = w.plot([], [], pen=None, symbol="o", symbolSize=6, symbolBrush="#f28e2b", name="true cost check")
            self.plots[key] = (w, surrogate, checks)
        self.best = self.plots["cost"][0].plot([], [], pen=pg.mkPen("#e15759", width=2), name="best so far")
        lay.addWidget(self.plots["bpp"][0])
        lay.addWidget(self.plots["psnr"][0])
        lay.addWidget(self.plots["cost"][0])
        self.message = pg.TextItem("", color="#bbbbbb", anchor=(0.5, 0.5))
        self.message.setPos(0.5, 0.5)  # the middle of an empty plot's default range
        self.plots["psnr"][0].addItem(self.message)
        self.clear()

    def clear(self, message: str = "") -> None:
        """Empty the curves; `message` says in the middle plot why they will stay empty."""
        self.message.setText(message)
        self._iter = {k: ([], []) for k in self.plots}
        self._check = {k: ([], []) for k in self.plots}
        self._best = ([], [])
        for _, s, c in self.plots.values():
            s.setData([], [])
            c.setData([], [])
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
    """This image's PSNR against bpp: mspview at every trained λ and the comparison codec's sweep
    (points appear as the sweep measures them), the last encode starred, BD-rates above."""
    IDLE = "RD curve (Encode menu): this image at every trained λ and the comparison codec's settings"

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 0)
        self.summary = QLabel(self.IDLE)
        self.summary.setWordWrap(True)
        lay.addWidget(self.summary)
        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "bits per pixel")
        self.plot.setLabel("left", "PSNR-RGB dB")
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.addLegend(offset=(-5, 5), labelTextSize="7pt")
        lay.addWidget(self.plot, 1)
        self.hover = QLabel("hover a point for its file")
        lay.addWidget(self.hover)
        self.plot.scene().sigMouseMoved.connect(self._on_move)
        self.ours = self.plot.plot([], [], pen=pg.mkPen("#4e79a7", width=2), symbol="o", symbolSize=6,
                                   symbolBrush="#4e79a7", name="mspview (fast)")
        self.theirs = self.plot.plot([], [], pen=pg.mkPen("#f28e2b", width=1), symbol="s", symbolSize=5,
                                     symbolBrush="#f28e2b", name="comparison codec")
        self.current = self.plot.plot([], [], pen=None, symbol="star", symbolSize=14, symbolBrush="#e15759",
                                      name="last encode")
        self.clear()

    def clear(self) -> None:
        self.summary.setText(self.IDLE)
        self.points: list[RDPoint] = []
        self.ours.setData([], [])
        self.theirs.setData([], [])
        self.current.setData([], [])

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
            legend = self.plot.getPlotItem().legend
            legend.removeItem(self.theirs)
            legend.addItem(self.theirs, sweep.codec_label)
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
            setting = f"λ {p.setting:g}" if p.codec == "mspview" else f"setting {p.setting:g}"
            ssim = f", MS-SSIM {p.ms_ssim:.4f}" if math.isfinite(p.ms_ssim) else ""
            self.hover.setText(f"{p.codec} {setting}: {p.nbytes:,} bytes, {p.bpp:.4f} bpp, {p.psnr:.2f} dB{ssim}")

    def set_current(self, bpp: float, psnr: float | None) -> None:
        self.current.setData([bpp], [psnr]) if psnr is not None else self.current.setData([], [])


class HeatMap(pg.GraphicsLayoutWidget):
    """Estimated bits per latent position (16x16 pixels each) over the image, with colour bar,
    opacity and hover values."""
    hovered = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
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
        self.last_hover = ""
        self.scene().sigMouseMoved.connect(self._on_move)

    def set_data(self, image: np.ndarray, bits: np.ndarray) -> None:
        gray = image.mean(axis=2) if image.ndim == 3 else image
        self.base.setImage(gray.astype(np.float32), levels=(0, 255))
        self.bits = bits
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
        return f"pixel ({int(x)}, {int(y)}) latent ({j}, {i}): {self.bits[i, j]:.1f} bits ({self.bits[i, j] / 256:.3f} bpp)"

    def _on_move(self, pos) -> None:
        p = self.view.mapSceneToView(pos)
        text = self.value_at(p.x(), p.y())
        if text:
            self.last_hover = text
            self.hovered.emit(text)


class BitAllocation(QTabWidget):
    """Bytes per chunk (estimated) and per scale (exact, from the file), a spatial heat map, and
    estimated bits per channel."""
    hovered = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        chunk_page = QWidget()
        chunk_lay = QVBoxLayout(chunk_page)
        chunk_lay.setContentsMargins(4, 2, 4, 0)
        # a wrapped label, not the plot title: a title is clipped when the dock is narrow
        self.scale_bytes = QLabel("exact bytes per scale: encode or open a file")
        self.scale_bytes.setWordWrap(True)
        chunk_lay.addWidget(self.scale_bytes)
        self.chunks = pg.PlotWidget()
        self.chunks.setLabel("left", "bytes per chunk (estimated)")
        self.chunks.showGrid(y=True, alpha=0.3)
        chunk_lay.addWidget(self.chunks, 1)
        self.chunk_hover = QLabel("hover a bar for its chunk")
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
        row.addWidget(QLabel("opacity"))
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(70)
        self.opacity.valueChanged.connect(lambda v: self.heat.set_opacity(v / 100))
        row.addWidget(self.opacity)
        self.hover_label = QLabel("hover the map for values")
        row.addWidget(self.hover_label, 1)
        self.heat.hovered.connect(self.hover_label.setText)
        lay.addLayout(row)
        lay.addWidget(self.heat, 1)
        self.addTab(heat_page, "Spatial heat map")
        self.channels = pg.PlotWidget(title="estimated bits per latent channel (sorted by group)")
        self.channels.setLabel("bottom", "channel")
        self.channels.setLabel("left", "bits")
        self.addTab(self.channels, "Per channel")
        self.heat.set_opacity(0.7)

    def set_data(self, header: Header, maps: BitMaps, image: np.ndarray) -> None:
        self.chunks.clear()
        keys = list(maps.chunks)
        x = np.arange(len(keys))
        ys = np.array([maps.chunks[k] / 8 for k in keys], float)
        brushes = [SCALE_COLOURS[k.scale % len(SCALE_COLOURS)] for k in keys]
        self.chunks.addItem(pg.BarGraphItem(x=x, height=ys, width=0.8, brushes=brushes))
        self.chunks.getAxis("bottom").setTicks(chunk_ticks(keys))
        total = max(float(ys.sum()), 1e-9)
        self.chunk_rows = [f"{k}: {y:.0f} B ({100 * y / total:.1f} % of the estimate)" for k, y in zip(keys, ys)]
        # Chunks share their scale's stream, so only the per-scale sizes are exact (from the file).
        exact = " · ".join(f"s{r.scale} {r.nbytes} B" for r in header.scales)
        self.scale_bytes.setText(f"exact bytes per scale stream (from the file): {exact}")
        self.channels.clear()
        self.channels.addItem(pg.BarGraphItem(x=np.arange(len(maps.channels)), height=maps.channels, width=0.9,
                                              brush="#4e79a7"))
        self.heat.set_data(image, maps.spatial)

    def chunk_at(self, x: float) -> str:
        i = int(round(x))
        return self.chunk_rows[i] if 0 <= i < len(self.chunk_rows) else ""

    def _on_chunk_move(self, pos) -> None:
        text = self.chunk_at(self.chunks.getPlotItem().vb.mapSceneToView(pos).x())
        if text:
            self.chunk_hover.setText(text)


def chunk_ticks(keys: list) -> list[list[tuple[float, str]]]:
    """Axis ticks for the chunk bars: one labelled tick per scale (at the middle of its chunks), and
    the step and group of each chunk as minor ticks (pyqtgraph drops those that would overlap)."""
    spans: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        spans.setdefault("base" if k.step == BASE else f"scale {k.scale}", []).append(i)
    major = [((idx[0] + idx[-1]) / 2, name) for name, idx in spans.items()]
    minor = [(i, f"{STEP_NAMES[k.step]}{k.group}") for i, k in enumerate(keys) if k.step != BASE]
    return [major, minor]
