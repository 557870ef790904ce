"""The real main window under pytest-qt (offscreen), driven as a person drives it: menu actions through
QAction.trigger() (file dialogs answered by patched functions), buttons clicked, combo boxes chosen.
Encode, cancel, previews, compare modes, readouts, bit views, save/reopen, damaged and truncated files,
a new image clearing every view, every menu action, the layout on a laptop screen, and no codec work
in the UI process."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QPointF, QSettings, Qt, QTimer
from PySide6.QtWidgets import QMessageBox

from mspview.app.compare_view import ERROR_LUT, error_map
from mspview.app.window import MainWindow
from mspview.codec import coder, lof, msp, profiles
from mspview.codec.coder import decode
from mspview.codec.weights import load_weights
from mspview.eval import classical

from conftest import HANG_MS, HANG_S, REPO, SAMPLE, action, encode_and_wait, menu_actions, patch_dialogs

pytestmark = pytest.mark.slow  # app windows, workers, subprocesses: `pytest -m "not slow"` skips them


def test_encode_fast_previews_readouts_bits(qtbot, window):
    result = encode_and_wait(qtbot, window)
    ours = result.ours
    S = ours.decoded.header.num_scales
    assert len(window.previews) == S + 1 and len(window.strip.buttons) == S + 1
    assert window.curves.point_count() == 0 and "no latent overfitting" in window.curves.message.text()
    table = window.readouts.table
    assert table.columnCount() == 3  # mspview, WebP at the same bpp, WebP at equal PSNR
    same, equal = result.items[1].readout, result.items[2].readout
    assert [table.horizontalHeaderItem(j).text() for j in range(3)] == ["mspview\nfast", "WebP\nsame bpp",
                                                                       "WebP\nequal PSNR"]
    assert table.horizontalHeaderItem(1).toolTip() == same.label
    assert table.item(0, 0).text() == f"{ours.readout.nbytes:,}" and table.item(0, 2).text() == f"{equal.nbytes:,}"
    assert abs(equal.psnr - ours.readout.psnr) <= abs(same.psnr - ours.readout.psnr)
    head = window.readouts.headline.text()
    assert f"{ours.readout.psnr - result.same.psnr:+.2f} dB against WebP at the same bpp" in head
    if result.equal.interpolated:  # no WebP quality within 0.01 dB: the size at our PSNR between two files
        assert f"({result.equal.nbytes:,.0f} bytes, interpolated between its files of" in head
    else:
        assert result.equal.nbytes == equal.nbytes and f"{equal.nbytes:,}-byte file of equal PSNR" in head
    assert abs(same.bpp - ours.readout.bpp) <= 0.05 * ours.readout.bpp
    # the notes say smaller or larger in words, with no minus sign, in mspview's own column
    assert ("smaller than WebP" in table.item(7, 0).text()) or ("larger than WebP" in table.item(7, 0).text())
    assert "-" not in table.item(7, 0).text().split("%")[0]
    # the compare view holds original | the new mspview file; side by side shows all four
    assert window.canvas.image_names()[0] == "original" and window.canvas.image_names()[1].startswith("mspview fast")
    window.set_compare_mode("side")
    names = window.canvas.image_names()
    assert len(names) == 4 and names[2].startswith("WebP same bpp") and f"{same.bpp:.3f} bpp" in names[2]
    window.set_compare_mode("split")
    window.split_left.setCurrentIndex(1)  # mspview | WebP: the two codecs at the same bpp
    window.split_right.setCurrentIndex(2)
    assert window.canvas.image_names()[0].startswith("mspview") and window.canvas.image_names()[1].startswith("WebP")
    # error view: both decoded images as error maps; hover gives the signed difference to the original
    window.show_box.setCurrentIndex(window.show_box.findData(4))
    names = window.canvas.image_names()
    assert names[0].endswith("error ×4") and names[1].startswith("WebP") and names[1].endswith("error ×4")
    c = window.canvas
    c.set_zoom(16.0)
    x, y = int(np.floor(c.center.x())), int(np.floor(c.center.y()))
    d = ours.image[y, x].astype(int) - window.session.image.rgb[y, x].astype(int)
    assert f"Δ({', '.join(f'{v:+d}' for v in d)})" in c.describe(QPointF(c.width() / 2, c.height() / 2))
    window.show_box.setCurrentIndex(0)
    # the exact per-scale sizes from the file are shown beside the estimated per-chunk bars
    assert all(f"s{r.scale} {r.nbytes} B" in window.bits.scale_bytes.text() for r in ours.decoded.header.scales)
    # clicking a preview shows it large, labelled in plain words
    window.strip.buttons[0].click()
    assert window.canvas.image_names()[1].startswith("1 of 4 scales")
    assert "% of the file" in window.strip.buttons[0].text()


def test_error_map_scale_and_sign():
    orig = np.full((4, 4, 3), 100, np.uint8)
    img = orig.copy()
    img[0, 0] = (116, 116, 116)  # RMS error 16
    img[1, 1] = (95, 100, 100)  # below the original: no uint8 wrap-around
    shown, diff = error_map(orig, img, 4)
    assert (shown[2:, 2:] == ERROR_LUT[0]).all() and (shown[0, 0] == ERROR_LUT[64]).all()
    assert diff[1, 1].tolist() == [-5, 0, 0] and diff[0, 0].tolist() == [16, 16, 16]
    assert (error_map(orig, img, 16)[0][0, 0] == ERROR_LUT[255]).all()  # clipped, not wrapped


def test_bit_maps_per_scale_and_hover(qtbot, window):
    result = encode_and_wait(qtbot, window)
    bits = window.bits
    heat = bits.heat
    bits.setCurrentIndex(1)
    total = result.ours.bitmaps.spatial.sum()
    per_scale = []
    for choice in ("base", "scale 2", "scale 1", "scale 0"):
        bits.map_choice.setCurrentText(choice)
        per_scale.append(heat.bits.sum())
        assert choice in heat.value_at(100.0, 50.0)
    bits.map_choice.setCurrentText("all scales")
    # each scale's bits spread over the blocks they stand for: the same total, no grid of bright dots
    assert np.isclose(sum(per_scale), total) and np.isclose(heat.bits.sum(), total)
    assert heat.bits.min() > 0  # every latent position has its share of the base's bits
    qtbot.wait(50)
    heat.scene().sigMouseMoved.emit(heat.view.mapViewToScene(QPointF(100.0, 50.0)))
    assert "latent (6, 3)" in bits.hover_label.text() and "bits" in bits.hover_label.text()
    # the per-channel view: group boundaries and hover
    bits.setCurrentIndex(2)
    text = bits.channel_at(40.0)
    assert text.startswith("channel 40 (group 1)") and "bits" in text


def test_chunk_bars_ticks_and_hover(qtbot, window):
    encode_and_wait(qtbot, window)
    bits = window.bits
    major, minor = bits.chunks.getAxis("bottom")._tickLevels
    assert [name for _, name in major] == ["base"] + [f"scale {s}" for s in reversed(range(len(major) - 1))]
    assert len(minor) == len(bits.chunk_rows) - 1
    scene_pos = bits.chunks.getPlotItem().vb.mapViewToScene(QPointF(1.0, 0.0))
    bits.chunks.scene().sigMouseMoved.emit(scene_pos)
    assert bits.chunk_hover.text() == bits.chunk_rows[1] and " B (" in bits.chunk_rows[1]


def test_rd_sweep_of_this_image_and_its_cancel(qtbot, window):
    result = encode_and_wait(qtbot, window)
    with qtbot.waitSignal(window.rd_finished, timeout=HANG_MS) as blocker:
        window.controls.rd_btn.click()
    sweep = blocker.args[0]
    lambdas = load_weights().model.config.lambdas
    ours, webp = sweep.curve("mspview"), sweep.curve(sweep.codec)
    assert sweep.codec == "WebP" and [p.setting for p in ours] == sorted(lambdas)
    assert len(webp) == len(classical.get("webp").sweep)
    lam = result.ours.decoded.header.lam  # the encode just made is one of the sweep's points
    assert [p.nbytes for p in ours if abs(p.setting - lam) < 1e-6 * lam] == [result.ours.readout.nbytes]
    assert len(window.strip.buttons) == result.ours.decoded.header.num_scales + 1  # the encode's views stay
    x, y = window.rd.ours.getData()
    assert list(x) == [p.bpp for p in ours] and list(y) == [p.psnr for p in ours]
    assert list(window.rd.current.getData()[0]) == [result.ours.readout.bpp]
    assert "x0.001" not in window.rd.plot.getAxis("bottom").labelString()
    vb = window.rd.plot.getPlotItem().vb
    window.rd.plot.scene().sigMouseMoved.emit(vb.mapViewToScene(QPointF(ours[2].bpp, ours[2].psnr)))
    assert window.rd.hover.text().startswith(f"mspview λ {ours[2].setting:g}: {ours[2].nbytes:,} bytes")
    assert isinstance(sweep.bd["psnr"], float) and f"PSNR {sweep.bd['psnr']:+.1f} %" in window.rd.summary.text()
    # a second sweep, cancelled after its first points: the job ends as cancelled, points stop coming
    window.controls.rd_btn.click()
    qtbot.waitUntil(lambda: len(window.rd.points) >= 2, timeout=HANG_MS)
    with qtbot.waitSignal(window.job_failed, timeout=HANG_MS) as failed:
        window.controls.cancel_btn.click()
    assert failed.args[0] == "" and len(window.rd.points) < len(sweep.points)
    assert window.controls.rd_btn.isEnabled() and window.controls.encode_btn.isEnabled()


def test_split_handle_drag_and_zoom(qtbot, window):
    encode_and_wait(qtbot, window)
    c = window.canvas
    x = int(c.width() * c.split)
    qtbot.mousePress(c, Qt.MouseButton.LeftButton, pos=QPointF(x, c.height() / 2).toPoint())
    qtbot.mouseMove(c, QPointF(c.width() * 0.25, c.height() / 2).toPoint())
    qtbot.mouseRelease(c, Qt.MouseButton.LeftButton)
    assert abs(c.split - 0.25) < 0.05
    action(window, "View/Zoom in").trigger()
    zoomed = c.zoom
    action(window, "View/Zoom out").trigger()
    assert zoomed == pytest.approx(2 * c.zoom)
    # split after side by side: the view is fitted again, not left at a side pane's zoom
    window.set_compare_mode("side")
    side_zoom = c.zoom
    window.set_compare_mode("split")
    assert c.zoom > side_zoom
    c.set_zoom(16.0)
    assert "x " in c.describe(QPointF(c.width() / 2, c.height() / 2))


def test_lof_curves_and_stop_keeping_the_best(qtbot, window):
    """Stop, keep best is acknowledged at once and stays said until the worker stops; LOF stops on the
    request (counted in iterations, not seconds) and its best latent is written and decoded; the skipped
    comparison is said, not silently dropped."""
    window.controls.profile_box.setCurrentText("balanced")
    window.controls.encode_btn.click()
    qtbot.waitUntil(lambda: window.curves.point_count() >= 6, timeout=HANG_MS)
    assert not window.curves.message.isVisible()
    stages = []  # what the stage line said, every 20 ms
    timer = QTimer(interval=20, timeout=lambda: stages.append(window.controls.stage.text()))
    timer.start()
    seen = window.curves.last_iteration()
    with qtbot.waitSignal(window.job_finished, timeout=HANG_MS) as blocker:
        window.controls.stop_btn.click()
        assert window.controls.stage.text().startswith("stopping")
    timer.stop()
    result = blocker.args[0]
    assert result.stopped and all(s.startswith("stopping") for s in stages[1:-1])
    # LOF stopped on the request: after what was drawn, before its last iteration
    assert seen <= result.lof_iterations < profiles.get("balanced").iterations
    assert any("comparison skipped" in n for n in result.notes) and "comparison skipped" in window.readouts.headline.text()
    assert decode(load_weights(), result.ours.data).complete
    # the next encode, with a profile that does no LOF, leaves no old curves or axes behind
    encode_and_wait(qtbot, window)
    assert window.curves.point_count() == 0 and window.curves.message.isVisible()


def test_cancel_during_lof_keeps_nothing_new(qtbot, window):
    """Cancel (Esc) ends an encode in LOF without a file: the job fails silently as cancelled, the kept
    results are those from before, and the stage line says so."""
    first = encode_and_wait(qtbot, window)
    window.controls.profile_box.setCurrentText("balanced")
    window.controls.encode_btn.click()
    qtbot.waitUntil(lambda: window.curves.point_count() >= 3, timeout=HANG_MS)
    with qtbot.waitSignal(window.job_failed, timeout=HANG_MS) as blocker:
        action(window, "Encode/Cancel").trigger()
        assert window.controls.stage.text().startswith("cancelling")
    assert blocker.args[0] == "" and window.session.results == [first] and window.session.current is first
    assert window.controls.stage.text() == "cancelled" and not window.runner.busy


def test_save_and_reopen_msp(qtbot, window, tmp_path, monkeypatch):
    result = encode_and_wait(qtbot, window)
    path = tmp_path / "saved.msp"
    patch_dialogs(monkeypatch, save_path=path)
    action(window, "File/Save .msp…").trigger()
    assert path.read_bytes() == result.ours.data
    with qtbot.waitSignal(window.job_finished, timeout=HANG_MS) as blocker:
        window.open_path(path)
    opened = blocker.args[0]
    assert np.array_equal(opened.ours.image, result.ours.image)
    assert "saved.msp" in window.windowTitle()  # the title keeps the file's name
    assert window.canvas.image_names() == [window.session.views()[0].name]  # one image, not mspview | mspview
    assert str(path) in window._recent()


def test_unwritable_destinations_say_why(qtbot, window, tmp_path, monkeypatch):
    """Saving into a folder that is not there, or exporting into a plain file, ends in a dialog that names
    the destination, and the status line does not claim it was written."""
    encode_and_wait(qtbot, window)
    blocker = tmp_path / "a_file"
    blocker.write_bytes(b"x")
    patch_dialogs(monkeypatch, save_path=tmp_path / "missing" / "saved.msp", folder=blocker)
    for path, where in (("File/Save .msp…", "missing"), ("File/Export reconstruction (PNG)…", "missing"),
                        ("File/Export comparison report…", "a_file"), ("File/Export bit maps…", "a_file"),
                        ("File/Export interactive report (HTML)…", "missing"),
                        ("File/Save comparison files…", "a_file")):
        action(window, path).trigger()
        assert where in window.last_error and "cannot write" in window.last_error, path
        assert not window.controls.stage.text().startswith(("saved", "report written", "bit maps written",
                                                            "interactive report written")), path
        window.last_error = ""
    assert not (tmp_path / "missing").exists() and blocker.read_bytes() == b"x"


def test_damaged_msp_names_file_and_scale(qtbot, window, tmp_path):
    result = encode_and_wait(qtbot, window)
    bad = bytearray(result.ours.data)
    bad[-40] ^= 0x5A  # inside the last scale's stream
    path = tmp_path / "bad.msp"
    path.write_bytes(bytes(bad))
    with qtbot.waitSignal(window.job_failed, timeout=HANG_MS):
        window.open_path(path)
    assert "bad.msp" in window.last_error and "scale 0" in window.last_error and "damaged" in window.last_error
    dialogs = [w for w in window.findChildren(QMessageBox) if w.isVisible()]
    assert dialogs and dialogs[0].icon() == QMessageBox.Icon.Critical
    assert window.strip.buttons == [] and window.bits.maps is None  # its good scales are not left on screen
    assert str(path) not in window._recent()


def test_truncated_msp_says_how_many_scales(qtbot, window, tmp_path):
    result = encode_and_wait(qtbot, window)
    header = result.ours.decoded.header
    keep = len(result.ours.data) - header.scales[-1].nbytes  # the finest scale cut off
    path = tmp_path / "cut.msp"
    path.write_bytes(result.ours.data[:keep] + b"\0" * 7)  # and a partial chunk of the finest scale
    with qtbot.waitSignal(window.job_finished, timeout=HANG_MS) as blocker:
        window.open_path(path)
    opened = blocker.args[0]
    assert not opened.ours.decoded.complete
    assert "3 of 4 scales decoded" in window.readouts.headline.text()
    # the readout gives the bytes the picture was decoded from, and says what the file holds
    assert opened.ours.readout.nbytes == keep and window.readouts.table.item(0, 0).text() == f"{keep:,}"
    assert f"{keep:,} of the file's {keep + 7:,} bytes used" in window.readouts.headline.text()


def test_unreadable_image_shows_error(qtbot, window, tmp_path):
    p = tmp_path / "not_an_image.png"
    p.write_bytes(b"garbage")
    with qtbot.waitSignal(window.image_failed, timeout=HANG_MS):
        window.open_path(p)
    assert "not an image" in window.last_error
    assert window.session.path == SAMPLE  # the image shown before stays


def test_new_image_clears_every_view(qtbot, window, tmp_path):
    """Image A encoded (quick: LOF curves too, and an RD sweep), then image B opened: every view holds
    B's data or nothing."""
    window.controls.lam_spin.setValue(0.0018)
    encode_and_wait(qtbot, window, "quick")
    assert window.curves.point_count() > 0 and window.bits.maps is not None
    window.rd.hover.setText("mspview λ 0.0018: 1,234 bytes")
    b = tmp_path / "b.png"
    Image.open(SAMPLE).crop((0, 0, 200, 120)).save(b)
    with qtbot.waitSignal(window.image_loaded, timeout=HANG_MS):
        window.open_path(b)
    assert window.session.results == [] and window.session.image.width == 200
    assert window.bits.maps is None and window.bits.heat.bits is None and window.bits.chunk_rows == []
    assert window.curves.point_count() == 0 and window.rd.points == [] and window.rd.hover.text().startswith("hover")
    assert window.strip.buttons == [] and window.readouts.table.columnCount() == 0
    assert window.canvas.image_names() == ["original"]
    result = encode_and_wait(qtbot, window)
    assert window.bits.heat.bits.shape == result.ours.decoded.header.latent_size == (8, 13)


