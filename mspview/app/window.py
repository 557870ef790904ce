"""The main window: compare view in the centre, docks for controls, LOF curves, progressive decode,
bit allocation and readouts. All codec work runs in a JobRunner thread."""
from __future__ import annotations

import csv
import json
import math
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QIcon, QKeySequence, QPixmap
from PySide6.QtWidgets import (QButtonGroup, QComboBox, QDockWidget, QDoubleSpinBox, QFileDialog,
                               QFormLayout, QHBoxLayout, QHeaderView, QLabel, QMainWindow, QMessageBox,
                               QProgressBar, QPushButton, QScrollArea, QSlider, QTableWidget, QTableWidgetItem,
                               QToolButton, QVBoxLayout, QWidget)

from ..codec import profiles
from ..codec.coder import Preview
from ..codec.errors import MSPError
from ..codec.imageio import LoadedImage, load_image, save_image
from ..codec.lof import LOFEvent
from ..codec.model import ModelConfig
from ..codec.weights import read_card
from ..eval import classical
from ..resources import ICON
from . import jobs
from .compare_view import CompareCanvas, error_map, to_qimage
from .plots import BitAllocation, LOFCurves, RDView
from .workers import JobRunner

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff *.ppm *.pgm *.gif);;All files (*)"
LAMBDA_STEPS = 200  # slider positions, log-spaced over the trained range


class PreviewStrip(QWidget):
    """One thumbnail per decoded scale with bits read so far, bpp and PSNR; click to view large."""
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

    def add(self, preview: Preview, psnr_db: float | None) -> None:
        b = QToolButton()
        b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
        img = to_qimage(preview.image)
        b.setIcon(QIcon(QPixmap.fromImage(img.scaled(QSize(160, 110), Qt.AspectRatioMode.KeepAspectRatio,
                                                     Qt.TransformationMode.SmoothTransformation))))
        b.setIconSize(QSize(160, 110))
        scale_name = "base" if preview.scales_done == 1 else f"+scale {preview.total_scales - preview.scales_done}"
        q = f"  {psnr_db:.2f} dB" if psnr_db is not None else ""
        b.setText(f"{preview.scales_done}/{preview.total_scales} ({scale_name})\n"
                  f"{preview.bytes_read} B  {preview.bpp:.3f} bpp{q}")
        i = len(self.buttons)
        b.clicked.connect(lambda _=False, i=i: self.chosen.emit(i))
        self.row.insertWidget(i, b)
        self.buttons.append(b)


