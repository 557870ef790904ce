"""The progressive decode strip: what the bytes read so far show, one picture per decoded scale."""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QToolButton, QWidget

from ..codec.coder import Preview
from .compare_view import to_qimage


class PreviewStrip(QWidget):
    """One picture per decoded scale: bytes read so far, share of the file, bpp and PSNR; click to view
    it large."""
    chosen = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.row = QHBoxLayout(self)
        self.row.setContentsMargins(4, 4, 4, 4)
        self.buttons: list[QToolButton] = []
        self.row.addStretch(1)

    def clear(self) -> None:
        for b in self.buttons:
            b.deleteLater()
        self.buttons = []

    def add(self, preview: Preview, psnr_db: float | None, file_bytes: int | None) -> None:
        b = QToolButton()
        b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
        img = to_qimage(preview.image)
        b.setIcon(QIcon(QPixmap.fromImage(img.scaled(QSize(150, 100), Qt.AspectRatioMode.KeepAspectRatio,
                                                     Qt.TransformationMode.SmoothTransformation))))
        b.setIconSize(QSize(150, 100))
        share = f", {100 * preview.bytes_read / file_bytes:.0f} % of the file" if file_bytes else ""
        q = f", {psnr_db:.2f} dB" if psnr_db is not None else ""
        b.setText(f"{preview.scales_done} of {preview.total_scales} scales\n{preview.bytes_read:,} B{share}\n"
                  f"{preview.bpp:.3f} bpp{q}")
        b.setToolTip(f"what the bytes read so far show: made by {preview.made_by}")
        i = len(self.buttons)
        b.clicked.connect(lambda _=False, i=i: self.chosen.emit(i))
        self.row.insertWidget(i, b)
        self.buttons.append(b)
