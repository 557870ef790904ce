"""The Controls dock: profile, rate (a λ or a target), device, the codec to compare with, the job buttons
and the job's progress. It holds the choices and says what they are; MainWindow starts the jobs."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QInputDialog, QLabel,
                               QProgressBar, QPushButton, QSizePolicy, QSlider, QStackedWidget, QVBoxLayout,
                               QWidget)

from ..codec import profiles
from ..codec.errors import MSPError
from ..codec.weights import read_card
from ..eval import classical, learned
from ..eval.targets import Target

LAMBDA_STEPS = 200  # slider positions, log-spaced over the trained range
TARGET_SPIN_WIDTH = 120  # pixels: "100000.000" and its arrows
RATE_MODES = (("λ", None), ("target bpp", "bpp"), ("target size (KB)", "bytes"), ("target PSNR (dB)", "psnr"))
# Each target kind's spin box: lowest, highest, starting value, step.
TARGET_RANGES = {"bpp": (0.01, 4.0, 0.25, 0.01), "bytes": (0.1, 100000.0, 20.0, 1.0), "psnr": (15.0, 60.0, 32.0, 0.1)}
CHOOSE_MODEL = "choose-model"  # the codec box's entry that asks for another mspview model's weights
CHOOSE_COMPRESSAI = "choose-compressai"  # ... and the one that asks for a CompressAI model's checkpoints


class StatusLine(QLabel):
    """The job's status: one line, elided to the dock's width (so the buttons above never move when the
    text grows), the full text in its tooltip; `text()` is the full text."""

    def __init__(self, text: str = ""):
        super().__init__()
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        self._full = text
        self.setToolTip(text)
        self._elide()

    def text(self) -> str:
        return self._full

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, max(40, self.width() - 4))
        super().setText(shown)


class ControlsPanel(QWidget):
    error = Signal(str)  # a weights file picked as the comparison could not be read

    def __init__(self, lambdas: list[float], expected: list[dict], parent=None):
        """`lambdas`: the trained range; `expected`: the weights' Kodak points (λ, bpp, PSNR) for the hint."""
        super().__init__(parent)
        self.lambdas, self.expected = lambdas, expected
        self.setMinimumWidth(280)
        form = QFormLayout(self)
        self.profile_box = QComboBox()
        self.profile_box.addItems(profiles.PROFILES)
        self.profile_box.currentTextChanged.connect(self._on_profile)
        form.addRow("Profile", self.profile_box)
        self.profile_info = QLabel()
        self.profile_info.setWordWrap(True)
        self.profile_info.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        form.addRow(self.profile_info)
        self.rate_mode = QComboBox()
        for text, kind in RATE_MODES:
            self.rate_mode.addItem(text, kind)
        self.rate_mode.setToolTip("a λ, or a target the encode meets by bisection on λ with real files")
        self.rate_mode.currentIndexChanged.connect(self._on_rate_mode)
        form.addRow("Rate", self.rate_mode)
        self.rate_stack = QStackedWidget()
        lam_page = QWidget()
        lam_lay = QVBoxLayout(lam_page)
        lam_lay.setContentsMargins(0, 0, 0, 0)
        self.lam_slider = QSlider(Qt.Orientation.Horizontal)
        self.lam_slider.setRange(0, LAMBDA_STEPS)
        self.lam_spin = QDoubleSpinBox()
        self.lam_spin.setDecimals(5)
        self.lam_spin.setRange(lambdas[0], lambdas[-1])
        self.lam_spin.setSingleStep(0.0001)
        self.lam_slider.valueChanged.connect(self._on_lam_slider)
        self.lam_spin.valueChanged.connect(self._on_lam_spin)
        self.bpp_hint = QLabel()
        self.bpp_hint.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.lam_spin)
        row.addWidget(self.lam_slider, 1)
        lam_lay.addLayout(row)
        lam_lay.addWidget(self.bpp_hint)
        self.rate_stack.addWidget(lam_page)
        self.target_spin = QDoubleSpinBox()
        self.target_spin.setDecimals(3)
        self.target_spin.setFixedWidth(TARGET_SPIN_WIDTH)  # the same on every screen, not the stack's width
        target_page = QWidget()
        target_row = QHBoxLayout(target_page)
        target_row.setContentsMargins(0, 0, 0, 0)
        target_row.addWidget(self.target_spin)
        target_row.addStretch(1)
        self.rate_stack.addWidget(target_page)
        form.addRow(self.rate_stack)
        self.device_box = QComboBox()
        if torch.cuda.is_available():
            self.device_box.addItem("cuda")
        self.device_box.addItem("cpu")
        form.addRow("Device", self.device_box)
        self.codec_box = QComboBox()
        self.codec_box.addItem("none", None)
        for name, c in classical.CODECS.items():
            self.codec_box.addItem(c.label, name)
        self.codec_box.addItem("another mspview model…", CHOOSE_MODEL)
        self.codec_box.addItem("a CompressAI model…", CHOOSE_COMPRESSAI)
        self.codec_box.setToolTip("matched to mspview's bpp and to its PSNR by bisection; another mspview model "
                                  "(weights you trained) is matched on its λ")
        self.codec_box.activated.connect(self._on_codec_choice)
        self._chosen = 0  # the last real choice: a chooser's dialog cancelled goes back to it
        self.codec_box.currentIndexChanged.connect(self._remember_choice)
        for box in (self.profile_box, self.rate_mode, self.device_box, self.codec_box):
            # long entries elide instead of widening the dock (which clipped the labels beside them)
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(10)
        form.addRow("Compare", self.codec_box)
        buttons = QHBoxLayout()
        self.encode_btn = QPushButton("Encode")
        self.rd_btn = QPushButton("RD curve")
        self.rd_btn.setToolTip("this image at every trained λ (fast) and the comparison's settings: its own RD "
                               "curves and BD-rates")
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setToolTip("end the job now and keep nothing new (Esc)")
        self.stop_btn = QPushButton("Stop, keep best")
        self.stop_btn.setToolTip("end latent overfitting now and keep its best latent so far: that file is "
                                 "written and decoded (Ctrl+K); the comparison is skipped")
        self.cancel_btn.setEnabled(False)
        self.stop_btn.setEnabled(False)
        for b in (self.encode_btn, self.rd_btn):
            buttons.addWidget(b)
        form.addRow(buttons)
        ending = QHBoxLayout()
        for b in (self.stop_btn, self.cancel_btn):
            ending.addWidget(b)
        form.addRow(ending)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.stage = StatusLine("ready")
        form.addRow(self.progress)
        form.addRow(self.stage)

    # ------------------------------------------------------------------ what is chosen
    def lam(self) -> float:
        return float(self.lam_spin.value())

    def target(self) -> Target | None:
        kind = self.rate_mode.currentData()
        if kind is None:
            return None
        value = self.target_spin.value()
        return Target(kind, value * 1000 if kind == "bytes" else value)

    @property
    def profile(self) -> str:
        return self.profile_box.currentText()

    @property
    def device(self) -> str:
        return self.device_box.currentText()

    @property
    def compare(self) -> str | None:
        """The comparison: a classical codec's name, "model:<weights>", or None."""
        data = self.codec_box.currentData()
        return data if data not in (CHOOSE_MODEL, CHOOSE_COMPRESSAI) else None

    def settings_summary(self) -> dict:
        """The choices as a report records them."""
        return {"device": self.device, "compare": self.codec_box.currentText(), "rate": self.rate_mode.currentText()}

    def set_busy(self, busy: bool) -> None:
        self.encode_btn.setEnabled(not busy)
        self.rd_btn.setEnabled(not busy)
        self.cancel_btn.setEnabled(busy)
        self.stop_btn.setEnabled(busy)

    # ------------------------------------------------------------------ settings
    def restore(self, s: QSettings, default_lambda: float) -> None:
        self.profile_box.setCurrentText(str(s.value("profile", "fast")))
        lam = float(s.value("lambda", default_lambda))
        self.lam_spin.setValue(min(max(lam, self.lambdas[0]), self.lambdas[-1]))
        self._on_lam_spin(self.lam_spin.value())
        self.codec_box.setCurrentIndex(max(0, self.codec_box.findData(s.value("compare", "webp"))))
        dev = s.value("device", None)
        if dev and self.device_box.findText(str(dev)) >= 0:
            self.device_box.setCurrentText(str(dev))
        self._on_profile(self.profile)
        self._on_rate_mode()

    def save(self, s: QSettings) -> None:
        s.setValue("profile", self.profile)
        s.setValue("lambda", self.lam_spin.value())
        compare = self.compare
        s.setValue("compare", compare if compare and not compare.startswith("model:") else "none")
        s.setValue("device", self.device)

    # ------------------------------------------------------------------ reactions
    def _on_rate_mode(self, *_) -> None:
        kind = self.rate_mode.currentData()
        self.rate_stack.setCurrentIndex(0 if kind is None else 1)
        if kind:
            lo, hi, default, step = TARGET_RANGES[kind]
            self.target_spin.blockSignals(True)
            self.target_spin.setRange(lo, hi)
            self.target_spin.setSingleStep(step)
            self.target_spin.setValue(default)
            self.target_spin.blockSignals(False)

    def _on_lam_slider(self, v: int) -> None:
        lo, hi = math.log(self.lambdas[0]), math.log(self.lambdas[-1])
        self.lam_spin.blockSignals(True)
        self.lam_spin.setValue(math.exp(lo + (hi - lo) * v / LAMBDA_STEPS))
        self.lam_spin.blockSignals(False)
        self._update_bpp_hint()

    def _on_lam_spin(self, lam: float) -> None:
        lo, hi = math.log(self.lambdas[0]), math.log(self.lambdas[-1])
        self.lam_slider.blockSignals(True)
        self.lam_slider.setValue(round((math.log(max(lam, 1e-9)) - lo) / (hi - lo) * LAMBDA_STEPS))
        self.lam_slider.blockSignals(False)
        self._update_bpp_hint()

    def _update_bpp_hint(self) -> None:
        pts = self.expected
        if not pts:
            self.bpp_hint.setText("expected bpp: not measured")
            return
        ls = np.log([p["lambda"] for p in pts])
        bpp = float(np.exp(np.interp(math.log(self.lam()), ls, np.log([p["bpp"] for p in pts]))))
        psnr = float(np.interp(math.log(self.lam()), ls, [p["psnr"] for p in pts]))
        self.bpp_hint.setText(f"≈ {bpp:.3f} bpp, {psnr:.1f} dB (Kodak mean, fast)")

    def _on_profile(self, name: str) -> None:
        p = profiles.PROFILES.get(name)
        if p:
            self.profile_info.setText(f"{p.description}\n{profiles.summary(name)}")

    def _remember_choice(self, index: int) -> None:
        if self.codec_box.itemData(index) not in (CHOOSE_MODEL, CHOOSE_COMPRESSAI):
            self._chosen = index

    def _on_codec_choice(self, index: int) -> None:
        """'another mspview model…': pick a weights file; it joins the list as its own entry."""
        if self.codec_box.itemData(index) == CHOOSE_COMPRESSAI:
            self._choose_compressai(index)
            return
        if self.codec_box.itemData(index) != CHOOSE_MODEL:
            return
        path, _ = QFileDialog.getOpenFileName(self, "Weights of another mspview model", str(Path.home()),
                                              "mspview weights (*.pt)")
        if not path:
            self.codec_box.setCurrentIndex(self._chosen)
            return
        try:
            read_card(path)
        except MSPError as e:
            self.codec_box.setCurrentIndex(self._chosen)
            self.error.emit(str(e))
            return
        self._pick(index, f"mspview ({Path(path).name})", f"model:{path}")

    def _pick(self, index: int, label: str, data: str) -> None:
        """A chosen comparison joins the list (before the entry that asked for it) and becomes current."""
        i = self.codec_box.findData(data)
        if i < 0:
            self.codec_box.insertItem(index, label, data)
            i = index
        self.codec_box.setCurrentIndex(i)

    def _choose_compressai(self, index: int) -> None:
        """'a CompressAI model…': its architecture, then one checkpoint per rate point; it joins the list."""
        try:
            archs = list(learned.architectures())
        except MSPError as e:
            self.codec_box.setCurrentIndex(self._chosen)
            self.error.emit(str(e))
            return
        arch, ok = QInputDialog.getItem(self, "CompressAI model", "Architecture", archs, archs.index("mbt2018-mean")
                                        if "mbt2018-mean" in archs else 0, False)
        paths = QFileDialog.getOpenFileNames(self, f"{arch} checkpoints (one per rate point)", str(Path.home()),
                                             "checkpoints (*.pth *.pt *.tar *.pth.tar)")[0] if ok else []
        if not paths:
            self.codec_box.setCurrentIndex(self._chosen)
            return
        self._pick(index, f"CompressAI {arch} ({len(paths)} checkpoints)", f"compressai:{arch}:{','.join(paths)}")
