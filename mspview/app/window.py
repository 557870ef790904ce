"""The main window: compare view in the centre; docks for controls, readouts, LOF curves, this image's RD
curves, bit allocation and the progressive decode. The working state is a Qt-free Session; all codec
work runs in the worker process (workers.JobRunner), handed the job functions of jobs.py."""
from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from PySide6.QtCore import QRect, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QGuiApplication, QIcon, QKeySequence
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QDockWidget, QFileDialog, QHBoxLayout, QLabel,
                               QMainWindow, QMessageBox, QPushButton, QScrollArea, QVBoxLayout, QWidget)

from .. import __version__
from ..codec import profiles
from ..codec.coder import Preview
from ..codec.errors import MSPError
from ..codec.imageio import load_image
from ..codec.lof import LOFEvent
from ..codec.weights import read_card
from ..eval.metrics import psnr
from ..resources import ICON
from . import jobs, report
from .compare_view import CompareCanvas, error_map
from .controls import ControlsPanel
from .exports import Exports
from .plots import BitAllocation, LOFCurves, RDView
from .preview_strip import PreviewStrip
from .readouts import ReadoutsPanel
from .session import Session, View, headline, region_stats, region_text
from .workers import JobRunner

OPEN_FILTER = ("Images and .msp files (*.msp *.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff *.ppm *.pgm *.gif);;"
               "All files (*)")
COMPACT_HEIGHT = 900  # below this many pixels of screen, the bottom docks share one tabbed area
LAYOUT_VERSION = 2  # saved dock layouts of other versions are not restored
FRAME = 4  # pixels a window manager's frame may add around the window (the title bar: 24 more)


