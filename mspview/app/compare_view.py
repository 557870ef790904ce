"""Compare view: several images of the same scene under one zoom and pan.

Modes: "split" (two images, a draggable vertical split handle, Squoosh-style), "side" (all images
side by side, each pane showing the same region) and "single" (one image over the whole view: the
difference of two images). Zoom with the wheel around the cursor, pan by dragging; from 200 % up pixels
are drawn nearest-neighbour, and from 800 % a pixel grid appears. Hovering reports the pixel position
and the value in every image (for an error or difference map: the signed difference, per channel).
A bit-allocation overlay (bits per 16x16 latent position, colour-mapped, translucent) can lie over
every pane; hovering then reports its value too. The zoom level is always shown (bottom left); the
loupe magnifies the pixels under the cursor, nearest-neighbour, in a square beside it.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, QSizeF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QWidget

# inferno, 256 entries: dark where a codec is exact, bright where it errs (the bit heat map's colours)
LOUPE_SIZE, LOUPE_GAP = 180, 24  # widget pixels: the loupe's square and its distance from the cursor
LOUPE_FACTOR = 4.0
ERROR_LUT = pg.colormap.get("inferno").getLookupTable(0.0, 1.0, 256, alpha=False).astype(np.uint8)


def error_map(original: np.ndarray, image: np.ndarray, gain: float) -> tuple[np.ndarray, np.ndarray]:
    """(colour-mapped RMS difference over the channels × gain, for display; the signed difference
    image - original, for hover). Also the difference of any two images (YUView's difference item)."""
    diff = image.astype(np.int16) - original.astype(np.int16)
    d = diff.astype(np.float32)
    rms = np.sqrt(np.mean(d * d, axis=2)) if d.ndim == 3 else np.abs(d)
    return ERROR_LUT[np.clip(rms * gain, 0, 255).astype(np.uint8)], diff


def to_qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb)
    if rgb.ndim == 2:
        rgb = np.ascontiguousarray(np.repeat(rgb[..., None], 3, axis=2))
    h, w, _ = rgb.shape
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def heat_colours(bits: np.ndarray, top: float) -> np.ndarray:
    """Values as inferno colours (0 .. top): h x w x 3 uint8."""
    return ERROR_LUT[np.clip(bits / max(top, 1e-9) * 255, 0, 255).astype(np.uint8)]


def overlay_image(bits: np.ndarray, top: float) -> QImage:
    """Bits per latent position as colours, one texel per 16x16 pixels."""
    return to_qimage(heat_colours(bits, top))