def test_close_during_encode_leaves_no_thread(qtbot, window):
    window.controls.profile_box.setCurrentText("best")
    window.controls.encode_btn.click()
    qtbot.waitUntil(lambda: window.curves.point_count() >= 2, timeout=HANG_MS)
    assert window.runner.busy and window.runner.is_running()
    window.close()
    assert not window.runner.is_running()


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="kills the worker as the out-of-memory killer would")
def test_a_killed_worker_fails_its_job_and_the_next_runs(qtbot, window):
    """The worker killed mid-encode (as by the out-of-memory killer): the encode fails with the reason in a
    dialog, the buttons come back, and the next encode runs in a new worker."""
    window.controls.profile_box.setCurrentText("balanced")
    window.controls.encode_btn.click()
    qtbot.waitUntil(lambda: window.curves.point_count() >= 1, timeout=HANG_MS)
    old = window.runner._proc.pid
    with qtbot.waitSignal(window.job_failed, timeout=HANG_MS) as blocker:
        os.kill(old, signal.SIGKILL)
    assert "ended unexpectedly (killed by SIGKILL" in blocker.args[0] and "SIGKILL" in window.last_error
    assert not window.runner.busy and window.controls.encode_btn.isEnabled()
    result = encode_and_wait(qtbot, window)
    assert result.ours.readout.nbytes > 0 and window.runner._proc.pid != old


