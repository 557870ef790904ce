"""The readouts dock: a headline that says what a comparison found, and one column per file (bytes,
bpp, PSNR, MS-SSIM, times, setting, notes), so that a narrow dock shows every figure without scrolling."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
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
        self.table.horizontalHeader().setTextElideMode(Qt.TextElideMode.ElideMiddle)  # narrow: "mspv…t.pt)", whole in the tooltip
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setMinimumHeight(180)
        self.table.setToolTip("Ctrl+C copies the table (or the cells selected) as tab-separated text")
        copy = QShortcut(QKeySequence.StandardKey.Copy, self.table, context=Qt.ShortcutContext.WidgetShortcut)
        copy.activated.connect(self.copy)
        lay.addWidget(self.table, 1)

    def tsv(self) -> str:
        """The table (only the selected cells' rows and columns, when some are selected) as TSV, with the
        headers: what a spreadsheet or a paper's table takes."""
        t = self.table
        chosen = t.selectedIndexes()
        rows = sorted({i.row() for i in chosen}) if len(chosen) > 1 else range(t.rowCount())
        cols = sorted({i.column() for i in chosen}) if len(chosen) > 1 else range(t.columnCount())
        head = [""] + [t.horizontalHeaderItem(j).text().replace("\n", " ") for j in cols]
        lines = ["\t".join(head)]
        for i in rows:
            lines.append("\t".join([ROWS[i]] + [(t.item(i, j).text() if t.item(i, j) else "").replace("\n", "; ")
                                               for j in cols]))
        return "\n".join(lines) + "\n"

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.tsv())

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
