"""The real main window under pytest-qt (offscreen): encode, cancel, previews, compare modes, bit views,
save/reopen, damaged files, closing during work, and UI-thread stalls."""
from __future__ import annotations

import json
import sys
import threading
import time

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPointF, QSettings, Qt, QTimer
from PySide6.QtWidgets import QMessageBox

from mspview.app.compare_view import ERROR_LUT, error_map
from mspview.app.window import MainWindow
from mspview.codec import coder, lof, msp
from mspview.codec.coder import decode
from mspview.codec.weights import load_weights
from mspview.eval import classical

from conftest import SAMPLE


@pytest.fixture
def window(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    with qtbot.waitSignal(win.image_loaded, timeout=10_000):
        win.open_path(SAMPLE)
    win.codec_box.setCurrentIndex(win.codec_box.findData("webp"))
    yield win
    win.close()


def encode_and_wait(qtbot, win, profile="fast", timeout=120_000):
    win.profile_box.setCurrentText(profile)
    with qtbot.waitSignal(win.job_finished, timeout=timeout) as blocker:
        win.encode()
    return blocker.args[0]


def test_encode_fast_previews_readouts_bits(qtbot, window):
    result = encode_and_wait(qtbot, window)
    S = result.decoded.header.num_scales
    assert len(window.previews) == S + 1 and len(window.strip.buttons) == S + 1
    assert window.curves.point_count() == 0 and "no latent overfitting" in window.curves.message.toPlainText()
    assert window.table.columnCount() == 3  # mspview, WebP at the same bpp, WebP at the same PSNR
    assert window.table.horizontalHeaderItem(0).text().startswith("mspview")
    ours, webp, webp_eq = result.readouts
    assert [window.table.horizontalHeaderItem(j).text() for j in range(3)] == ["mspview\nfast", "WebP\nsame bpp",
                                                                             "WebP\nequal PSNR"]
    assert window.table.horizontalHeaderItem(2).toolTip() == webp_eq.codec == f"{webp.codec}, equal PSNR"
    assert webp_eq.nbytes == result.equal_psnr_bytes and window.table.item(0, 2).text() == f"{webp_eq.nbytes:,}"
    assert abs(webp_eq.psnr - ours.psnr) <= abs(webp.psnr - ours.psnr)  # closer in quality than the same-bpp file
    assert window.table.item(0, 0).text() == f"{ours.nbytes:,}"
    assert f"{ours.psnr - webp.psnr:+.2f} dB against WebP" in window.headline.text()
    assert result.equal_psnr_bytes and f"{result.equal_psnr_bytes:,}-byte file of equal PSNR" in window.headline.text()
    assert abs(webp.bpp - ours.bpp) <= 0.05 * ours.bpp
    assert result.classical_image is not None
    # the compare view holds original | mspview in split mode, all three side by side
    assert window.canvas.image_names()[0] == "original" and len(window.canvas.image_names()) == 2
    window.set_compare_mode("side")
    assert len(window.canvas.image_names()) == 4 and window.canvas.image_names()[3].endswith("equal PSNR")
    window.set_compare_mode("split")
    window.split_right.setCurrentIndex(2)
    assert window.canvas.image_names()[1].startswith("WebP")
    window.split_left.setCurrentIndex(1)  # mspview | WebP: the two codecs at the same bpp
    assert window.canvas.image_names()[0].startswith("mspview") and window.canvas.image_names()[1].startswith("WebP")
    # error view: both decoded images as error maps; hover gives the signed difference to the original
    window.show_box.setCurrentIndex(window.show_box.findData(4))
    names = window.canvas.image_names()
    assert names[0].endswith("error ×4") and names[1].startswith("WebP") and names[1].endswith("error ×4")
    c = window.canvas
    c.set_zoom(16.0)
    x, y = int(np.floor(c.center.x())), int(np.floor(c.center.y()))
    d = result.decoded.image[y, x].astype(int) - window.image.rgb[y, x].astype(int)
    assert f"Δ({', '.join(f'{v:+d}' for v in d)})" in c.describe(QPointF(c.width() / 2, c.height() / 2))
    window.set_compare_mode("side")  # the original stays as it is beside the error maps
    assert window.canvas.image_names()[0] == "original" and len(window.canvas.image_names()) == 4
    window.show_box.setCurrentIndex(0)
    window.set_compare_mode("split")
    # the exact per-scale sizes from the file are shown beside the estimated per-chunk bars
    text = window.bits.scale_bytes.text()
    assert all(f"s{r.scale} {r.nbytes} B" in text for r in result.decoded.header.scales)
    # clicking a preview shows it large
    window.strip.buttons[0].click()
    assert "preview 1/" in window.canvas.image_names()[1]


def test_error_map_scale_and_sign():
    orig = np.full((4, 4, 3), 100, np.uint8)
    img = orig.copy()
    img[0, 0] = (116, 116, 116)  # RMS error 16
    img[1, 1] = (95, 100, 100)  # below the original: no uint8 wrap-around
    shown, diff = error_map(orig, img, 4)
    assert (shown[2:, 2:] == ERROR_LUT[0]).all() and (shown[0, 0] == ERROR_LUT[64]).all()
    assert diff[1, 1].tolist() == [-5, 0, 0] and diff[0, 0].tolist() == [16, 16, 16]
    assert (error_map(orig, img, 16)[0][0, 0] == ERROR_LUT[255]).all()  # clipped, not wrapped


def test_heat_map_hover(qtbot, window):
    encode_and_wait(qtbot, window)
    heat = window.bits.heat
    text = heat.value_at(100.0, 50.0)
    assert "bits" in text and "latent (6, 3)" in text
    window.bits.setCurrentIndex(1)
    qtbot.wait(50)
    scene_pos = heat.view.mapViewToScene(QPointF(100.0, 50.0))
    heat.scene().sigMouseMoved.emit(scene_pos)
    assert "bits" in window.bits.hover_label.text()


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
    with qtbot.waitSignal(window.rd_finished, timeout=240_000) as blocker:
        window.rd_btn.click()
    sweep = blocker.args[0]
    lambdas = load_weights().model.config.lambdas
    ours, webp = sweep.curve("mspview"), sweep.curve("webp")
    assert [p.setting for p in ours] == sorted(lambdas) and len(webp) == len(classical.get("webp").sweep)
    # the encode just made is one of the sweep's points: same λ, fast profile, same file size
    lam = result.decoded.header.lam
    assert [p.nbytes for p in ours if abs(p.setting - lam) < 1e-6 * lam] == [result.readouts[0].nbytes]
    assert len(window.strip.buttons) == result.decoded.header.num_scales + 1  # the encode's views stay
    x, y = window.rd.ours.getData()
    assert list(x) == [p.bpp for p in ours] and list(y) == [p.psnr for p in ours]
    assert list(window.rd.current.getData()[0]) == [result.readouts[0].bpp]
    vb = window.rd.plot.getPlotItem().vb
    window.rd.plot.scene().sigMouseMoved.emit(vb.mapViewToScene(QPointF(ours[2].bpp, ours[2].psnr)))
    assert window.rd.hover.text().startswith(f"mspview λ {ours[2].setting:g}: {ours[2].nbytes:,} bytes")
    assert isinstance(sweep.bd["psnr"], float) and f"PSNR {sweep.bd['psnr']:+.1f} %" in window.rd.summary.text()
    # a second sweep, cancelled after its first points: the job ends as cancelled, points stop coming
    window.rd_btn.click()
    qtbot.waitUntil(lambda: len(window.rd.points) >= 2, timeout=60_000)
    with qtbot.waitSignal(window.job_failed, timeout=60_000) as failed:
        window.cancel()
    assert failed.args[0] == "" and len(window.rd.points) < len(sweep.points)
    assert window.rd_btn.isEnabled() and window.encode_btn.isEnabled()


def test_split_handle_drag_and_zoom(qtbot, window):
    encode_and_wait(qtbot, window)
    c = window.canvas
    x = int(c.width() * c.split)
    qtbot.mousePress(c, Qt.MouseButton.LeftButton, pos=QPointF(x, c.height() / 2).toPoint())
    qtbot.mouseMove(c, QPointF(c.width() * 0.25, c.height() / 2).toPoint())
    qtbot.mouseRelease(c, Qt.MouseButton.LeftButton)
    assert abs(c.split - 0.25) < 0.05
    c.set_zoom(16.0)
    assert "x " in c.describe(QPointF(c.width() / 2, c.height() / 2))


def test_lof_curves_and_cancel(qtbot, window):
    window.profile_box.setCurrentText("balanced")
    window.encode()
    qtbot.waitUntil(lambda: window.curves.point_count() >= 6, timeout=60_000)
    seen = window.curves.last_iteration()
    assert window.curves.message.toPlainText() == ""
    with qtbot.waitSignal(window.job_finished, timeout=30_000) as blocker:
        window.cancel()
    result = blocker.args[0]
    assert result.cancelled
    # LOF stops at once (not at its 100 iterations): at most a few iterations past the last one the
    # UI had drawn (events are batched); the wait's timeout covers the iteration in flight and decoding
    # the kept latent (no classical match after a cancel).
    assert seen <= result.lof_iterations <= seen + 12
    assert decode(load_weights(), result.data).complete


def test_save_and_reopen_msp(qtbot, window, tmp_path, monkeypatch):
    result = encode_and_wait(qtbot, window)
    path = tmp_path / "saved.msp"
    monkeypatch.setattr("PySide6.QtWidgets.QFileDialog.getSaveFileName", lambda *a, **k: (str(path), ""))
    window.save_msp()
    assert path.read_bytes() == result.data
    with qtbot.waitSignal(window.job_finished, timeout=60_000) as blocker:
        window.open_path(path)
    assert np.array_equal(blocker.args[0].decoded.image, result.decoded.image)
    out = window.export_report(str(tmp_path))
    report = json.loads((out / "saved_readouts.json").read_text())
    assert report["readouts"][0]["nbytes"] == len(result.data) and report["summary"][0].startswith("mspview")
    assert (out / "saved_compare.png").stat().st_size > 1000


def test_damaged_msp_shows_error_dialog(qtbot, window, tmp_path):
    result = encode_and_wait(qtbot, window)
    bad = bytearray(result.data)
    bad[len(bad) // 2] ^= 0x5A
    path = tmp_path / "bad.msp"
    path.write_bytes(bytes(bad))
    with qtbot.waitSignal(window.job_failed, timeout=60_000):
        window.open_path(path)
    assert "CRC" in window.last_error or "damaged" in window.last_error
    dialogs = [w for w in window.findChildren(QMessageBox) if w.isVisible()]
    assert dialogs and dialogs[0].icon() == QMessageBox.Icon.Critical


def test_unreadable_image_shows_error(qtbot, window, tmp_path):
    p = tmp_path / "not_an_image.png"
    p.write_bytes(b"garbage")
    with qtbot.waitSignal(window.image_failed, timeout=10_000):
        window.open_path(p)
    assert "not an image" in window.last_error
    assert window.image_path == SAMPLE  # the image shown before stays


def test_close_during_encode_leaves_no_thread(qtbot, window):
    window.profile_box.setCurrentText("best")
    window.encode()
    qtbot.waitUntil(lambda: window.curves.point_count() >= 2, timeout=60_000)
    assert window.runner.busy and window.runner.is_running()
    window.close()
    assert not window.runner.is_running()


def test_codec_work_never_runs_in_the_ui_process(qtbot, window):
    """During a LOF encode no codec computation (analysis, MSP model, entropy coding, LOF, synthesis, any
    network forward) runs in the UI process: it all runs in the worker process. A profiler hook on every
    thread of the UI process records each call of those functions. The UI thread keeps beating: a
    generous hang guard (the stall figures are benchmarks/ui_latency.py's)."""
    heavy = {(coder.__file__, n) for n in ("encode", "decode", "analyse", "synthesize", "quantize_latent")}
    heavy |= {(lof.__file__, n) for n in ("run_profile", "overfit_latent")} | {(msp.__file__, "run")}
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
    window.codec_box.setCurrentIndex(0)
    window.profile_box.setCurrentText("quick")
    threading.setprofile(hook)
    sys.setprofile(hook)
    try:
        with qtbot.waitSignal(window.job_finished, timeout=300_000):  # a hang guard
            window.encode()
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
        timer.stop()
    assert window.result.lof_iterations > 0  # the encode really ran LOF, in the worker
    assert not calls, f"codec work in the UI process: {sorted(set(calls))}"
    assert len(gaps) > 20 and max(gaps[1:]) < 5.0, f"the UI thread stopped for {max(gaps):.1f} s"


def test_settings_persist(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    w1 = MainWindow(settings=settings)
    qtbot.addWidget(w1)
    w1.profile_box.setCurrentText("best")
    w1.lam_spin.setValue(0.025)
    w1.close()
    w2 = MainWindow(settings=settings)
    qtbot.addWidget(w2)
    assert w2.profile_box.currentText() == "best" and abs(w2.lam() - 0.025) < 1e-6
    w2.close()


def test_drop_an_image_file_opens_it(qtbot, window, tmp_path):
    from PIL import Image
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
    with qtbot.waitSignal(window.image_loaded, timeout=10_000):
        QApplication.sendEvent(window, drop)
    assert window.image_path == dropped and window.image.width == 56 and window.image.height == 40