class CompareCanvas(QWidget):
    hovered = Signal(str)
    region_selected = Signal(int, int, int, int)  # x0, y0, x1, y1 in image pixels (Shift+drag)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setMinimumSize(320, 200)
        self.mode = "split"
        self.split = 0.5  # fraction of the widget width
        self.zoom = 1.0
        self.center = QPointF(0, 0)  # image coordinates at the view centre
        self._images: list[tuple[str, np.ndarray, QImage, np.ndarray | None]] = []
        self._drag: str | None = None
        self._last = QPointF()
        self._overlay: tuple[QImage, np.ndarray, str, float] | None = None  # image, bits, what, opacity
        self._overlay_on: list[bool] = []
        self._region: tuple[QPointF, QPointF] | None = None  # a Shift+drag in progress (widget coordinates)
        self.loupe = False  # a magnifier follows the cursor (View → Loupe, L)
        self._mouse: QPointF | None = None  # the cursor, while it is over the view

    # ----- content
    def set_images(self, images: list[tuple], keep_view: bool = True, overlay_on: list[bool] | None = None) -> None:
        """(name, pixels) or (name, pixels, signed error) per pane; hover shows the error where given.
        `overlay_on`: which panes the bit map may cover (mspview's files; None: all)."""
        same_size = self._images and images and self._images[0][1].shape[:2] == images[0][1].shape[:2]
        self._images = [(im[0], im[1], to_qimage(im[1]), im[2] if len(im) > 2 else None) for im in images]
        self._overlay_on = list(overlay_on) if overlay_on is not None else [True] * len(images)
        if not (keep_view and same_size):
            self.fit()
        self.update()

    def image_names(self) -> list[str]:
        return [im[0] for im in self._images]

    def set_mode(self, mode: str) -> None:
        """Split, side by side or single (the caller sets the images and fits the view)."""
        self.mode = mode
        self.update()

    def set_overlay(self, bits: np.ndarray | None, what: str = "", opacity: float = 0.6) -> None:
        """Bits per latent position over every pane (None: off); `what` names it for hover."""
        if bits is None:
            self._overlay = None
        else:
            top = float(np.percentile(bits, 99)) if bits.size else 1.0
            self._overlay = (overlay_image(bits, top), bits, what, opacity)
        self.update()

    @property
    def overlay(self) -> np.ndarray | None:
        return None if self._overlay is None else self._overlay[1]

    def image_size(self) -> tuple[int, int]:
        if not self._images:
            return 0, 0
        h, w = self._images[0][1].shape[:2]
        return w, h

    def fit(self) -> None:
        w, h = self.image_size()
        if not w:
            return
        pane_w = self._pane_width()
        self.zoom = max(1e-3, min(pane_w / w, self.height() / h))
        self.center = QPointF(w / 2, h / 2)
        self.update()

    def set_zoom(self, zoom: float) -> None:
        self.zoom = float(np.clip(zoom, 0.05, 64.0))
        self.update()

    @property
    def zoom_text(self) -> str:
        """What the corner badge says: the view's zoom, and the loupe's when it is on."""
        return f"{self.zoom * 100:.0f} %" + (f"   loupe {self.loupe_zoom * 100:.0f} %" if self.loupe else "")

    @property
    def loupe_zoom(self) -> float:
        """The loupe magnifies LOUPE_FACTOR times the view, and never less than LOUPE_FACTOR image pixels."""
        return max(LOUPE_FACTOR, self.zoom * LOUPE_FACTOR)

    def set_loupe(self, on: bool) -> None:
        self.loupe = on
        self.update()

    def loupe_rect(self, pos: QPointF) -> QRectF:
        """Where the loupe is drawn for a cursor at `pos`: beside it, inside the widget."""
        x = pos.x() + LOUPE_GAP if pos.x() + LOUPE_GAP + LOUPE_SIZE <= self.width() else pos.x() - LOUPE_GAP - LOUPE_SIZE
        y = pos.y() + LOUPE_GAP if pos.y() + LOUPE_GAP + LOUPE_SIZE <= self.height() else pos.y() - LOUPE_GAP - LOUPE_SIZE
        return QRectF(max(0.0, x), max(0.0, y), LOUPE_SIZE, LOUPE_SIZE)

    def _image_at(self, pos: QPointF) -> int:
        """Which image is under `pos`: the pane's in side by side, the split's side in split mode."""
        if self.mode == "side" and len(self._images) > 1:
            return next((i for i, pane in enumerate(self._panes()) if pane.contains(pos)), 0)
        if self.mode == "single" or len(self._images) == 1:
            return 0
        return 0 if pos.x() < self.width() * self.split else 1

    # ----- geometry
    def _panes(self) -> list[QRectF]:
        """One pane, or side by side a grid whose cells keep the widget's aspect (2 images: a row)."""
        n = max(1, len(self._images) if self.mode == "side" else 1)
        cols = n if n <= 2 else math.ceil(math.sqrt(n * self.width() / max(1, self.height()) * 0.75))
        cols = max(1, min(n, cols))
        rows = math.ceil(n / cols)
        w, h = self.width() / cols, self.height() / rows
        return [QRectF((i % cols) * w, (i // cols) * h, w, h) for i in range(n)]

    def _pane_width(self) -> float:
        return self._panes()[0].width()

    def _to_image(self, pos: QPointF, pane: QRectF) -> QPointF:
        return QPointF((pos.x() - pane.center().x()) / self.zoom + self.center.x(),
                       (pos.y() - pane.center().y()) / self.zoom + self.center.y())

    def _pane_at(self, pos: QPointF) -> QRectF:
        for p in self._panes():
            if p.contains(pos):
                return p
        return self._panes()[0]

    # ----- painting
    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(40, 40, 40))
        if not self._images:
            p.setPen(QColor(200, 200, 200))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Open an image (Ctrl+O) or drop one here")
            return
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.zoom < 2.0)
        if self.mode == "single" or len(self._images) == 1:
            pane = QRectF(self.rect())
            self._draw(p, self._images[0][2], pane, pane, self._overlay_on[0])
            self._label(p, pane, self._images[0][0])
        elif self.mode == "side":
            for pane, (name, _, qimg, _), on in zip(self._panes(), self._images, self._overlay_on):
                self._draw(p, qimg, pane, pane, on)
                self._label(p, pane, name)
        else:
            pane = self._panes()[0]
            sx = self.width() * self.split
            left = self._images[0]
            r = 1 if len(self._images) > 1 else 0
            right = self._images[r]
            self._draw(p, left[2], pane, QRectF(0, 0, sx, self.height()), self._overlay_on[0])
            self._draw(p, right[2], pane, QRectF(sx, 0, self.width() - sx, self.height()), self._overlay_on[r])
            p.setPen(QPen(QColor(255, 255, 255), 2))
            p.drawLine(QPointF(sx, 0), QPointF(sx, self.height()))
            p.setBrush(QColor(255, 255, 255))
            p.drawEllipse(QPointF(sx, self.height() / 2), 7, 7)
            self._label(p, QRectF(0, 0, sx, self.height()), left[0])
            self._label(p, QRectF(sx, 0, self.width() - sx, self.height()), right[0], right_align=True)
        if self.loupe and self._mouse is not None:
            self._draw_loupe(p, self._mouse)
        self._badge(p)
        if self._region is not None:
            p.setPen(QPen(QColor(255, 220, 0), 1, Qt.PenStyle.DashLine))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(QRectF(self._region[0], self._region[1]).normalized())
        p.end()

    def _draw(self, p: QPainter, qimg: QImage, pane: QRectF, clip: QRectF, overlay: bool = True) -> None:
        p.save()
        p.setClipRect(clip)
        top_left = self._to_image(pane.topLeft(), pane)
        target = QRectF(pane.left() - top_left.x() * self.zoom,
                        pane.top() - top_left.y() * self.zoom, qimg.width() * self.zoom, qimg.height() * self.zoom)
        p.drawImage(target, qimg)
        if self._overlay is not None and overlay:
            over, bits, _, opacity = self._overlay
            p.setOpacity(opacity)
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            p.drawImage(QRectF(target.topLeft(), QSizeF(16 * bits.shape[1] * self.zoom, 16 * bits.shape[0] * self.zoom)),
                        over)
            p.setOpacity(1.0)
        if self.zoom >= 8:
            self._grid(p, pane, qimg)
        p.restore()

    def _draw_loupe(self, p: QPainter, pos: QPointF) -> None:
        """The pixels around the cursor, magnified without smoothing, in a framed square beside it."""
        qimg = self._images[self._image_at(pos)][2]
        q = self._to_image(pos, self._pane_at(pos))
        z = self.loupe_zoom
        rect = self.loupe_rect(pos)
        p.save()
        p.setClipRect(rect)
        p.fillRect(rect, QColor(40, 40, 40))
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        # the image point under the cursor lands on the loupe's centre
        p.drawImage(QRectF(rect.center().x() - q.x() * z, rect.center().y() - q.y() * z,
                           qimg.width() * z, qimg.height() * z), qimg)
        p.restore()
        p.setPen(QPen(QColor(255, 255, 255), 2))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(rect)

    def _badge(self, p: QPainter) -> None:
        """The zoom level, always in view (bottom left)."""
        p.save()
        fm = p.fontMetrics()
        text = self.zoom_text
        w, h = fm.horizontalAdvance(text) + 12, fm.height() + 6
        r = QRectF(6, self.height() - h - 6, w, h)
        p.fillRect(r, QColor(0, 0, 0, 150))
        p.setPen(QColor(255, 255, 255))
        p.drawText(r, Qt.AlignmentFlag.AlignCenter, text)
        p.restore()

    def _grid(self, p: QPainter, pane: QRectF, qimg: QImage) -> None:
        p.setPen(QPen(QColor(0, 0, 0, 70), 1))
        a, b = self._to_image(pane.topLeft(), pane), self._to_image(pane.bottomRight(), pane)
        for x in range(max(0, int(a.x())), min(qimg.width(), int(b.x()) + 2)):
            sx = pane.center().x() + (x - self.center.x()) * self.zoom
            p.drawLine(QPointF(sx, pane.top()), QPointF(sx, pane.bottom()))
        for y in range(max(0, int(a.y())), min(qimg.height(), int(b.y()) + 2)):
            sy = pane.center().y() + (y - self.center.y()) * self.zoom
            p.drawLine(QPointF(pane.left(), sy), QPointF(pane.right(), sy))

    def _label(self, p: QPainter, rect: QRectF, text: str, right_align: bool = False) -> None:
        """The pane's name in its top corner, elided to the pane's width (never cut off mid-glyph)."""
        p.save()
        p.setPen(QColor(255, 255, 255))
        fm = p.fontMetrics()
        text = fm.elidedText(text, Qt.TextElideMode.ElideMiddle, max(40, int(rect.width()) - 24))
        w = fm.horizontalAdvance(text) + 12
        x = rect.right() - w - 6 if right_align else rect.left() + 6
        p.fillRect(QRectF(x, rect.top() + 6, w, fm.height() + 6), QColor(0, 0, 0, 150))
        p.drawText(QRectF(x, rect.top() + 6, w, fm.height() + 6), Qt.AlignmentFlag.AlignCenter, text)
        p.restore()

    # ----- interaction
    def wheelEvent(self, event) -> None:
        pos = event.position()
        pane = self._pane_at(pos)
        before = self._to_image(pos, pane)
        factor = 1.25 if event.angleDelta().y() > 0 else 0.8
        self.zoom = float(np.clip(self.zoom * factor, 0.05, 64.0))
        after = self._to_image(pos, pane)
        self.center += before - after  # keep the point under the cursor in place
        self.update()

    def mousePressEvent(self, event) -> None:
        pos = event.position()
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier and self._images:
            self._drag = "region"
            self._region = (pos, pos)
        elif self.mode == "split" and abs(pos.x() - self.width() * self.split) < 10:
            self._drag = "split"
        else:
            self._drag = "pan"
        self._last = pos

    def mouseMoveEvent(self, event) -> None:
        pos = event.position()
        self._mouse = pos
        if self.loupe:
            self.update()
        if self._drag == "region":
            self._region = (self._region[0], pos)
            self.update()
        elif self._drag == "split":
            self.split = float(np.clip(pos.x() / max(1, self.width()), 0.0, 1.0))
            self.update()
        elif self._drag == "pan":
            d = pos - self._last
            self.center -= QPointF(d.x() / self.zoom, d.y() / self.zoom)
            self._last = pos
            self.update()
        self.hovered.emit(self.describe(pos))

    def mouseReleaseEvent(self, _event) -> None:
        if self._drag == "region":
            pane = self._pane_at(self._region[0])
            w, h = self.image_size()
            (ax, ay), (bx, by) = ((min(max(int(np.floor(c)), 0), lim) for c, lim in ((q.x(), w), (q.y(), h)))
                                  for q in (self._to_image(p, pane) for p in self._region))
            x0, x1, y0, y1 = min(ax, bx), max(ax, bx), min(ay, by), max(ay, by)
            if x1 > x0 and y1 > y0:
                self.region_selected.emit(x0, y0, x1, y1)
            self._region = None
            self.update()
        self._drag = None

    def leaveEvent(self, _event) -> None:
        self._mouse = None
        if self.loupe:
            self.update()

    def mouseDoubleClickEvent(self, _event) -> None:
        self.fit()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._images and event.oldSize().width() <= 0:
            self.fit()

    def describe(self, pos: QPointF) -> str:
        """'x, y: name (r, g, b) ...' for the pixel under `pos`."""
        if not self._images:
            return ""
        q = self._to_image(pos, self._pane_at(pos))
        x, y = int(np.floor(q.x())), int(np.floor(q.y()))
        w, h = self.image_size()
        if not (0 <= x < w and 0 <= y < h):
            return f"zoom {self.zoom * 100:.0f} %"
        vals = []
        for name, arr, _, err in self._images:
            if err is None:
                vals.append(f"{name} {tuple(int(c) for c in np.atleast_1d(arr[y, x]))}")
            else:
                vals.append(f"{name} Δ({', '.join(f'{int(c):+d}' for c in np.atleast_1d(err[y, x]))})")
        if self._overlay is not None:
            bits, what = self._overlay[1], self._overlay[2]
            i, j = y // 16, x // 16
            if i < bits.shape[0] and j < bits.shape[1]:
                vals.append(f"{what} bits at latent ({j}, {i}): {bits[i, j]:.1f} ({bits[i, j] / 256:.3f} bpp)")
        return f"x {x}, y {y}: " + "  ".join(vals) + f"   zoom {self.zoom * 100:.0f} %"