ORPHAN_SCRIPT = """
import os
import sys
from PySide6.QtCore import QCoreApplication
from mspview.app import jobs
from mspview.app.workers import JobRunner
app = QCoreApplication([])
runner = JobRunner()
runner.failed.connect(lambda message: app.quit())
runner.start(jobs.decode_job, "cpu", b"not an msp file", "junk.msp")  # a job done: the worker is idle
app.exec()
print(runner._proc.pid, flush=True)
sys.stdin.readline()  # the test reads the pid, then lets this process die without closing anything
os._exit(0)  # no close, no atexit: as a crash or a kill would
"""


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] not in "ZX"
    except (FileNotFoundError, IndexError):
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_worker_ends_when_the_app_dies(tmp_path):
    """An app that crashes or is killed leaves no worker process behind holding the weights."""
    app = subprocess.Popen([sys.executable, "-c", ORPHAN_SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           text=True, cwd=REPO, env={**os.environ, "QT_QPA_PLATFORM": "offscreen",
                                                 "PYTHONWARNINGS": "ignore"})  # its tracker finds what a crash leaves
    pid = int(app.stdout.readline())
    assert _alive(pid)
    app.stdin.close()  # the script's input() returns; the worker keeps this pipe's other copies, so no communicate()
    assert app.wait(timeout=HANG_S) == 0
    app.stdout.close()
    deadline = time.monotonic() + HANG_S  # a hang guard, not a speed bound
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(pid), "the worker outlived its app"


def test_codec_work_never_runs_in_the_ui_process(qtbot, window):
    """During a LOF encode no codec computation (analysis, MSP model, entropy coding, LOF, synthesis, any
    network forward) runs in the UI process: it all runs in the worker process. A profiler hook on every
    thread of the UI process records each call of those functions. The UI thread keeps beating: a
    generous hang guard (the stall figures are benchmarks/ui_latency.py's)."""
    heavy = {(coder.__file__, n) for n in ("encode", "decode", "analyse", "synthesize", "quantize_latent")}
    heavy |= {(lof.__file__, n) for n in ("run_profile", "overfit_latent")} | {(msp.__file__, "walk")}
    heavy |= {(torch.nn.Module.__call__.__code__.co_filename, "_call_impl")}
    calls = []

    def hook(frame, event, _arg):
        if event == "call" and (frame.f_code.co_filename, frame.f_code.co_name) in heavy:
            calls.append(frame.f_code.co_name)

    gaps, last = [], [time.perf_counter()]

    def beat():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(beat)
    timer.start(10)
    window.controls.codec_box.setCurrentIndex(0)
    window.controls.profile_box.setCurrentText("quick")
    threading.setprofile(hook)
    sys.setprofile(hook)
    try:
        with qtbot.waitSignal(window.job_finished, timeout=HANG_MS) as blocker:
            window.controls.encode_btn.click()
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
        timer.stop()
    assert blocker.args[0].lof_iterations > 0  # the encode really ran LOF, in the worker
    assert not calls, f"codec work in the UI process: {sorted(set(calls))}"
    assert gaps, "the UI thread's timer never fired during the encode"  # stall figures: benchmarks/ui_latency.py


def test_settings_persist(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    w1 = MainWindow(settings=settings)
    qtbot.addWidget(w1)
    w1.controls.profile_box.setCurrentText("best")
    w1.controls.lam_spin.setValue(0.025)
    w1.close()
    w2 = MainWindow(settings=settings)
    qtbot.addWidget(w2)
    assert w2.controls.profile_box.currentText() == "best" and abs(w2.controls.lam() - 0.025) < 1e-6
    w2.close()


def test_drop_an_image_file_opens_it(qtbot, window, tmp_path):
    from PySide6.QtCore import QMimeData, QPoint, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    dropped = tmp_path / "dropped.png"
    Image.fromarray(np.full((40, 56, 3), 90, np.uint8)).save(dropped)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(dropped))])
    pos = QPoint(window.width() // 2, window.height() // 2)
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(pos), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.image_loaded, timeout=HANG_MS):
        QApplication.sendEvent(window, drop)
    assert window.session.path == dropped and window.session.image.width == 56 and window.session.image.height == 40


