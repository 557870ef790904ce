"""The bar above the compare view: the mode (split, side by side, difference), which kept image each side
of the split shows (Squoosh-style pickers) or its own codec and setting (side_controls.py), pixels or
error maps, and the bit map on or off. It holds the choices; the window decides what they show."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout,
                               QWidget)

from .compare_view import ERROR_LUT, to_qimage
from .side_controls import SideEncoder

MODES = (("split", "Split", "two images under a draggable split"),
         ("side", "Side by side", "every image, one pane each"),
         ("diff", "Difference", "the difference of the two split images"))


class CompareBar(QWidget):
    changed = Signal()  # what the compare view shows changed (a pick, pixels or errors)
    picked = Signal(object)  # a user picked an image in a side's box (the box)
    mode_chosen = Signal(str)

    def __init__(self, lambdas: list[float], parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        self.mode_group = QButtonGroup(self)
        for i, (mode, text, tip) in enumerate(MODES):
            b = QPushButton(text)
            b.setToolTip(tip)
            b.setCheckable(True)
            b.setChecked(i == 0)
            b.clicked.connect(lambda _=False, m=mode: self.mode_chosen.emit(m))
            self.mode_group.addButton(b, i)
            bar.addWidget(b)
        self.split_left, self.split_right = QComboBox(), QComboBox()
        for box, side in ((self.split_left, "left"), (self.split_right, "right")):
            box.setToolTip(f"what the {side} half of the split (and of a difference) shows")
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(14)
            box.currentIndexChanged.connect(lambda _i: self.changed.emit())
            box.activated.connect(lambda _i, box=box: self.picked.emit(box))
        bar.addWidget(self.split_left)
        bar.addWidget(QLabel("|"))
        bar.addWidget(self.split_right)
        self.show_box = QComboBox()
        for text, gain in (("pixels", 0), ("error ×4", 4), ("error ×16", 16)):
            self.show_box.addItem(text, gain)
        self.show_box.setToolTip("error ×k: RMS difference to the original over R, G, B, times k, as colours "
                                 "(black: exact; brightest: 255/k or more); hover for the signed difference")
        self.show_box.currentIndexChanged.connect(lambda _i: self.changed.emit())
        bar.addWidget(self.show_box)
        # the error maps' colour bar, shown while they are
        self.legend_low, self.legend_bar, self.legend_high = QLabel("0"), QLabel(), QLabel()
        strip = ERROR_LUT[None, :, :].repeat(10, axis=0)
        self.legend_bar.setPixmap(QPixmap.fromImage(to_qimage(strip)).scaled(96, 10))
        for w in (self.legend_low, self.legend_bar, self.legend_high):
            w.setToolTip("RMS error over R, G, B (8-bit levels)")
            bar.addWidget(w)
        self.show_box.currentIndexChanged.connect(self._legend)
        self._legend()
        self.overlay_box = QCheckBox("bits")
        self.overlay_box.setToolTip("lay the bit-allocation map (Bit allocation dock: which scales, opacity) over "
                                    "mspview's files; hover for the bits at each latent position")
        bar.addWidget(self.overlay_box)
        bar.addStretch(1)
        lay.addLayout(bar)
        sides = QHBoxLayout()
        self.side_left, self.side_right = SideEncoder("left", lambdas), SideEncoder("right", lambdas)
        for enc in (self.side_left, self.side_right):
            sides.addWidget(enc, 1)
        lay.addLayout(sides)

    def _legend(self, *_) -> None:
        gain = self.gain
        for w in (self.legend_low, self.legend_bar, self.legend_high):
            w.setVisible(bool(gain))
        self.legend_high.setText(f"{255 / gain:.0f}+ RMS" if gain else "")

    @property
    def mode(self) -> str:
        return MODES[self.mode_group.checkedId()][0]

    def set_mode(self, mode: str) -> None:
        self.mode_group.button([m for m, _, _ in MODES].index(mode)).setChecked(True)
        for box in (self.split_left, self.split_right):
            box.setEnabled(mode != "side")

    @property
    def picks(self) -> tuple[int, int]:
        return self.split_left.currentIndex(), self.split_right.currentIndex()

    @property
    def gain(self) -> int:
        """0: pixels; k: error maps times k."""
        return self.show_box.currentData()

    def set_names(self, names: list[str], defaults: tuple[int, int], keep: bool) -> None:
        """Refill both pickers; each keeps its image where `keep` and the image is still there, else takes
        its default (quietly: the caller redraws once)."""
        for box, default in zip((self.split_left, self.split_right), defaults):
            current = box.currentText()
            box.blockSignals(True)
            box.clear()
            box.addItems(names)
            box.setCurrentIndex(names.index(current) if keep and current in names else min(default, len(names) - 1))
            box.blockSignals(False)

    def flip(self) -> None:
        """A/B: the two sides swap images (quietly: the caller redraws once)."""
        a, b = self.picks
        for box, i in ((self.split_left, b), (self.split_right, a)):
            box.blockSignals(True)
            box.setCurrentIndex(i)
            box.blockSignals(False)

    def box(self, side: str) -> QComboBox:
        return self.split_left if side == "left" else self.split_right

    def reset_sides(self) -> None:
        for enc in (self.side_left, self.side_right):
            enc.reset()
