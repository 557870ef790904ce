"""Per-side encoders under the compare bar (Squoosh): each side of the split can have its own codec and
setting, re-encoded when either changes; with none chosen, a side shows the kept image its picker names."""
from __future__ import annotations

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QWidget

from ..eval import classical
from .jobs import EncodeRequest, SideRequest

MSPVIEW = "mspview"
SETTLE_MS = 400  # a setting being typed or spun is encoded once it rests this long


class SideEncoder(QWidget):
    """A codec box and its setting for one side; `requested(side, request)` once the choice settles."""
    requested = Signal(str, object)

    def __init__(self, side: str, lambdas: list[float], parent=None):
        super().__init__(parent)
        self.side, self.lambdas = side, lambdas
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel(f"{side}:"))
        self.codec_box = QComboBox()
        self.codec_box.addItem("a kept image", None)
        self.codec_box.addItem("mspview (fast)", MSPVIEW)
        for name, c in classical.CODECS.items():
            self.codec_box.addItem(c.label, name)
        self.codec_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.codec_box.setMinimumContentsLength(12)
        self.codec_box.setToolTip(f"encode the {side} side on its own: a codec and its setting, re-encoded on "
                                  "every change (a kept image: the picker above chooses)")
        self.setting = QDoubleSpinBox()
        self.setting.setKeyboardTracking(False)
        self.setting.setEnabled(False)
        lay.addWidget(self.codec_box, 1)
        lay.addWidget(self.setting)
        self._settle = QTimer(self, singleShot=True, interval=SETTLE_MS)
        self._settle.timeout.connect(self._emit)
        self.codec_box.currentIndexChanged.connect(self._on_codec)
        self.setting.valueChanged.connect(lambda _v: self._settle.start())

    @property
    def codec(self) -> str | None:
        return self.codec_box.currentData()

    def _on_codec(self, _index: int) -> None:
        codec = self.codec
        self.setting.blockSignals(True)
        if codec == MSPVIEW:
            self.setting.setDecimals(5)
            self.setting.setRange(min(self.lambdas), max(self.lambdas))
            self.setting.setSingleStep(min(self.lambdas))
            self.setting.setPrefix("λ ")
            self.setting.setValue(self.lambdas[len(self.lambdas) // 2])
        elif codec is not None:
            c = classical.get(codec)
            self.setting.setDecimals(0 if c.integer else 1)
            self.setting.setRange(c.lo, c.hi)
            self.setting.setSingleStep(1 if c.integer else 0.5)
            self.setting.setPrefix(f"{c.knob} ")
            self.setting.setValue(c.sweep[len(c.sweep) // 2])
        self.setting.blockSignals(False)
        self.setting.setEnabled(codec is not None)
        self.setting.setToolTip("" if codec is None else "the setting this side is encoded at")
        if codec is not None:
            self._settle.start()

    def request(self):
        """What this side asks for now: an EncodeRequest (mspview, fast; the window sets its device) or a
        SideRequest, or None."""
        if self.codec is None:
            return None
        if self.codec == MSPVIEW:
            return EncodeRequest("fast", float(self.setting.value()))
        return SideRequest(self.codec, float(self.setting.value()))

    def _emit(self) -> None:
        request = self.request()
        if request is not None:
            self.requested.emit(self.side, request)

    def reset(self) -> None:
        """A new image: back to choosing among kept images (nothing is encoded unasked)."""
        self._settle.stop()
        self.codec_box.setCurrentIndex(0)