def test_every_menu_action_does_its_job(qtbot, window, tmp_path, monkeypatch):
    """Every action of the menu bar, triggered as a user would (dialogs answered by patched functions),
    against an expectation of what it does; an action without an expectation fails the test."""
    result = encode_and_wait(qtbot, window)
    out = tmp_path / "out"
    out.mkdir()
    patch_dialogs(monkeypatch, save_path=out / "saved.msp", folder=out)
    w = window

    def dialog_says(text):
        def check():
            boxes = [b for b in w.findChildren(QMessageBox) if b.isVisible()]
            assert boxes and text in boxes[-1].text()
            for b in boxes:
                b.close()
        return check

    def saved_msp():
        assert (out / "saved.msp").read_bytes() == result.ours.data

    def comparison_files():
        files = sorted(p.name for p in out.glob("kodim23_*"))
        assert "kodim23_mspview_fast.msp" in files and "kodim23_WebP_same_bpp.webp" in files

    def reconstruction():
        assert np.array_equal(np.asarray(Image.open(out / "recon.png")), result.ours.image)

    def report():
        data = json.loads((out / "kodim23_report.json").read_text())
        assert data["msp"]["scale_bytes"] and data["weights"]["sha256"] and data["versions"]["mspview"]
        assert data["readouts"][0]["nbytes"] == result.ours.readout.nbytes and data["summary"][0].startswith("mspview")
        assert Image.open(out / "kodim23_report.png").size[0] > 1000
        assert (out / "kodim23_report.csv").read_text().count("\n") == 4  # a header and one row per file

    def html():
        text = (out / "page.html").read_text()
        assert "<script" in text and str(w.card.get("sha256")) in text and "src=\"http" not in text

    def bit_maps():
        npz = np.load(out / "kodim23_bits.npz")
        assert np.isclose(npz["all_scales"].sum(), result.ours.bitmaps.spatial.sum())
        assert (out / "kodim23_bits_scale_0.png").is_file() and (out / "kodim23_bits_chunks.csv").is_file()
        png = Image.open(out / "kodim23_bits_all_scales.png")
        assert png.size[1] == 16 * npz["all_scales"].shape[0] + 28  # the map, and its colour bar under it

    def mode(m):
        return lambda: w.compare_mode == m

    def dock_toggled(dock):
        return lambda: not dock.isVisible()

    def reopened(path):
        return lambda: qtbot.waitUntil(lambda: w.session.path == Path(path) and w.session.image is not None,
                                       timeout=HANG_MS)

    expectations = {
        "File/Save .msp…": (lambda: patch_dialogs(monkeypatch, save_path=out / "saved.msp"), saved_msp),
        "File/Save comparison files…": (None, comparison_files),
        "File/Export reconstruction (PNG)…": (lambda: patch_dialogs(monkeypatch, save_path=out / "recon.png"),
                                              reconstruction),
        "File/Export comparison report…": (None, report),
        "File/Export bit maps…": (None, bit_maps),
        "File/Export interactive report (HTML)…": (lambda: patch_dialogs(monkeypatch, save_path=out / "page.html"), html),
        "View/Split": (lambda: w.set_compare_mode("side"), mode("split")),
        "View/Side by side": (None, mode("side")),
        "View/Difference of the two": (None, lambda: w.canvas.image_names()[0].startswith("original −")),
        "View/Flip the two sides (A/B)": (lambda: w.set_compare_mode("split") or w.split_left.setCurrentIndex(0),
                                          lambda: w.split_right.currentIndex() == 0 and w.canvas.image_names()[1] == "original"),
        "View/Fit": (lambda: w.canvas.set_zoom(7.0), lambda: w.canvas.zoom < 2),
        "View/Zoom in": (lambda: w.canvas.set_zoom(1.0), lambda: w.canvas.zoom == 2.0),
        "View/Zoom out": (lambda: w.canvas.set_zoom(1.0), lambda: w.canvas.zoom == 0.5),
        "View/100 %": (lambda: w.canvas.set_zoom(3.0), lambda: w.canvas.zoom == 1.0),
        "View/Loupe (magnify under the cursor)": (None, lambda: w.canvas.loupe and "loupe" in w.canvas.zoom_text),
        "View/Show pixels": (lambda: w.show_box.setCurrentIndex(2), lambda: w.show_box.currentIndex() == 0),
        "View/Show error ×4": (None, lambda: w.show_box.currentData() == 4),
        "View/Show error ×16": (None, lambda: w.show_box.currentData() == 16),
        "View/Bit map over the images": (None, lambda: w.canvas.overlay is not None),
        "View/Controls": (None, dock_toggled(w.controls_dock)),
        "View/Readouts": (None, dock_toggled(w.table_dock)),
        "View/LOF curves": (None, dock_toggled(w.curves_dock)),
        "View/RD curve (this image)": (None, dock_toggled(w.rd_dock)),
        "View/Bit allocation": (None, dock_toggled(w.bits_dock)),
        "View/Progressive decode": (None, dock_toggled(w.strip_dock)),
        "View/Reset layout": (None, lambda: all(d.isVisible() for d in (w.controls_dock, w.table_dock, w.bits_dock))),
        "Encode/Encode": (lambda: w.controls.lam_spin.setValue(0.013),  # other settings: a new result, not the kept one
                          lambda: qtbot.waitUntil(lambda: len(w.session.results) == 2, timeout=HANG_MS)),
        "Encode/RD curve of this image": (None, lambda: qtbot.waitUntil(lambda: w.session.rd is not None, timeout=HANG_MS)),
        "Encode/Cancel": (lambda: w.controls.profile_box.setCurrentText("balanced") or w.controls.encode_btn.click(),
                          lambda: qtbot.waitUntil(lambda: not w.runner.busy, timeout=HANG_MS)),
        "Encode/Stop, keep the best so far": (
            lambda: w.controls.profile_box.setCurrentText("balanced") or w.controls.encode_btn.click(),
            lambda: qtbot.waitUntil(lambda: not w.runner.busy and w.session.current.stopped, timeout=HANG_MS)),
        "Encode/Forget kept results": (None, lambda: w.session.results == [] and w.canvas.image_names() == ["original"]
                                       and not len(w.rd.current.xData if w.rd.current.xData is not None else [])
                                       and w.controls.progress.value() == 0),
        "Encode/Bring back forgotten results": (None, lambda: len(w.session.results) >= 2 and w.session.current is not None),
        "Help/Keyboard shortcuts": (None, dialog_says("Ctrl+E")),
        "Help/About mspview": (None, dialog_says("Weights")),
        "File/Open image or .msp…": (lambda: patch_dialogs(monkeypatch, open_path=SAMPLE), reopened(SAMPLE)),
    }
    actions = menu_actions(w)
    recent = [p for p in actions if p.startswith("File/Open recent/")]
    assert recent and all(Path(p.split("/", 2)[2]).exists() for p in recent)
    for path in recent:
        expectations[path] = (None, reopened(path.split("/", 2)[2]))
    expectations["File/Quit"] = (None, lambda: not w.isVisible())
    unknown = sorted(set(actions) - set(expectations))
    assert not unknown, f"menu actions without an expectation: {unknown}"
    for path in [p for p in expectations if p in actions]:
        before, check = expectations[path]
        if before:
            before()
        if path in ("Encode/Cancel", "Encode/Stop, keep the best so far"):
            qtbot.waitUntil(lambda: w.curves.point_count() >= 2, timeout=HANG_MS)
        actions[path].trigger()
        result_ok = check()
        assert result_ok is None or result_ok, f"{path}: not done"
        if path in ("Encode/Cancel", "Encode/Stop, keep the best so far"):
            w.controls.profile_box.setCurrentText("fast")
        if path.startswith("View/") and path.endswith(("Controls", "Readouts", "curves", "(this image)",
                                                        "allocation", "decode")):
            actions[path].trigger()  # shown again


