"""The main window: compare view in the centre under its bar (compare_bar.py); docks for controls,
readouts, LOF curves, this image's RD curves, bit allocation and the progressive decode (their layout:
window_layout.py); files opened by window_files.py. This module holds the job control and what the
views show. The working state is a Qt-free Session; all codec work runs in the worker process
(workers.JobRunner), handed the job functions of jobs.py."""
from __future__ import annotations

import dataclasses
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import QComboBox, QLabel, QMainWindow, QMessageBox, QScrollArea, QVBoxLayout, QWidget

from .. import __version__
from ..codec import profiles
from ..codec.coder import Preview
from ..codec.errors import MSPError
from ..codec.lof import LOFEvent
from ..codec.weights import read_card
from ..eval.metrics import psnr
from ..resources import ICON
from . import jobs, report
from .compare_bar import CompareBar
from .compare_view import CompareCanvas, error_map
from .controls import ControlsPanel
from .exports import Exports
from .session import Session, View, headline, newest_index, region_stats, region_text, shown_panes
from .window_files import FileOpening
from .window_layout import LAYOUT_VERSION, DockLayout
from .workers import JobRunner

class MainWindow(DockLayout, FileOpening, QMainWindow):
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
        self._side_job: str | None = None  # the side ('left', 'right') the running job encodes for
        self._side_queue: tuple | None = None  # (side, request) waiting for the running job
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
        self.compare_bar = bar = CompareBar(self.lambdas)
        # the bar's widgets, as tests and the menus reach them
        self.split_left, self.split_right, self.show_box, self.overlay_box = (bar.split_left, bar.split_right,
                                                                              bar.show_box, bar.overlay_box)
        self.side_left, self.side_right = bar.side_left, bar.side_right
        bar.changed.connect(self._refresh_canvas)
        bar.picked.connect(self._on_split_choice)
        bar.mode_chosen.connect(self.set_compare_mode)
        bar.overlay_box.toggled.connect(self._refresh_overlay)
        for enc in (bar.side_left, bar.side_right):
            enc.requested.connect(self.encode_side)
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(bar)
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
        c.stop_btn.clicked.connect(self.stop_keeping)
        c.error.connect(self.show_error)
        scroll = QScrollArea()
        scroll.setWidget(c)
        scroll.setWidgetResizable(True)
        self.controls_dock = self._dock("Controls", scroll, Qt.DockWidgetArea.LeftDockWidgetArea)

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
        self.loupe_action = self._action(v, "&Loupe (magnify under the cursor)", lambda: None, "L")
        self.loupe_action.setCheckable(True)
        self.loupe_action.toggled.connect(self.canvas.set_loupe)
        v.addSeparator()
        for d in (self.controls_dock, self.table_dock, self.curves_dock, self.rd_dock, self.bits_dock, self.strip_dock):
            v.addAction(d.toggleViewAction())
        self._action(v, "&Reset layout", self.reset_layout)
        e = self.menuBar().addMenu("&Encode")
        self._action(e, "&Encode", self.encode, "Ctrl+E")
        self._action(e, "&RD curve of this image", self.rd_sweep, "Ctrl+R")
        self._action(e, "&Cancel", self.cancel, "Esc")
        self._action(e, "&Stop, keep the best so far", self.stop_keeping, "Ctrl+K")
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

    # ------------------------------------------------------------------ title and compare mode
    def _update_title(self, *_) -> None:
        dev = self.controls.device.upper()
        name = self.session.title
        self.setWindowTitle(f"mspview {__version__} — {name} [device: {dev}]" if name else
                            f"mspview {__version__} [device: {dev}]")
        self.device_label.setText(f"device: {dev}")

    def flip_sides(self) -> None:
        """A/B: the two images of the split swap sides (a blink comparison on one key)."""
        self.compare_bar.flip()
        self._refresh_canvas(keep_view=True)

    def set_compare_mode(self, mode: str) -> None:
        self.compare_bar.set_mode(mode)
        self.canvas.set_mode("single" if mode == "diff" else mode)
        self._refresh_canvas(keep_view=False)  # fitted to the new panes (a side pane's zoom would halve a split)

    @property
    def compare_mode(self) -> str:
        return self.compare_bar.mode

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

    def encode_side(self, side: str, request) -> None:
        """One side's own codec and setting (the side encoders under the compare bar): a kept result of
        the same request is put on that side at once; else that side is encoded, after the running job."""
        if self.session.image is None:
            return
        if isinstance(request, jobs.EncodeRequest):
            request = dataclasses.replace(request, device=self.controls.device)
        kept = self.session.find(request)
        if kept is not None:
            self._put_on_side(side, kept)
            return
        if self.runner.busy:
            self._side_queue = (side, request)  # the latest choice waits; the running job is not cancelled
            self.statusBar().showMessage(f"the {side} side is encoded when the running job ends", 4000)
            return
        self._side_job = side
        if isinstance(request, jobs.EncodeRequest):
            self._clear_previews()
            self._start_job(f"{side} side: mspview fast, λ {request.lam:.4g}", jobs.encode_job,
                            self.session.image, request)
        else:
            self._start_job(f"{side} side: {request.codec}, {request.setting:g}", jobs.side_job,
                            self.session.image, request)

    def _put_on_side(self, side: str, result: jobs.EncodeResult) -> None:
        """Show a result's first file on one side of the split (the other side keeps its choice)."""
        key = (result.ours.suffix, result.ours.data)
        views = self.views()
        index = next((i for i, v in enumerate(views) if v.item is not None and (v.item.suffix, v.item.data) == key), None)
        if index is not None:
            self.compare_bar.box(side).setCurrentIndex(index)

    def _reset_sides(self) -> None:
        self._side_queue = None
        self.compare_bar.reset_sides()

    def _next_side(self) -> None:
        if self._side_queue is not None and not self.runner.busy:
            (side, request), self._side_queue = self._side_queue, None
            self.encode_side(side, request)

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
        if self.session.current is not None:
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
        """Esc / Cancel: the job ends at its next iteration, band or try and keeps nothing new; said at
        once, and kept on screen until the worker stops."""
        if not self.runner.busy:
            return
        self._cancelling = True
        self._side_queue = None
        self.runner.cancel()
        self.controls.stage.setText("cancelling… (the worker stops at its next iteration, band or try)")

    def stop_keeping(self) -> None:
        """Ctrl+K / Stop, keep best: LOF ends at its next iteration; its best latent so far is written and
        decoded (a job with nothing to keep yet ends as cancelled)."""
        if not self.runner.busy:
            return
        self._cancelling = True
        self.runner.stop_keeping()
        self.controls.stage.setText("stopping… (LOF's best latent so far is written and decoded)")

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
        if not getattr(result, "stopped", False):  # a stopped job's bar stays where Stop was pressed
            self.controls.progress.setValue(1000)
        if isinstance(result, jobs.RDSweep):
            self.session.rd = result
            self.rd.set_sweep(result)
            self.controls.stage.setText(f"RD sweep done: {len(result.points)} files encoded and decoded")
            self.rd_finished.emit(result)
            self._next_side()
            return
        if self._pending_open is not None:  # a .msp that decoded: now it is a recent file
            self._remember(self._pending_open)
            self._pending_open = None
        side, self._side_job = self._side_job, None
        mine = result.source != "side"  # a classical side file is shown, not made the current result
        dropped = self.session.add(result, current=mine)
        o = result.ours.readout
        cancelled = " (stopped: the best latent so far)" if result.stopped else ""
        kept = f"; {dropped} older result(s) let go (memory)" if dropped else ""
        said = f"{side} side: {o.title}, " if side else "done: "
        self.controls.stage.setText(f"{said}{o.nbytes:,} bytes, {o.bpp:.4f} bpp"
                                    + (f", {o.psnr:.2f} dB" if side and o.psnr else "") + f"{cancelled}{kept}")
        self._forgotten = None
        if mine:
            self._show_result(result)
        self._refresh_canvas(keep_view=True, newest=side is None)
        if side:
            self._put_on_side(side, result)
        self._results_changed()
        self.job_finished.emit(result)
        self._next_side()

    def _on_failed(self, message: str) -> None:
        self._clock.stop()
        self._side_job = None
        self.controls.progress.setValue(0)
        self.controls.stage.setText("cancelled" if not message else "failed")
        if self._pending_open is not None:  # a damaged file: no previews under another image, not recent
            self._pending_open = None
            self._clear_views()
        if message:
            self.show_error(message)
        self.job_failed.emit(message)
        self._next_side()

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
            if owner is not self.session.current and owner.source != "side":
                self._show_result(owner)
        self._refresh_canvas()

    def _refresh_canvas(self, *_, keep_view: bool = True, newest: bool = False) -> None:
        views = self.views()
        self.compare_bar.set_names([v.name for v in views], (0, newest_index(views)) if newest else (0, 1), not newest)
        if not views:
            self.canvas.set_images([], keep_view=False)
            return
        mode = self.compare_mode if len(views) > 1 else "single"
        current = self.session.current.items if self.session.current else []
        panes = shown_panes(views, mode, self.compare_bar.picks, current)
        shown = self._shown(panes) if panes else [self._difference(views)]
        left, right = self.compare_bar.picks
        self._pane_views = panes or [views[left], views[right]]
        # mspview's bit map lies over mspview's files only (not the original, a WebP file or a difference)
        msp = [v.item is not None and v.item.suffix == ".msp" for v in panes] or [False]
        self.canvas.set_images(shown, keep_view=keep_view, overlay_on=msp)

    def _shown(self, views: list[View]) -> list[tuple]:
        """As the show box asks: pixels, or every image but the original as its error map."""
        gain = self.compare_bar.gain
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
        left, right = self.compare_bar.picks
        a, b = views[left], views[right]
        gain = self.compare_bar.gain or 4
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
        """A preview clicked in the strip: beside the original under the split (a difference view, which
        draws one picture, goes back to the split first)."""
        if 0 <= index < len(self.previews):
            if self.compare_mode == "diff":
                self.set_compare_mode("split")
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