class MainWindow(QMainWindow):
    job_finished = Signal(object)  # an encode or decode: a jobs.JobResult
    rd_finished = Signal(object)  # an RD sweep: a jobs.RDSweep
    job_failed = Signal(str)
    image_loaded = Signal(object)  # the path, once its pixels are in
    image_failed = Signal(str)  # why an image file could not be opened

    def __init__(self, model_path: str | None = None, settings: QSettings | None = None):
        super().__init__()
        self.setWindowTitle("mspview")
        if ICON.is_file():
            self.setWindowIcon(QIcon(str(ICON)))
        self.settings = settings or QSettings("mspview", "mspview")
        self.lambdas, self.expected = trained_lambdas(model_path)
        self.runner = JobRunner(model_path, self)
        self.image: LoadedImage | None = None
        self.image_path: Path | None = None
        self.result: jobs.JobResult | None = None
        self.previews: list[Preview] = []
        self.last_error = ""
        self._job_started = 0.0
        # Image files decode off the UI thread (a 64 MP PNG takes seconds); a timer collects the result.
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mspview-load")
        self._loading: tuple[Path, Future] | None = None
        self._load_timer = QTimer(self, interval=30, timeout=self._collect_image)
        self._build_ui()
        self._restore_settings()
        self.runner.event.connect(self._on_event)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.runner.busy_changed.connect(self._on_busy)
        self.setAcceptDrops(True)

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        self.canvas = CompareCanvas()
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        self.mode_group = QButtonGroup(self)
        for i, (mode, text) in enumerate((("split", "Split slider"), ("side", "Side by side"))):
            b = QPushButton(text)
            b.setCheckable(True)
            b.setChecked(i == 0)
            b.clicked.connect(lambda _=False, m=mode: self.set_compare_mode(m))
            self.mode_group.addButton(b, i)
            bar.addWidget(b)
        for text, fn in (("Fit", self.canvas.fit), ("100 %", lambda: self.canvas.set_zoom(1.0)),
                         ("400 %", lambda: self.canvas.set_zoom(4.0)), ("1600 %", lambda: self.canvas.set_zoom(16.0))):
            b = QPushButton(text)
            b.clicked.connect(fn)
            bar.addWidget(b)
        # Squoosh-style: any two of the images (original, mspview, classical files) on either side of the split
        self.split_left, self.split_right = QComboBox(), QComboBox()
        self.split_left.setToolTip("what the left half of the split view shows")
        self.split_right.setToolTip("what the right half of the split view shows")
        bar.addWidget(QLabel("  split:"))
        for i, box in enumerate((self.split_left, self.split_right)):
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            box.currentIndexChanged.connect(self._refresh_canvas)
            if i:
                bar.addWidget(QLabel("|"))
            bar.addWidget(box)
        # where each codec errs, at the same bpp: each decoded image as its error map, the original as is
        self.show_box = QComboBox()
        for text, gain in (("pixels", 0), ("error ×4", 4), ("error ×16", 16)):
            self.show_box.addItem(text, gain)
        self.show_box.setToolTip("error ×k: RMS difference to the original over R, G, B, times k, as colours "
                                 "(black: exact; bright: 64/k or more); hover for the signed difference")
        self.show_box.currentIndexChanged.connect(self._refresh_canvas)
        bar.addWidget(QLabel("  show:"))
        bar.addWidget(self.show_box)
        bar.addStretch(1)
        lay.addLayout(bar)
        lay.addWidget(self.canvas, 1)
        self.setCentralWidget(central)
        self.canvas.hovered.connect(lambda s: self.statusBar().showMessage(s, 4000))

        # controls dock
        ctl = QWidget()
        form = QFormLayout(ctl)
        self.profile_box = QComboBox()
        for name, p in profiles.PROFILES.items():
            self.profile_box.addItem(name)
        self.profile_info = QLabel()
        self.profile_info.setWordWrap(True)
        self.profile_box.currentTextChanged.connect(self._on_profile)
        form.addRow("Profile", self.profile_box)
        # a full-width row with room for five lines: a wrapped label in a form row gets clipped
        self.profile_info.setMinimumHeight(5 * self.profile_info.fontMetrics().lineSpacing() + 4)
        self.profile_info.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        form.addRow(self.profile_info)
        self.lam_slider = QSlider(Qt.Orientation.Horizontal)
        self.lam_slider.setRange(0, LAMBDA_STEPS)
        self.lam_spin = QDoubleSpinBox()
        self.lam_spin.setDecimals(5)
        self.lam_spin.setRange(self.lambdas[0], self.lambdas[-1])
        self.lam_spin.setSingleStep(0.0001)
        self.lam_slider.valueChanged.connect(self._on_lam_slider)
        self.lam_spin.valueChanged.connect(self._on_lam_spin)
        form.addRow("λ", self.lam_slider)
        self.bpp_hint = QLabel()
        form.addRow(self.lam_spin, self.bpp_hint)
        self.device_box = QComboBox()
        if torch.cuda.is_available():
            self.device_box.addItem("cuda")
        self.device_box.addItem("cpu")
        self.device_box.currentTextChanged.connect(self._update_title)
        form.addRow("Device", self.device_box)
        self.codec_box = QComboBox()
        self.codec_box.addItem("none", None)
        for name, c in classical.CODECS.items():
            self.codec_box.addItem(c.label, name)
        form.addRow("Compare with", self.codec_box)
        form.addRow("", QLabel("matched to the same bpp by bisection"))
        buttons = QHBoxLayout()
        self.encode_btn = QPushButton("Encode")
        self.encode_btn.clicked.connect(self.encode)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.cancel_btn.clicked.connect(self.cancel)
        self.rd_btn = QPushButton("RD curve")
        self.rd_btn.setToolTip("this image at every trained λ (fast) and the comparison codec's settings: "
                               "its own RD curves and BD-rates")
        self.rd_btn.clicked.connect(self.rd_sweep)
        buttons.addWidget(self.encode_btn)
        buttons.addWidget(self.rd_btn)
        buttons.addWidget(self.cancel_btn)
        form.addRow(buttons)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.stage = QLabel("ready")
        self.stage.setWordWrap(True)
        form.addRow(self.progress)
        form.addRow(self.stage)
        self.controls_dock = self._dock("Controls", ctl, Qt.DockWidgetArea.LeftDockWidgetArea)

        self.curves = LOFCurves()
        self.curves_dock = self._dock("LOF curves", self.curves, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.rd = RDView()
        self.rd_dock = self._dock("RD curve (this image)", self.rd, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.bits = BitAllocation()
        self.bits.hovered.connect(lambda s: self.statusBar().showMessage(s, 4000))
        self.bits_dock = self._dock("Bit allocation", self.bits, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.strip = PreviewStrip()
        self.strip.chosen.connect(self.show_preview)
        scroll = QScrollArea()
        scroll.setWidget(self.strip)
        scroll.setWidgetResizable(True)
        scroll.setMinimumHeight(170)
        self.strip_dock = self._dock("Progressive decode", scroll, Qt.DockWidgetArea.BottomDockWidgetArea)
        # One column per codec, so that a narrow dock shows every figure and the notes (wrapped) without
        # scrolling; the headline says what a comparison is for: the dB gap and the size saved.
        readouts = QWidget()
        lay = QVBoxLayout(readouts)
        lay.setContentsMargins(4, 2, 4, 2)
        self.headline = QLabel("encode to compare")
        self.headline.setWordWrap(True)
        self.headline.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.headline)
        self.table = QTableWidget(len(READOUT_ROWS), 0)
        self.table.setVerticalHeaderLabels(READOUT_ROWS)
        self.table.setWordWrap(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        lay.addWidget(self.table, 1)
        self.table_dock = self._dock("Readouts", readouts, Qt.DockWidgetArea.LeftDockWidgetArea)
        # progressive strip under the compare view; LOF curves | bit allocation side by side below it;
        # the left column (controls, readouts) runs the full height, so the readouts need no scrolling
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.splitDockWidget(self.strip_dock, self.curves_dock, Qt.Orientation.Vertical)
        self.splitDockWidget(self.curves_dock, self.bits_dock, Qt.Orientation.Horizontal)
        self.tabifyDockWidget(self.curves_dock, self.rd_dock)
        self.curves_dock.raise_()
        self.resizeDocks([self.strip_dock, self.curves_dock], [175, 300], Qt.Orientation.Vertical)
        self.resizeDocks([self.controls_dock], [330], Qt.Orientation.Horizontal)
        self.resizeDocks([self.controls_dock, self.table_dock], [330, 500], Qt.Orientation.Vertical)
        self.resizeDocks([self.curves_dock, self.bits_dock], [700, 500], Qt.Orientation.Horizontal)

        self.device_label = QLabel()
        self.statusBar().addPermanentWidget(self.device_label)
        self._build_menus()
        self._on_profile(self.profile_box.currentText())
        self._update_title()

    def _dock(self, title: str, widget: QWidget, area) -> QDockWidget:
        d = QDockWidget(title, self)
        d.setObjectName(title.replace(" ", "_"))
        d.setWidget(widget)
        self.addDockWidget(area, d)
        return d

    def _build_menus(self) -> None:
        m = self.menuBar().addMenu("&File")
        self._action(m, "&Open image or .msp…", self.open_dialog, QKeySequence.StandardKey.Open)
        self.recent_menu = m.addMenu("Open &recent")
        self.save_action = self._action(m, "&Save .msp…", self.save_msp, QKeySequence.StandardKey.Save)
        self._action(m, "Export &reconstruction (PNG)…", self.export_reconstruction)
        self._action(m, "Export comparison re&port…", self.export_report)
        m.addSeparator()
        self._action(m, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        v = self.menuBar().addMenu("&View")
        self._action(v, "&Split slider", lambda: self.set_compare_mode("split"))
        self._action(v, "Side &by side", lambda: self.set_compare_mode("side"))
        self._action(v, "&Fit", self.canvas.fit)
        for i, key in enumerate(("Ctrl+1", "Ctrl+2", "Ctrl+3")):
            self._action(v, f"Show {self.show_box.itemText(i)}", lambda _=False, i=i: self.show_box.setCurrentIndex(i), key)
        for d in (self.controls_dock, self.curves_dock, self.rd_dock, self.bits_dock, self.strip_dock, self.table_dock):
            v.addAction(d.toggleViewAction())
        e = self.menuBar().addMenu("&Encode")
        self._action(e, "&Encode", self.encode, "Ctrl+E")
        self._action(e, "&RD curve of this image", self.rd_sweep, "Ctrl+R")
        self._action(e, "&Cancel", self.cancel, "Esc")
        h = self.menuBar().addMenu("&Help")
        self._action(h, "&About mspview", self.about)
        self._refresh_recent()

    def _action(self, menu, text, fn, shortcut=None) -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(shortcut)
        a.triggered.connect(fn)
        menu.addAction(a)
        return a

    # ------------------------------------------------------------------ settings
    def _restore_settings(self) -> None:
        s = self.settings
        self.profile_box.setCurrentText(str(s.value("profile", "fast")))
        lam = float(s.value("lambda", self.lambdas[(len(self.lambdas) - 1) // 2]))
        self.lam_spin.setValue(min(max(lam, self.lambdas[0]), self.lambdas[-1]))
        self._on_lam_spin(self.lam_spin.value())
        codec = s.value("compare", "webp")
        i = self.codec_box.findData(codec)
        self.codec_box.setCurrentIndex(max(0, i))
        dev = s.value("device", None)
        if dev and self.device_box.findText(str(dev)) >= 0:
            self.device_box.setCurrentText(str(dev))
        geo = s.value("geometry")
        if geo is not None:
            self.restoreGeometry(geo)
        state = s.value("window_state")
        if state is not None:
            self.restoreState(state)

    def _save_settings(self) -> None:
        s = self.settings
        s.setValue("profile", self.profile_box.currentText())
        s.setValue("lambda", self.lam_spin.value())
        s.setValue("compare", self.codec_box.currentData())
        s.setValue("device", self.device_box.currentText())
        s.setValue("geometry", self.saveGeometry())
        s.setValue("window_state", self.saveState())
        s.sync()

    def _recent(self) -> list[str]:
        v = self.settings.value("recent", [])
        return [v] if isinstance(v, str) else list(v or [])

    def _remember(self, path: Path) -> None:
        items = [str(path)] + [p for p in self._recent() if p != str(path)]
        self.settings.setValue("recent", items[:10])
        self._refresh_recent()

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        for p in self._recent():
            a = self.recent_menu.addAction(p)
            a.triggered.connect(lambda _=False, p=p: self.open_path(p))
        self.recent_menu.setEnabled(bool(self._recent()))

    # ------------------------------------------------------------------ controls
    def lam(self) -> float:
        return float(self.lam_spin.value())

    def _on_lam_slider(self, v: int) -> None:
        lo, hi = math.log(self.lambdas[0]), math.log(self.lambdas[-1])
        lam = math.exp(lo + (hi - lo) * v / LAMBDA_STEPS)
        self.lam_spin.blockSignals(True)
        self.lam_spin.setValue(lam)
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

    def _update_title(self, *_):
        dev = self.device_box.currentText().upper()
        name = f"{self.image_path.name} {self.image.width}×{self.image.height}" if self.image and self.image_path else ""
        self.setWindowTitle(f"mspview — {name} [device: {dev}]" if name else f"mspview [device: {dev}]")
        self.device_label.setText(f"device: {dev}")

    def set_compare_mode(self, mode: str) -> None:
        self.canvas.set_mode(mode)
        self.mode_group.button(0 if mode == "split" else 1).setChecked(True)
        for box in (self.split_left, self.split_right):
            box.setEnabled(mode == "split")
        self._refresh_canvas()

    # ------------------------------------------------------------------ files
    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open image or .msp", str(self._last_dir()),
                                              "Images and .msp files (*.msp *.png *.jpg *.jpeg *.webp *.bmp *.tif "
                                              "*.tiff *.ppm *.pgm *.gif);;All files (*)")
        if path:
            self.open_path(path)

    def _last_dir(self) -> Path:
        r = self._recent()
        return Path(r[0]).parent if r else Path.home()

    def open_path(self, path: str | Path) -> None:
        path = Path(path)
        if path.suffix.lower() == ".msp":
            self.open_msp(path)
        else:
            self.open_image(path)

    def open_image(self, path: Path) -> None:
        """Start reading an image file; `image_loaded` fires once it is shown (a newer open wins)."""
        self._loading = (path, self._loader.submit(load_image, path))
        self.stage.setText(f"loading {path.name}…")
        self._load_timer.start()

    def _collect_image(self) -> None:
        path, future = self._loading or (None, None)
        if future is None or not future.done():
            return
        self._load_timer.stop()
        self._loading = None
        try:
            img = future.result()
        except (MSPError, MemoryError) as e:
            message = str(e) if isinstance(e, MSPError) else f"{path.name}: not enough memory to read this image"
            self.stage.setText(f"could not open {path.name}")
            self.show_error(message)
            self.image_failed.emit(message)
            return
        self.runner.cancel()
        self.image, self.image_path, self.result = img, path, None
        self._clear_previews()
        self.curves.clear()
        self.rd.clear()
        self.table.setColumnCount(0)
        self.headline.setText("encode to compare")
        self._remember(path)
        self._refresh_canvas(keep_view=False)
        self._update_title()
        note = f" ({'; '.join(img.notes)})" if img.notes else ""
        self.stage.setText(f"loaded {path.name}: {img.width}×{img.height} {img.source_mode}{note}")
        self.image_loaded.emit(path)

    def open_msp(self, path: Path) -> None:
        try:
            data = path.read_bytes()
        except OSError as e:
            self.show_error(f"cannot read {path}: {e}")
            return
        self._remember(path)
        self.image, self.image_path, self.result = None, path, None
        self._clear_previews()
        self._start_job(f"decoding {path.name}", "decode_job", data)

    def save_msp(self) -> None:
        if not self.result:
            self.show_error("nothing encoded yet")
            return
        start = self.image_path.with_suffix(".msp") if self.image_path else Path("image.msp")
        path, _ = QFileDialog.getSaveFileName(self, "Save .msp", str(start), "mspview files (*.msp)")
        if path:
            self._write(Path(path), self.result.data)

    def export_reconstruction(self) -> None:
        if not self.result:
            self.show_error("nothing decoded yet")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export reconstruction", "reconstruction.png", "PNG (*.png)")
        if path:
            try:
                save_image(self.result.decoded.output, path)
            except (OSError, ValueError) as e:
                self.show_error(f"cannot write {path}: {e}")

    def export_report(self, folder: str | None = None) -> Path | None:
        """PNG of the compare view and bit views, plus readouts as CSV and JSON."""
        if not self.result:
            self.show_error("nothing encoded yet")
            return None
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Export comparison report to folder")
            if not folder:
                return None
        out = Path(folder)
        stem = self.image_path.stem if self.image_path else "image"
        try:
            self.canvas.grab().save(str(out / f"{stem}_compare.png"))
            self.bits.grab().save(str(out / f"{stem}_bits.png"))
            rows = [r.__dict__ for r in self.result.readouts]
            (out / f"{stem}_readouts.json").write_text(json.dumps({
                "image": str(self.image_path), "lambda": self.result.decoded.header.lam,
                "profile": self.result.decoded.header.profile, "summary": headline(self.result).split("\n"),
                "equal_psnr_bytes": self.result.equal_psnr_bytes, "readouts": rows}, indent=2, default=float))
            with open(out / f"{stem}_readouts.csv", "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
                w.writeheader()
                w.writerows(rows)
        except OSError as e:
            self.show_error(f"cannot write the report: {e}")
            return None
        self.stage.setText(f"report written to {out}")
        return out

    def _write(self, path: Path, data: bytes) -> None:
        try:
            path.write_bytes(data)
        except OSError as e:
            self.show_error(f"cannot write {path}: {e}")

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        urls = event.mimeData().urls()
        if urls:
            self.open_path(urls[0].toLocalFile())

    # ------------------------------------------------------------------ jobs
    def _device(self) -> str:
        return self.device_box.currentText()

    def encode(self) -> None:
        if self.image is None:
            self.show_error("open an image first")
            return
        image, lam, profile, compare = self.image, self.lam(), self.profile_box.currentText(), self.codec_box.currentData()
        no_lof = profiles.get(profile).iterations == 0
        self.curves.clear(f"the {profile} profile does no latent overfitting" if no_lof else "")
        self._clear_previews()
        self._start_job(f"encoding ({profile}, λ {lam:.4g})", "encode_job", image, lam, profile, compare)

    def rd_sweep(self) -> None:
        if self.image is None:
            self.show_error("open an image first")
            return
        self.rd.clear()
        if self.result is not None and self.result.readouts[0].psnr is not None:
            self.rd.set_current(self.result.readouts[0].bpp, self.result.readouts[0].psnr)
        self.rd_dock.raise_()
        compare = self.codec_box.currentData()
        self._start_job(f"RD sweep ({compare or 'mspview only'})", "rd_sweep_job", self.image, compare)

    def _clear_previews(self) -> None:
        """Before a job that decodes a new file (not an RD sweep, which leaves the encode's views)."""
        self.previews = []
        self.strip.clear()

    def _start_job(self, text: str, name: str, *args) -> None:
        self.progress.setValue(0)
        self.stage.setText(text)
        self._job_started = time.perf_counter()
        self.runner.start(name, self._device(), *args)

    def cancel(self) -> None:
        self.runner.cancel()
        self.stage.setText("cancelling…")

    def _on_busy(self, busy: bool) -> None:
        self.encode_btn.setEnabled(not busy)
        self.rd_btn.setEnabled(not busy)
        self.cancel_btn.setEnabled(busy)

    def _on_event(self, ev) -> None:
        if isinstance(ev, jobs.Stage):
            self.progress.setValue(int(1000 * ev.fraction))
            el = time.perf_counter() - self._job_started
            left = f", ~{el / ev.fraction * (1 - ev.fraction):.0f} s left" if 0.05 < ev.fraction < 1 else ""
            self.stage.setText(f"{ev.text} ({el:.0f} s{left})")
        elif isinstance(ev, LOFEvent):
            self.curves.add(ev)
        elif isinstance(ev, jobs.RDPoint):
            self.rd.add_point(ev)
        elif isinstance(ev, jobs.PreviewEvent):
            self.previews.append(ev.preview)
            self.strip.add(ev.preview, ev.psnr)

    def _on_finished(self, result: jobs.JobResult | jobs.RDSweep) -> None:
        self.progress.setValue(1000)
        if isinstance(result, jobs.RDSweep):
            self.rd.set_sweep(result)
            self.stage.setText(f"RD sweep done: {len(result.points)} files encoded and decoded")
            self.rd_finished.emit(result)
            return
        self.result = result
        hdr = result.decoded.header
        self.stage.setText(f"done: {len(result.data)} bytes, {result.readouts[0].bpp:.4f} bpp"
                           + (" (cancelled: best latent so far)" if result.cancelled else ""))
        self._fill_table(result)
        if result.readouts[0].psnr is not None:
            self.rd.set_current(result.readouts[0].bpp, result.readouts[0].psnr)
        self.bits.set_data(hdr, result.bitmaps, result.decoded.image)
        self._refresh_canvas()
        self._update_title()
        self.job_finished.emit(result)

    def _on_failed(self, message: str) -> None:
        self.progress.setValue(0)
        self.stage.setText("cancelled" if not message else "failed")
        if message:
            self.show_error(message)
        self.job_failed.emit(message)

    def _fill_table(self, result: jobs.JobResult) -> None:
        self.table.setColumnCount(len(result.readouts))
        self.table.setHorizontalHeaderLabels([column_title(r.codec, j) for j, r in enumerate(result.readouts)])
        for j, r in enumerate(result.readouts):
            self.table.horizontalHeaderItem(j).setToolTip(r.codec)
        for j, r in enumerate(result.readouts):
            vals = [f"{r.nbytes:,}", f"{r.bpp:.4f}", _fmt(r.psnr, 2), _fmt(r.ms_ssim, 4), _fmt(r.encode_s, 2),
                    _fmt(r.decode_s, 3), r.note.strip("; ").replace("; ", "\n")]
            for i, v in enumerate(vals):
                self.table.setItem(i, j, QTableWidgetItem(v))
        self.headline.setText(headline(result))

    # ------------------------------------------------------------------ views
    def _images(self) -> list[tuple[str, np.ndarray]]:
        imgs = []
        if self.image is not None:
            imgs.append(("original", self.image.rgb))
        if self.result is not None:
            imgs.append((f"mspview {self.result.readouts[0].bpp:.3f} bpp", self.result.decoded.image))
            if self.result.classical_image is not None:
                imgs.append((self.result.classical_name, self.result.classical_image))
            if self.result.equal_psnr_image is not None:
                imgs.append((f"{self.result.classical_name}, equal PSNR", self.result.equal_psnr_image))
        return imgs

    def _shown(self, imgs: list[tuple[str, np.ndarray]]) -> list[tuple]:
        """The images as the "show" box asks: pixels, or every image but the original as its error map."""
        gain = self.show_box.currentData()
        if not gain or self.image is None:
            return imgs
        ref = self.image.rgb
        return [(f"{name}, error ×{gain}", *error_map(ref, im, gain)) if name != "original" and im.shape == ref.shape
                else (name, im) for name, im in imgs]

    def _refresh_canvas(self, *_, keep_view: bool = True) -> None:
        imgs = self._images()
        names = [n for n, _ in imgs]
        for box, default in ((self.split_left, 0), (self.split_right, 1)):
            current = box.currentIndex() if box.count() == len(names) else -1
            box.blockSignals(True)
            box.clear()
            box.addItems(names)
            box.setCurrentIndex(current if current >= 0 else min(default, len(names) - 1))
            box.blockSignals(False)
        if self.canvas.mode == "split" and len(imgs) > 1:
            imgs = [imgs[self.split_left.currentIndex()], imgs[self.split_right.currentIndex()]]
        self.canvas.set_images(self._shown(imgs), keep_view=keep_view)

    def show_preview(self, index: int) -> None:
        if 0 <= index < len(self.previews):
            p = self.previews[index]
            imgs = [i for i in self._images() if i[0] == "original"]
            self.canvas.set_images(self._shown(imgs + [(f"preview {p.scales_done}/{p.total_scales} ({p.bpp:.3f} bpp)",
                                                        p.image)]))

    # ------------------------------------------------------------------ misc
    def show_error(self, message: str) -> None:
        self.last_error = message
        box = QMessageBox(QMessageBox.Icon.Critical, "mspview", message, QMessageBox.StandardButton.Ok, self)
        box.setObjectName("error_dialog")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def about(self) -> None:
        QMessageBox.about(self, "About mspview", "mspview — learned image compression with a multi-scale "
                          "progressive probability model and latent overfitting.\nWeights trained on our own CPU.")

    def closeEvent(self, event) -> None:
        self._load_timer.stop()
        self._loader.shutdown(wait=False, cancel_futures=True)
        self.runner.stop()
        self._save_settings()
        super().closeEvent(event)


READOUT_ROWS = ["bytes", "bpp", "PSNR dB", "MS-SSIM", "encode s", "decode s", "notes"]


def headline(result: jobs.JobResult) -> str:
    """What the comparison found, in words: our size and quality, the PSNR gap at the same bpp, the
    size saved against the classical file of equal PSNR."""
    ours = result.readouts[0]
    lines = [f"{ours.codec}: {ours.nbytes:,} bytes, {ours.bpp:.3f} bpp"
             + (f", {ours.psnr:.2f} dB" if ours.psnr is not None else "")]
    if len(result.readouts) > 1:
        other = result.readouts[1]
        if other.nbytes and ours.psnr is not None and other.psnr is not None:
            lines.append(f"{ours.psnr - other.psnr:+.2f} dB against {other.codec} at the same bpp")
        if result.equal_psnr_bytes:
            saved = 100 * (1 - ours.nbytes / result.equal_psnr_bytes)
            lines.append(f"{abs(saved):.1f} % {'smaller' if saved >= 0 else 'larger'} than its "
                         f"{result.equal_psnr_bytes:,}-byte file of equal PSNR")
    return "\n".join(lines)


def column_title(codec: str, index: int) -> str:
    """A readout column's header, short enough for a narrow dock: the codec over what sets the column apart
    (mspview: its profile; a classical codec: same bpp or equal PSNR). The full label is the tooltip."""
    name, _, rest = codec.partition(" (")
    if index == 0:
        return f"{name}\n{rest.partition(')')[0]}"
    return f"{name}\n{'equal PSNR' if codec.endswith('equal PSNR') else 'same bpp'}"


def _fmt(v, digits: int) -> str:
    return "" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{digits}f}"


def trained_lambdas(model_path: str | None) -> tuple[tuple[float, ...], list[dict]]:
    """The weights' trained lambdas and their Kodak mean bpp/PSNR (card), read without loading the model.

    An unreadable card falls back to the default lambda set: the worker reports the real error."""
    try:
        card, config = read_card(model_path)
    except MSPError:
        return ModelConfig().lambdas, []
    return config.lambdas, sorted(card.get("kodak_fast", []), key=lambda p: p["lambda"])