def test_window_fits_a_laptop_screen(tmp_path):
    """On a 1366x768 screen (Qt's offscreen platform given that screen) the window opens inside it with
    every dock at a usable size, a saved layout from a larger screen is not restored, and Reset layout
    gives the same fit."""
    config = tmp_path / "screen.json"
    config.write_text(json.dumps({"screens": [{"name": "laptop", "x": 0, "y": 0, "width": 1366, "height": 768,
                                               "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}))
    probe = tmp_path / "probe.py"
    probe.write_text(LAYOUT_PROBE)
    env = {**os.environ, "QT_QPA_PLATFORM": f"offscreen:configfile={config}"}
    res = subprocess.run([sys.executable, str(probe), str(tmp_path / "s.ini")], capture_output=True, text=True,
                         timeout=HANG_S, cwd=REPO, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads(res.stdout.strip().splitlines()[-1])
    for phase in ("first", "restored", "reset"):
        r = report[phase]
        assert r["screen"] == [0, 0, 1366, 768] and r["inside"], (phase, r)
        assert r["canvas"][0] >= 600 and r["canvas"][1] >= 250, (phase, r)
        small = {name: size for name, size in r["docks"].items() if size[0] < 200 or size[1] < 120}
        assert not small, (phase, small)


LAYOUT_PROBE = """
import json, sys
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication


def measure(win):
    app.processEvents()
    s = win.screen().availableGeometry()
    g = win.frameGeometry()
    docks = {d.windowTitle(): [d.widget().width(), d.widget().height()]
             for d in (win.controls_dock, win.table_dock, win.curves_dock, win.rd_dock, win.bits_dock, win.strip_dock)
             if d.isVisible() and not d.visibleRegion().isEmpty()}
    return {"screen": [s.x(), s.y(), s.width(), s.height()], "inside": s.contains(g),
            "canvas": [win.canvas.width(), win.canvas.height()], "docks": docks}

if __name__ == "__main__":
    app = QApplication(sys.argv[:1])
    from mspview.app.window import MainWindow
    settings = QSettings(sys.argv[1], QSettings.Format.IniFormat)
    out = {}
    win = MainWindow(settings=settings)
    win.show()
    out["first"] = measure(win)
    win.resize(1900, 1200)  # as if saved on a big screen
    win.close()
    win = MainWindow(settings=settings)
    win.show()
    out["restored"] = measure(win)
    win.reset_layout()
    out["reset"] = measure(win)
    win.close()
    print(json.dumps(out))
"""
