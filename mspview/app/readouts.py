"""The readouts dock: a headline that says what a comparison found, and one column per file (bytes,
bpp, PSNR, MS-SSIM, times, setting, notes), so that a narrow dock shows every figure without scrolling."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from .jobs import Readout
from .session import ROWS, cells


class ReadoutsPanel(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        self.headline = QLabel("encode to compare")
        self.headline.setWordWrap(True)
        self.headline.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.headline)
        self.table = QTableWidget(len(ROWS), 0)
        self.table.setVerticalHeaderLabels(ROWS)
        self.table.setWordWrap(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setMinimumHeight(180)
        lay.addWidget(self.table, 1)

    def clear(self, headline: str = "encode to compare") -> None:
        self.headline.setText(headline)
        self.table.setColumnCount(0)

    def show_readouts(self, readouts: list[Readout], headline: str) -> None:
        self.table.setColumnCount(len(readouts))
        self.table.setHorizontalHeaderLabels([f"{r.codec}\n{r.role}" for r in readouts])
        for j, r in enumerate(readouts):
            self.table.horizontalHeaderItem(j).setToolTip(r.label)
            for i, text in enumerate(cells(r)):
                self.table.setItem(i, j, QTableWidgetItem(text))
        self.headline.setText(headline)