class MainWindow(QMainWindow):
    job_finished = Signal(object)  # an encode or decode: a jobs.EncodeResult
    rd_finished = Signal(object)  # an RD sweep: a jobs.RDSweep
    job_failed = Signal(str)  # why a job stopped ("" when cancelled)
    image_loaded = Signal(object)  # the path, once its pixels are in
    image_failed = Signal(str)  # why an image file could not be opened

    def __init__(self, model_path: str | None = None, settings: QSettings | None = None):
        super().__init__()
        if ICON.is_file():
            self.setWindowIcon(QIcon(str(ICON)))
        self.settings = settings or QSettings("mspview", "mspview")
        self.model_path = model_path
        self.card, self.config = self._card(model_path)
        self.lambdas = self.config.lambdas
        self.expected = sorted(self.card.get("kodak_fast", []), key=lambda p: p["lambda"])
        self.runner = JobRunner(model_path, self)
        self.session = Session()
        self.previews: list[Preview] = []  # what the strip shows (the current result's mspview file)
        self.last_error = ""
        self.last_region: list = []  # the figures of the last Shift+drag region
        self._pane_views: list[View] = []  # the views the compare view shows
        self._job_started = 0.0
        self._cancelling = False
        self._pending_open: Path | None = None  # a .msp being decoded: remembered once it decodes
        self._forgotten: tuple | None = None  # what Forget took (results, current), until Ctrl+Z or the next result
        # Image files decode off the UI thread (a 64 MP PNG takes seconds); a timer collects the result.
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mspview-load")
        self._loading: tuple[Path, Future] | None = None
        self._load_timer = QTimer(self, interval=30, timeout=self._collect_image)
        # the job's elapsed time counts on between the worker's messages, and its time left counts down
        self._stage: tuple[str, float | None, float] | None = None  # text, seconds left, when said
        self._clock = QTimer(self, interval=1000, timeout=self._show_stage)
        self._build_view()
        self._build_controls()
        self._build_docks()
        self.exports = Exports(self)
        self._build_menus()
        self._default_state = self.saveState(LAYOUT_VERSION)
        self._restore_settings()
        self.runner.event.connect(self._on_event)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.runner.busy_changed.connect(self.controls.set_busy)
        self.setAcceptDrops(True)
        self._results_changed()

    @staticmethod
    def _card(model_path):
        """The weights' card (trained lambdas, Kodak figures), read without loading them: an unreadable
        card falls back to defaults, and the worker reports the real error."""
        from ..codec.model import ModelConfig
        try:
            return read_card(model_path)
        except MSPError:
            return {}, ModelConfig()

    # ------------------------------------------------------------------ building the UI
    def _build_view(self) -> None:
        self.canvas = CompareCanvas()
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        self.mode_group = QButtonGroup(self)
        for i, (mode, text, tip) in enumerate((("split", "Split", "two images under a draggable split"),
                                               ("side", "Side by side", "every image, one pane each"),
                                               ("diff", "Difference", "the difference of the two split images"))):
            b = QPushButton(text)
            b.setToolTip(tip)
            b.setCheckable(True)
            b.setChecked(i == 0)
            b.clicked.connect(lambda _=False, m=mode: self.set_compare_mode(m))
            self.mode_group.addButton(b, i)
            bar.addWidget(b)
        # Squoosh-style: any two of the images (original, every result kept) on either side of the split
        self.split_left, self.split_right = QComboBox(), QComboBox()
        for box, side in ((self.split_left, "left"), (self.split_right, "right")):
            box.setToolTip(f"what the {side} half of the split (and of a difference) shows")
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(14)
            box.currentIndexChanged.connect(self._refresh_canvas)
            box.activated.connect(lambda _i, box=box: self._on_split_choice(box))
        bar.addWidget(self.split_left)
        bar.addWidget(QLabel("|"))
        bar.addWidget(self.split_right)
        self.show_box = QComboBox()
        for text, gain in (("pixels", 0), ("error ×4", 4), ("error ×16", 16)):
            self.show_box.addItem(text, gain)
        self.show_box.setToolTip("error ×k: RMS difference to the original over R, G, B, times k, as colours "
                                 "(black: exact; bright: 64/k or more); hover for the signed difference")
        self.show_box.currentIndexChanged.connect(self._refresh_canvas)
        bar.addWidget(self.show_box)
        self.overlay_box = QCheckBox("bits")
        self.overlay_box.setToolTip("lay the bit-allocation map (Bit allocation dock: which scales, opacity) over "
                                    "the images; hover for the bits at each latent position")
        self.overlay_box.toggled.connect(self._refresh_overlay)
        bar.addWidget(self.overlay_box)
        bar.addStretch(1)
        lay.addLayout(bar)
        lay.addWidget(self.canvas, 1)
        self.setCentralWidget(central)
        self.canvas.hovered.connect(lambda s: self.statusBar().showMessage(s, 4000))
        self.canvas.region_selected.connect(self.show_region)
        self.device_label = QLabel()
        self.statusBar().addPermanentWidget(self.device_label)

    def _build_controls(self) -> None:
        self.controls = c = ControlsPanel(self.lambdas, self.expected)
        c.device_box.currentTextChanged.connect(self._update_title)
        c.encode_btn.clicked.connect(self.encode)
        c.rd_btn.clicked.connect(self.rd_sweep)
        c.cancel_btn.clicked.connect(self.cancel)
        c.error.connect(self.show_error)
        scroll = QScrollArea()
        scroll.setWidget(c)
        scroll.setWidgetResizable(True)
        self.controls_dock = self._dock("Controls", scroll, Qt.DockWidgetArea.LeftDockWidgetArea)

    def _build_docks(self) -> None:
        self.readouts = ReadoutsPanel()
        self.table_dock = self._dock("Readouts", self.readouts, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.curves = LOFCurves()
        self.curves_dock = self._dock("LOF curves", self.curves, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.rd = RDView()
        self.rd_dock = self._dock("RD curve (this image)", self.rd, Qt.DockWidgetArea.BottomDockWidgetArea)
        bits_page = QWidget()
        bl = QVBoxLayout(bits_page)
        bl.setContentsMargins(0, 0, 0, 0)
        self.bits = BitAllocation()
        self.bits.hovered.connect(lambda s: self.statusBar().showMessage(s, 4000))
        self.bits.map_changed.connect(self._refresh_overlay)
        self.bits.opacity.valueChanged.connect(self._refresh_overlay)
        bl.addWidget(self.bits, 1)
        self.bits_dock = self._dock("Bit allocation", bits_page, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.strip = PreviewStrip()
        self.strip.chosen.connect(self.show_preview)
        scroll = QScrollArea()
        scroll.setWidget(self.strip)
        scroll.setWidgetResizable(True)
        scroll.setMinimumHeight(150)
        self.strip_dock = self._dock("Progressive decode", scroll, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._arrange_docks()

    def _dock(self, title: str, widget: QWidget, area) -> QDockWidget:
        d = QDockWidget(title, self)
        d.setObjectName(title.replace(" ", "_"))
        d.setWidget(widget)
        self.addDockWidget(area, d)
        return d

    def _arrange_docks(self) -> None:
        """The default layout for this screen: a small screen's bottom docks share one tabbed area,
        a large one's strip runs above the LOF/RD tabs beside the bit allocation. The left column
        (controls, readouts) runs the full height."""
        compact = self._screen().height() < COMPACT_HEIGHT
        bottom = (self.strip_dock, self.curves_dock, self.rd_dock, self.bits_dock)
        for d in bottom:
            d.setFloating(False)
            d.show()
            self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, d)
        for d in (self.controls_dock, self.table_dock):
            d.setFloating(False)
            d.show()
            self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, d)
        self.splitDockWidget(self.controls_dock, self.table_dock, Qt.Orientation.Vertical)
        if compact:
            for d in bottom[1:]:
                self.tabifyDockWidget(self.strip_dock, d)
            self.strip_dock.raise_()
            self.resizeDocks([self.strip_dock], [240], Qt.Orientation.Vertical)
        else:
            self.splitDockWidget(self.strip_dock, self.curves_dock, Qt.Orientation.Vertical)
            self.splitDockWidget(self.curves_dock, self.bits_dock, Qt.Orientation.Horizontal)
            self.tabifyDockWidget(self.curves_dock, self.rd_dock)
            self.curves_dock.raise_()
            self.resizeDocks([self.strip_dock, self.curves_dock], [175, 290], Qt.Orientation.Vertical)
            self.resizeDocks([self.curves_dock, self.bits_dock], [700, 500], Qt.Orientation.Horizontal)
        self.resizeDocks([self.controls_dock], [310], Qt.Orientation.Horizontal)
        self.resizeDocks([self.controls_dock, self.table_dock], [420 if not compact else 400, 400],
                         Qt.Orientation.Vertical)

    def _screen(self):
        screen = self.screen() or QGuiApplication.primaryScreen()
        return screen.availableGeometry()

    def fit_to_screen(self) -> None:
        """Open at a size the screen holds: 1500 x 950 where it fits, else 95 % of the screen."""
        avail = self._screen()
        w, h = min(1500, int(avail.width() * 0.96)), min(950, int(avail.height() * 0.94))
        self.setGeometry(avail.x() + (avail.width() - w) // 2, avail.y() + (avail.height() - h) // 2, w, h)

    def reset_layout(self) -> None:
        """View → Reset layout: the default size and docks for this screen."""
        self.restoreState(self._default_state, LAYOUT_VERSION)
        self._arrange_docks()
        self.fit_to_screen()

    def _build_menus(self) -> None:
        m = self.menuBar().addMenu("&File")
        self._action(m, "&Open image or .msp…", self.open_dialog, QKeySequence.StandardKey.Open)
        self.recent_menu = m.addMenu("Open &recent")
        m.addSeparator()
        # what needs a result is enabled once there is one (not a red dialog after the fact)
        self.result_actions = [
            self._action(m, "&Save .msp…", self.exports.save_msp, QKeySequence.StandardKey.Save),
            self._action(m, "Save &comparison files…", self.exports.save_comparison_files),
            self._action(m, "Export &reconstruction (PNG)…", self.exports.export_reconstruction),
            self._action(m, "Export comparison re&port…", self.exports.export_report),
            self._action(m, "Export &interactive report (HTML)…", self.exports.export_html),
            self._action(m, "Export &bit maps…", self.exports.export_bit_maps)]
        m.addSeparator()
        self._action(m, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        v = self.menuBar().addMenu("&View")
        self._action(v, "&Split", lambda: self.set_compare_mode("split"))
        self._action(v, "Side &by side", lambda: self.set_compare_mode("side"))
        self._action(v, "&Difference of the two", lambda: self.set_compare_mode("diff"), "Ctrl+D")
        self._action(v, "Fl&ip the two sides (A/B)", self.flip_sides, "F")
        v.addSeparator()
        self._action(v, "&Fit", self.canvas.fit, "Ctrl+0")
        zoom_in = self._action(v, "Zoom &in", lambda: self.canvas.set_zoom(self.canvas.zoom * 2),
                               QKeySequence.StandardKey.ZoomIn)
        zoom_in.setShortcuts([*zoom_in.shortcuts(), QKeySequence("Ctrl+=")])  # Ctrl++ needs Shift on most layouts
        self._action(v, "Zoom &out", lambda: self.canvas.set_zoom(self.canvas.zoom / 2), QKeySequence.StandardKey.ZoomOut)
        self._action(v, "&100 %", lambda: self.canvas.set_zoom(1.0))
        for i, key in enumerate(("Ctrl+1", "Ctrl+2", "Ctrl+3")):
            self._action(v, f"Show {self.show_box.itemText(i)}", lambda _=False, i=i: self.show_box.setCurrentIndex(i), key)
        self._action(v, "Bit map over the images", self.overlay_box.toggle, "Ctrl+B")
        v.addSeparator()
        for d in (self.controls_dock, self.table_dock, self.curves_dock, self.rd_dock, self.bits_dock, self.strip_dock):
            v.addAction(d.toggleViewAction())
        self._action(v, "&Reset layout", self.reset_layout)
        e = self.menuBar().addMenu("&Encode")
        self._action(e, "&Encode", self.encode, "Ctrl+E")
        self._action(e, "&RD curve of this image", self.rd_sweep, "Ctrl+R")
        self._action(e, "&Cancel", self.cancel, "Esc")
        self._action(e, "&Forget kept results", self.forget_results)
        self.undo_forget = self._action(e, "&Bring back forgotten results", self.bring_back, QKeySequence.StandardKey.Undo)
        h = self.menuBar().addMenu("&Help")
        self._action(h, "&Keyboard shortcuts", self.show_shortcuts)
        self._action(h, "&About mspview", self.about)
        self._refresh_recent()

    def _action(self, menu, text, fn, shortcut=None) -> QAction:
        """A menu action; `fn` is called with no arguments (a QAction's `checked` flag is not an argument)."""
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(shortcut)
        a.triggered.connect(lambda _checked=False: fn())
        menu.addAction(a)
        return a

    # ------------------------------------------------------------------ settings
    def _restore_settings(self) -> None:
        s = self.settings
        self.controls.restore(s, self.config.default_lambda)
        rect = [int(v) for v in (s.value("window_rect") or [])]
        state = s.value("window_state")
        if len(rect) == 4 and state is not None and self._fits(QRect(*rect)):
            self.setGeometry(QRect(*rect))
            self.restoreState(state, LAYOUT_VERSION)
        else:  # first start, or saved on a bigger screen: this screen's default
            self.fit_to_screen()

    def _fits(self, rect: QRect) -> bool:
        """Whether a window of `rect` (plus a frame) lies on this screen."""
        return self._screen().contains(rect.adjusted(-FRAME, -FRAME - 24, FRAME, FRAME))

    def _save_settings(self) -> None:
        s = self.settings
        self.controls.save(s)
        g = self.geometry()
        s.setValue("window_rect", [g.x(), g.y(), g.width(), g.height()])
        s.setValue("window_state", self.saveState(LAYOUT_VERSION))
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

    # ------------------------------------------------------------------ title and compare mode
    def _update_title(self, *_) -> None:
        dev = self.controls.device.upper()
        name = self.session.title
        self.setWindowTitle(f"mspview {__version__} — {name} [device: {dev}]" if name else
                            f"mspview {__version__} [device: {dev}]")
        self.device_label.setText(f"device: {dev}")

    def flip_sides(self) -> None:
        """A/B: the two images of the split swap sides (a blink comparison on one key)."""
        a, b = self.split_left.currentIndex(), self.split_right.currentIndex()
        for box, i in ((self.split_left, b), (self.split_right, a)):
            box.blockSignals(True)
            box.setCurrentIndex(i)
            box.blockSignals(False)
        self._refresh_canvas(keep_view=True)

    def set_compare_mode(self, mode: str) -> None:
        self.mode_group.button(("split", "side", "diff").index(mode)).setChecked(True)
        for box in (self.split_left, self.split_right):
            box.setEnabled(mode != "side")
        self.canvas.set_mode("single" if mode == "diff" else mode)
        self._refresh_canvas(keep_view=False)  # fitted to the new panes (a side pane's zoom would halve a split)

    @property
    def compare_mode(self) -> str:
        return ("split", "side", "diff")[self.mode_group.checkedId()]

    # ------------------------------------------------------------------ files
    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open image or .msp", str(self._last_dir()), OPEN_FILTER)
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
        self.controls.stage.setText(f"loading {path.name}…")
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
            self.controls.stage.setText(f"could not open {path.name}")
            self.show_error(message)
            self.image_failed.emit(message)
            return
        self.runner.cancel()
        self.session.open_image(img, path)
        self._forgotten = None
        self._clear_views()
        self._remember(path)
        self._refresh_canvas(keep_view=False)
        self._results_changed()
        note = f" ({'; '.join(img.notes)})" if img.notes else ""
        self.controls.stage.setText(f"loaded {path.name}: {img.width}×{img.height} {img.source_mode}{note}")
        self.image_loaded.emit(path)

    def open_msp(self, path: Path) -> None:
        """Decode a .msp file in the worker; it joins Open recent only once it decodes."""
        try:
            data = path.read_bytes()
        except OSError as e:
            self.show_error(f"cannot read {path}: {e}")
            return
        self.session.open_file(path)
        self._forgotten = None
        self._clear_views()
        self._refresh_canvas(keep_view=False)
        self._results_changed()
        self._pending_open = path
        self._start_job(f"decoding {path.name}", jobs.decode_job, data, path.name)

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        urls = event.mimeData().urls()
        if urls:
            self.open_path(urls[0].toLocalFile())

    # ------------------------------------------------------------------ jobs
    def encode(self) -> None:
        if self.session.image is None:
            self.show_error("open an image first")
            return
        c = self.controls
        profile, target, lam = c.profile, c.target(), c.lam()
        request = jobs.EncodeRequest(profile, None if target else lam, target, c.compare, c.device)
        kept = self.session.find(request)
        if kept is not None:  # identical settings: show that result again instead of a duplicate
            self.session.current = kept
            self._show_result(kept)
            self._refresh_canvas(keep_view=True, newest=True)
            self.controls.stage.setText("the same settings as a kept result: it is shown (no new encode)")
            self.job_finished.emit(kept)
            return
        no_lof = profiles.get(profile).iterations == 0
        self.curves.clear(f"The {profile} profile does no latent overfitting: no curves." if no_lof else "")
        self._clear_previews()
        what = target or f"λ {lam:.4g}"
        self._start_job(f"encoding ({profile}, {what})", jobs.encode_job, self.session.image, request)

    def rd_sweep(self) -> None:
        if self.session.image is None:
            self.show_error("open an image first")
            return
        self.rd.clear()
        self.session.rd = None
        if self.session.current is not None and self.session.current.ours.readout.psnr is not None:
            o = self.session.current.ours.readout
            self.rd.set_current(o.bpp, o.psnr)
        self.rd_dock.raise_()
        compare = self.controls.compare
        self._start_job(f"RD sweep ({self.controls.codec_box.currentText() if compare else 'mspview only'})",
                        jobs.rd_sweep_job, self.session.image, compare)

    def forget_results(self) -> None:
        """Encode → Forget kept results: only the original stays; Ctrl+Z brings them back (a 20-minute
        run is not lost to a stray click)."""
        if not self.session.results:
            return
        self._forgotten = (self.session.results, self.session.current)
        self.session.results, self.session.current = [], None
        self._clear_views(keep_rd=True)
        self.rd.set_current(None, None)
        self._refresh_canvas()
        self.controls.stage.setText(f"forgot {len(self._forgotten[0])} result(s): Ctrl+Z (Encode → Bring back "
                                    f"forgotten results) restores them")
        self._results_changed()

    def bring_back(self) -> None:
        if not self._forgotten or self.session.results:
            return
        (self.session.results, self.session.current), self._forgotten = self._forgotten, None
        self._show_result(self.session.current)
        self._refresh_canvas(keep_view=True, newest=True)
        self.controls.stage.setText(f"{len(self.session.results)} result(s) brought back")
        self._results_changed()

    def _results_changed(self) -> None:
        """What depends on there being a result: the save and export actions, the undo of Forget."""
        for a in self.result_actions:
            a.setEnabled(self.session.current is not None)
        self.undo_forget.setEnabled(bool(self._forgotten) and not self.session.results)
        self._update_title()

    def _clear_previews(self) -> None:
        self.previews = []
        self.strip.clear()

    def _clear_views(self, keep_rd: bool = False) -> None:
        """Every view back to empty: a new image (or file) shows nothing of the previous one."""
        self.controls.progress.setValue(0)
        self._clear_previews()
        self.curves.clear()
        if not keep_rd:
            self.rd.clear()
        self.bits.clear()
        self.readouts.clear()
        self.canvas.set_overlay(None)

    def _start_job(self, text: str, job, *args) -> None:
        self.controls.progress.setValue(0)
        self.controls.stage.setText(text)
        self._cancelling = False
        self._job_started = time.perf_counter()
        self._stage = (text, None, self._job_started)
        self._clock.start()
        self.runner.start(job, self.controls.device, *args)

    def _show_stage(self) -> None:
        if self._stage is None or self._cancelling or not self.runner.busy:
            self._clock.stop()
            return
        text, left, said = self._stage
        now = time.perf_counter()
        left = f", ~{max(0.0, left - (now - said)):.0f} s left in this phase" if left else ""
        self.controls.stage.setText(f"{text} ({now - self._job_started:.0f} s{left})")

    def cancel(self) -> None:
        """Esc / Cancel: said at once, and kept on screen until the worker stops."""
        if not self.runner.busy:
            return
        self._cancelling = True
        self.runner.cancel()
        self.controls.stage.setText("cancelling… (the worker stops at its next iteration or step)")

    def _on_event(self, ev) -> None:
        if isinstance(ev, jobs.Stage):
            if self._cancelling:  # the bar stops where Cancel was pressed
                return
            self.controls.progress.setValue(int(1000 * ev.fraction))
            self._stage = (ev.text, ev.seconds_left, time.perf_counter())
            self._show_stage()
        elif isinstance(ev, LOFEvent):
            self.curves.add(ev)
        elif isinstance(ev, jobs.RDPoint):
            self.rd.add_point(ev)
        elif isinstance(ev, jobs.PreviewEvent):
            self.previews.append(ev.preview)
            self.strip.add(ev.preview, ev.psnr, None)

    def _on_finished(self, result) -> None:
        self._clock.stop()
        if not getattr(result, "cancelled", False):  # a cancelled job's bar stays where Cancel stopped it
            self.controls.progress.setValue(1000)
        if isinstance(result, jobs.RDSweep):
            self.session.rd = result
            self.rd.set_sweep(result)
            self.controls.stage.setText(f"RD sweep done: {len(result.points)} files encoded and decoded")
            self.rd_finished.emit(result)
            return
        if self._pending_open is not None:  # a .msp that decoded: now it is a recent file
            self._remember(self._pending_open)
            self._pending_open = None
        dropped = self.session.add(result)
        o = result.ours.readout
        cancelled = " (cancelled: the best latent so far)" if result.cancelled else ""
        kept = f"; {dropped} older result(s) let go (memory)" if dropped else ""
        self.controls.stage.setText(f"done: {o.nbytes:,} bytes, {o.bpp:.4f} bpp{cancelled}{kept}")
        self._forgotten = None
        self._show_result(result)
        self._refresh_canvas(keep_view=True, newest=True)
        self._results_changed()
        self.job_finished.emit(result)

    def _on_failed(self, message: str) -> None:
        self._clock.stop()
        self.controls.progress.setValue(0)
        self.controls.stage.setText("cancelled" if not message else "failed")
        if self._pending_open is not None:  # a damaged file: no previews under another image, not recent
            self._pending_open = None
            self._clear_views()
        if message:
            self.show_error(message)
        self.job_failed.emit(message)

    def _show_result(self, result: jobs.EncodeResult) -> None:
        """The readouts, bit views, previews and RD star of one kept result."""
        self.session.current = result
        self.readouts.show_readouts([i.readout for i in result.items], headline(result))
        ours = result.ours
        self.previews = list(ours.previews)
        self.strip.clear()
        ref = self.session.image.rgb if self.session.image is not None else None
        for p in self.previews:
            self.strip.add(p, psnr(p.image, ref) if ref is not None else None, len(ours.data))
        if ours.decoded is not None:
            self.bits.set_data(ours.decoded.header, ours.bitmaps, ours.image)
        self.rd.set_current(ours.readout.bpp, ours.readout.psnr)
        self._refresh_overlay()

    def show_region(self, x0: int, y0: int, x1: int, y1: int) -> None:
        """Shift+drag over the image: PSNR, MS-SSIM and mspview's bits of every shown image in that
        rectangle, in the status bar until the next one (and in its tooltip)."""
        box = (x0, y0, x1, y1)
        original = self.session.image.rgb if self.session.image is not None else None
        self.last_region = region_stats(original, [v for v in self._pane_views if v.item is not None], box)
        text = region_text(self.last_region, box)
        self.statusBar().showMessage(text)
        self.statusBar().setToolTip(text)

    # ------------------------------------------------------------------ views
    def views(self) -> list[View]:
        return self.session.views()

    def _on_split_choice(self, box: QComboBox) -> None:
        """A kept result a user picks on either side becomes the one the detail views show."""
        views = self.views()
        i = box.currentIndex()
        if 0 <= i < len(views) and views[i].item is not None:
            owner = next(r for r in self.session.results if any(it is views[i].item for it in r.items))
            if owner is not self.session.current:
                self._show_result(owner)
        self._refresh_canvas()

    def _refresh_canvas(self, *_, keep_view: bool = True, newest: bool = False) -> None:
        views = self.views()
        names = [v.name for v in views]
        defaults = (0, 1) if not newest else (0, self._newest_index(views))
        for box, default in zip((self.split_left, self.split_right), defaults):
            current = box.currentText()
            box.blockSignals(True)
            box.clear()
            box.addItems(names)
            box.setCurrentIndex(names.index(current) if current in names and not newest else min(default, len(names) - 1))
            box.blockSignals(False)
        if not views:
            self.canvas.set_images([], keep_view=False)
            return
        mode = self.compare_mode if len(views) > 1 else "single"
        if mode == "single":
            panes = views
        elif mode == "side":  # a grid: the original, the current result's files and the two picked
            picked = [views[self.split_left.currentIndex()], views[self.split_right.currentIndex()]]
            current = self.session.current.items if self.session.current else []
            panes = [v for v in views if v.item is None or any(v.item is i for i in current)
                     or any(v is p for p in picked)]
        elif mode == "diff":
            panes = []
        else:
            panes = [views[self.split_left.currentIndex()], views[self.split_right.currentIndex()]]
        shown = self._shown(panes) if panes else [self._difference(views)]
        self._pane_views = panes or [views[self.split_left.currentIndex()], views[self.split_right.currentIndex()]]
        # mspview's bit map lies over mspview's files only (not the original, a WebP file or a difference)
        msp = [v.item is not None and v.item.suffix == ".msp" for v in panes] or [False]
        self.canvas.set_images(shown, keep_view=keep_view, overlay_on=msp)

    @staticmethod
    def _newest_index(views: list[View]) -> int:
        """The newest result's mspview image (the last view whose item is an mspview file)."""
        for i in range(len(views) - 1, -1, -1):
            if views[i].item is not None and views[i].item.suffix == ".msp" and views[i].item.readout.codec == "mspview":
                return i
        return min(1, len(views) - 1)

    def _shown(self, views: list[View]) -> list[tuple]:
        """As the show box asks: pixels, or every image but the original as its error map."""
        gain = self.show_box.currentData()
        ref = self.session.image.rgb if self.session.image is not None else None
        out = []
        for v in views:
            if gain and ref is not None and v.item is not None and v.pixels.shape == ref.shape:
                out.append((f"{v.name}, error ×{gain}", *error_map(ref, v.pixels, gain)))
            else:
                out.append((v.name, v.pixels))
        return out

    def _difference(self, views: list[View]) -> tuple:
        """The difference of the two split images, left − right, as an error map (×4 unless the show box
        says ×16); hover gives the signed difference."""
        a, b = views[self.split_left.currentIndex()], views[self.split_right.currentIndex()]
        gain = self.show_box.currentData() or 4
        if a.pixels.shape != b.pixels.shape:
            return (f"{a.name} and {b.name} differ in size", a.pixels)
        shown, diff = error_map(b.pixels, a.pixels, gain)
        return (f"{a.name} − {b.name}, ×{gain}", shown, diff)

    def _refresh_overlay(self, *_) -> None:
        if self.overlay_box.isChecked() and self.bits.maps is not None:
            choice = self.bits.map_choice.currentText()
            self.canvas.set_overlay(self.bits.map(choice), choice, self.bits.opacity.value() / 100)
        else:
            self.canvas.set_overlay(None)

    def show_preview(self, index: int) -> None:
        if 0 <= index < len(self.previews):
            p = self.previews[index]
            original = [v for v in self.views() if v.item is None]
            name = f"{p.scales_done} of {p.total_scales} scales, {p.bytes_read:,} B ({p.bpp:.3f} bpp)"
            self.canvas.set_images(self._shown(original) + [(name, p.image)], overlay_on=[False] * len(original) + [True])

    # ------------------------------------------------------------------ misc
    def show_error(self, message: str) -> None:
        self.last_error = message
        box = QMessageBox(QMessageBox.Icon.Critical, "mspview", message, QMessageBox.StandardButton.Ok, self)
        box.setObjectName("error_dialog")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def _info(self, title: str, text: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Information, title, text, QMessageBox.StandardButton.Ok, self)
        box.setObjectName("info_dialog")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def about(self) -> None:
        c = self.card
        hours = f"{c.get('cpu_hours', '?')} CPU-hours" + (f" + {c['gpu_hours']} GPU-hours" if c.get("gpu_hours") else "")
        self._info("About mspview", f"mspview {__version__}: learned image compression with a multi-scale "
                   f"progressive probability model and latent overfitting; .msp format version "
                   f"{report.MSP_VERSION}, which decodes alike on every machine.\n\nWeights: {self.config.model_id}, "
                   f"sha256 {str(c.get('sha256', '?'))[:16]}, {c.get('steps', '?')} training steps ({hours}), "
                   f"trained by mspview's own code on its training photos.")

    def show_shortcuts(self) -> None:
        rows = []
        for action in self.findChildren(QAction):
            if action.shortcut().toString():
                rows.append(f"{action.shortcut().toString():<12} {action.text().replace('&', '')}")
        self._info("Keyboard shortcuts", "\n".join(sorted(set(rows))) + "\n\nWheel: zoom around the cursor; "
                   "drag: pan; drag the split handle; double-click: fit.")

    def closeEvent(self, event) -> None:
        self._load_timer.stop()
        self._loader.shutdown(wait=False, cancel_futures=True)
        self.runner.stop()
        self._save_settings()
        super().closeEvent(event)
