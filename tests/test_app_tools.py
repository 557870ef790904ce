"""What a codec researcher reaches for, through the real widgets: every result of an image kept and
selectable on either side, a second weights file compared at the same bpp, a target rate, the bit map
over the image, the difference of any two images, the compared files saved as their real bytes; and
the matching that never leaves a hole (real codecs)."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtWidgets import QLabel

from mspview.app import jobs
from mspview.app.jobs import ClassicalContender, EncodeResult, Item, Readout
from mspview.codec.imageio import load_image
from mspview.eval import classical

from conftest import HANG_MS, SAMPLE, action, choose, encode_and_wait, patch_dialogs

pytestmark = pytest.mark.slow  # app windows, workers, subprocesses: `pytest -m "not slow"` skips them


def test_results_are_kept_and_selectable(qtbot, window):
    first = encode_and_wait(qtbot, window)
    window.controls.lam_spin.setValue(0.025)
    second = encode_and_wait(qtbot, window)
    assert window.session.results == [first, second] and window.session.current is second
    names = [window.split_left.itemText(i) for i in range(window.split_left.count())]
    ours = [n for n in names if n.startswith("mspview fast")]
    assert len(ours) == 2 and len(names) == 1 + 3 + 3  # the original, then three files per encode
    # the older encode on the left, the newer on the right: the detail views follow the side chosen last
    pick(window.split_left, names.index(ours[0]))
    assert window.canvas.image_names()[0] == ours[0] and window.canvas.image_names()[1] == ours[1]
    assert window.session.current is first
    assert window.readouts.table.item(0, 0).text() == f"{first.ours.readout.nbytes:,}"
    pick(window.split_right, names.index(ours[1]))
    assert window.session.current is second and window.bits.maps is second.ours.bitmaps


def pick(box, index: int) -> None:
    """A user's pick in a combo box: it becomes current and `activated` fires (even if it already was)."""
    box.setCurrentIndex(index)
    box.activated.emit(index)


def test_second_model_compared_at_the_same_bpp(qtbot, window, random_weights, monkeypatch):
    """'another mspview model…' asks for a weights file; an encode is then matched by that model at the
    same bpp (bisection on its λ), with its own readouts, bit maps and RD points."""
    patch_dialogs(monkeypatch, open_path=random_weights)
    choose(window.controls.codec_box, "choose-model")
    assert window.controls.codec_box.currentData() == f"model:{random_weights}"
    result = encode_and_wait(qtbot, window)
    theirs = result.items[1]
    assert theirs.readout.codec == f"mspview ({random_weights.name})" and theirs.suffix == ".msp"
    assert theirs.readout.role in ("same bpp", "closest bpp") and theirs.bitmaps is not None
    assert theirs.data[:4] == b"MSPV" and theirs.readout.nbytes == len(theirs.data)
    ours = result.ours.readout
    if theirs.readout.role == "same bpp":
        assert abs(theirs.readout.bpp - ours.bpp) <= 0.05 * ours.bpp
    with qtbot.waitSignal(window.rd_finished, timeout=HANG_MS) as blocker:
        window.controls.rd_btn.click()
    sweep = blocker.args[0]
    assert len(sweep.curve(theirs.readout.codec)) == 9 and isinstance(sweep.bd["psnr"], (float, str))


def test_target_bpp_from_the_app(qtbot, window):
    window.controls.rate_mode.setCurrentIndex(window.controls.rate_mode.findData("bpp"))
    window.controls.target_spin.setValue(0.25)
    window.controls.codec_box.setCurrentIndex(0)
    result = encode_and_wait(qtbot, window)
    assert abs(result.ours.readout.bpp - 0.25) <= 0.02 * 0.25
    assert any(n.startswith("target 0.25 bpp: met") for n in result.notes)
    assert "target 0.25 bpp: met" in window.readouts.headline.text()


def test_bit_map_over_the_compare_view(qtbot, window):
    result = encode_and_wait(qtbot, window)
    window.overlay_box.click()
    c = window.canvas
    assert c.overlay is not None and np.isclose(c.overlay.sum(), result.ours.bitmaps.spatial.sum())
    window.bits.map_choice.setCurrentText("base")
    assert np.isclose(c.overlay.sum(), result.ours.bitmaps.density(3).sum())
    c.set_zoom(4.0)
    c.center = QPointF(100.5, 50.5)
    text = c.describe(QPointF(c.width() / 4, c.height() / 2))
    assert "base bits at latent" in text and "bpp)" in text
    window.overlay_box.click()
    assert c.overlay is None and "bits at latent" not in c.describe(QPointF(c.width() / 4, c.height() / 2))


def test_difference_of_any_two_images(qtbot, window):
    result = encode_and_wait(qtbot, window)
    window.split_left.setCurrentIndex(1)  # mspview
    window.split_right.setCurrentIndex(2)  # WebP at the same bpp
    window.compare_bar.mode_group.button(2).click()  # Difference
    c = window.canvas
    assert c.image_names()[0].startswith("mspview fast") and " − WebP same bpp" in c.image_names()[0]
    c.set_zoom(16.0)
    x, y = int(np.floor(c.center.x())), int(np.floor(c.center.y()))
    d = result.items[0].image[y, x].astype(int) - result.items[1].image[y, x].astype(int)
    assert f"Δ({', '.join(f'{v:+d}' for v in d)})" in c.describe(QPointF(c.width() / 2, c.height() / 2))


def test_saved_comparison_file_decodes_to_the_shown_pixels(qtbot, window, tmp_path, monkeypatch):
    result = encode_and_wait(qtbot, window)
    patch_dialogs(monkeypatch, folder=tmp_path)
    action(window, "File/Save comparison files…").trigger()
    webp = tmp_path / "kodim23_WebP_same_bpp.webp"
    assert webp.read_bytes() == result.items[1].data
    assert np.array_equal(np.asarray(Image.open(webp).convert("RGB")), result.items[1].image)


def _ours(rgb: np.ndarray, nbytes: int, psnr: float) -> EncodeResult:
    h, w = rgb.shape[:2]
    readout = Readout("mspview", "fast", "mspview", nbytes, 8 * nbytes / (h * w), psnr, None, None, None)
    return EncodeResult([Item(readout, rgb, b"", ".msp")])


@pytest.fixture(scope="module")
def crop():
    return np.ascontiguousarray(load_image(SAMPLE).rgb[:160, :192])


def test_unreachable_bpp_shows_the_closest_real_file(crop):
    """No JPEG reaches 0.01 bpp: the closest file is shown with its own figures, never 0 bytes or nan."""
    result = _ours(crop, 40, 20.0)
    jobs._match(ClassicalContender(classical.get("jpeg")), result.ours, crop, lambda ev: None, _never(), result)
    same = result.items[1].readout
    assert same.role == "closest bpp" and same.nbytes > 0 and np.isfinite(same.bpp) and np.isfinite(same.psnr)
    assert any("the nearest file shown" in n for n in same.notes)
    assert result.equal.nbytes is None and "reaches" in result.equal.note or "no lower" in result.equal.note


def test_psnr_between_two_settings_is_interpolated(crop):
    """A PSNR between two JPEG qualities, beyond the tolerance of either: the closest file is shown, and
    the size at equal PSNR is interpolated between the two that bracket it, and says so."""
    codec = classical.get("jpeg")
    psnrs = {q: classical.psnr(codec.decode(codec.encode(crop, q)), crop) for q in range(20, 95)}
    q = next(q for q in range(20, 94) if psnrs[q + 1] - psnrs[q] > 0.3)
    target = (psnrs[q] + psnrs[q + 1]) / 2
    result = _ours(crop, 900, target)
    jobs._match(ClassicalContender(codec), result.ours, crop, lambda ev: None, _never(), result)
    eq = result.items[2].readout
    assert eq.role == "closest PSNR" and eq.nbytes > 0 and np.isfinite(eq.psnr)
    sizes = sorted(len(codec.encode(crop, s)) for s in (q, q + 1))
    assert result.equal.interpolated and sizes[0] < result.equal.nbytes < sizes[1]
    assert "interpolated" in result.ours.readout.notes[-1]


def _never():
    return jobs.JobFlags()


def test_a_nearly_identical_model_reads_as_equal(qtbot, window, tmp_path, monkeypatch):
    """The shipped model against a copy with one synthesis bias nudged (so neither its SHA-256 nor a
    kept result can stand in for it), through the real menu: the same bpp means the same rate (within
    0.5 %, or interpolated between bracketing files) and the readouts say within 0.05 dB and 0.5 %."""
    from mspview.codec.weights import load_weights, save_weights
    import re

    model = load_weights().model
    with torch.no_grad():
        model.g_s[-1].bias[0] += 1e-4
    copy = tmp_path / "nudged.pt"
    save_weights(model, copy, {"note": "shipped weights, one bias nudged"})
    patch_dialogs(monkeypatch, open_path=copy)
    choose(window.controls.codec_box, "choose-model")
    result = encode_and_wait(qtbot, window)
    ours, same = result.ours.readout, result.same
    assert same.interpolated or abs(result.items[1].readout.bpp - ours.bpp) <= 0.005 * ours.bpp
    assert same.bpp == pytest.approx(ours.bpp, rel=0.005)
    assert abs(ours.psnr - same.psnr) <= 0.05
    assert abs(1 - ours.nbytes / result.equal.nbytes) <= 0.005
    text = window.readouts.headline.text()
    gap = float(re.search(r"([+-]\d+\.\d+) dB against", text).group(1))
    saved = float(re.search(r"(\d+\.\d+) % (smaller|larger)", text).group(1))
    assert abs(gap) <= 0.05 and saved <= 0.5, text


def test_bit_map_lies_over_mspview_panes_only(qtbot, window):
    """The overlay shows where mspview spent its bits: it covers mspview's files, never the original or
    the comparison codec's file; and by default it is the bits of each 2x2 block of latent positions, so
    the polyphase lattice does not show as a plaid."""
    result = encode_and_wait(qtbot, window)
    c = window.canvas
    window.split_left.setCurrentIndex(0)  # original
    window.split_right.setCurrentIndex(2)  # WebP same bpp
    plain = c.grab().toImage()
    window.overlay_box.click()
    assert c.overlay is not None and c.grab().toImage() == plain  # nothing drawn over original | WebP
    window.split_right.setCurrentIndex(1)  # mspview
    with_map = c.grab().toImage()
    window.overlay_box.click()
    assert c.grab().toImage() != with_map  # drawn over mspview's side
    blocks = result.ours.bitmaps.blocks()
    assert np.isclose(blocks.sum(), result.ours.bitmaps.spatial.sum())
    lattice = [blocks[a::2, b::2].mean() for a in (0, 1) for b in (0, 1)]
    assert max(lattice) / min(lattice) < 1.05  # no plaid (the raw map's (even, even) cells hold ~1/5)


def test_buttons_stay_put_when_the_status_grows(qtbot, window):
    """The status line is one elided line: a long message does not reflow the Controls dock (the full
    text stays in its tooltip and text())."""
    c = window.controls
    c.stage.setText("ready")
    qtbot.wait(50)
    before = c.encode_btn.mapTo(window, c.encode_btn.rect().topLeft()), c.progress.geometry()
    long = "matching " + "a very long status message about what the worker is doing " * 6
    c.stage.setText(long)
    qtbot.wait(50)
    assert (c.encode_btn.mapTo(window, c.encode_btn.rect().topLeft()), c.progress.geometry()) == before
    assert c.stage.text() == long and c.stage.toolTip() == long
    assert QLabel.text(c.stage) != long and QLabel.text(c.stage).endswith("…")  # shown elided


def test_stop_stops_the_bar_and_forget_can_be_undone(qtbot, window):
    result = encode_and_wait(qtbot, window)
    window.controls.profile_box.setCurrentText("balanced")
    window.controls.encode_btn.click()
    qtbot.waitUntil(lambda: window.curves.point_count() >= 2, timeout=HANG_MS)
    with qtbot.waitSignal(window.job_finished, timeout=HANG_MS) as done:
        window.controls.stop_btn.click()
        at_stop = window.controls.progress.value()
    assert done.args[0].stopped and window.controls.progress.value() == at_stop  # the bar stays where Stop was
    n = len(window.session.results)
    action(window, "Encode/Forget kept results").trigger()
    assert window.session.results == [] and not action(window, "File/Save .msp…").isEnabled()
    action(window, "Encode/Bring back forgotten results").trigger()
    assert len(window.session.results) == n and window.session.current is not None
    assert action(window, "File/Save .msp…").isEnabled()
    assert result in window.session.results


def test_many_results_a_readable_grid_and_no_duplicates(qtbot, window):
    """Twenty encodes: side by side is a grid of the original, the current result's files and the two
    picked, each pane a usable size with its full label; an identical request shows the kept result
    instead of a copy; a file kept twice (the same mspview file beside two comparisons) shows once."""
    window.controls.codec_box.setCurrentIndex(0)  # no comparison: quick encodes
    for lam in np.geomspace(0.0005, 0.1, 20):
        window.controls.lam_spin.setValue(float(lam))
        encode_and_wait(qtbot, window)
    assert len(window.session.results) == 20
    window.set_compare_mode("side")
    names = window.canvas.image_names()
    assert 2 <= len(names) <= 4 and names[0] == "original"
    panes = window.canvas._panes()
    assert min(p.width() for p in panes) >= window.canvas.width() / 3
    n = len(window.session.results)
    window.controls.encode_btn.click()  # the same settings again
    qtbot.waitUntil(lambda: "no new encode" in window.controls.stage.text(), timeout=HANG_MS)
    assert len(window.session.results) == n
    # the same mspview file with two comparisons: one view of it
    choose(window.controls.codec_box, "webp")
    encode_and_wait(qtbot, window)
    choose(window.controls.codec_box, "jpeg")
    encode_and_wait(qtbot, window)
    view_names = [v.name for v in window.session.views()]
    assert not any(name.endswith("(2)") for name in view_names)
    assert sum(name.startswith("mspview") for name in view_names) == 20


def test_the_elapsed_time_counts_between_worker_messages(qtbot, window):
    """During a LOF encode the status line's seconds keep counting even while no message comes; the
    profile's measured time names the machine it was measured on."""
    window.controls.codec_box.setCurrentIndex(0)
    window.controls.profile_box.setCurrentText("balanced")
    assert "on the machine that measured it" in window.controls.profile_info.text()
    seen = []
    timer = QTimer(interval=100, timeout=lambda: seen.append(window.controls.stage.text()))
    timer.start()
    with qtbot.waitSignal(window.job_finished, timeout=HANG_MS):
        window.controls.encode_btn.click()
        qtbot.waitUntil(lambda: window.curves.point_count() >= 3, timeout=HANG_MS)
        window.runner.event.disconnect(window._on_event)  # from here no worker message reaches the window
        start = len(seen)
        qtbot.waitUntil(lambda: len(set(seen[start:])) >= 3, timeout=HANG_MS)
        window.stop_keeping()
    timer.stop()
    seconds = [int(m.group(1)) for s in seen[start:] if (m := re.search(r"\((\d+) s[,)]", s))]
    assert seconds == sorted(seconds) and len(set(seconds)) >= 2  # it counted on, and never went back


def test_region_statistics_from_a_shift_drag(qtbot, window):
    """Shift+drag a rectangle over the image: every shown file's PSNR, MS-SSIM and (mspview's) bits in
    it, equal to the figures of the crop itself."""
    from PySide6.QtCore import QPoint
    from mspview.codec.metrics import psnr_uint8
    result = encode_and_wait(qtbot, window)
    c = window.canvas
    window.split_left.setCurrentIndex(1)  # mspview | WebP
    window.split_right.setCurrentIndex(2)
    c.set_zoom(1.0)
    a = QPoint(int(c.width() * 0.3), int(c.height() * 0.3))
    b = QPoint(a.x() + 200, a.y() + 180)
    qtbot.mousePress(c, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, a)
    qtbot.mouseMove(c, b)
    qtbot.mouseRelease(c, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, b)
    stats = {r.name.split(" ·")[0]: r for r in window.last_region}
    assert set(stats) == {"mspview fast", "WebP same bpp"}
    pane = c._panes()[0]
    p0, p1 = c._to_image(QPointF(a), pane), c._to_image(QPointF(b), pane)
    x0, y0, x1, y1 = int(np.floor(p0.x())), int(np.floor(p0.y())), int(np.floor(p1.x())), int(np.floor(p1.y()))
    ref = window.session.image.rgb[y0:y1, x0:x1]
    assert stats["mspview fast"].psnr == pytest.approx(psnr_uint8(result.ours.image[y0:y1, x0:x1], ref))
    assert stats["WebP same bpp"].psnr == pytest.approx(psnr_uint8(result.items[1].image[y0:y1, x0:x1], ref))
    assert stats["mspview fast"].ms_ssim is not None  # 200 x 180: large enough for five scales
    assert stats["mspview fast"].bpp > 0 and stats["WebP same bpp"].bpp is None
    assert "region 200×180" in window.statusBar().currentMessage()


def test_each_side_has_its_own_codec_and_setting(qtbot, window):
    """Squoosh's per-side settings: a codec and a setting under each side of the split; a change
    re-encodes that side only (the other keeps its file), and going back to a setting already made
    shows that file again without a new encode."""
    rgb = window.session.image.rgb
    with qtbot.waitSignal(window.job_finished, timeout=HANG_MS) as left:
        choose(window.side_left.codec_box, "webp")  # at its middle setting, once the choice settles
    webp = left.args[0]
    setting = window.side_left.setting.value()
    expected = classical.get("webp").encode(rgb, setting)
    assert webp.ours.data == expected and webp.ours.suffix == ".webp" and webp.source == "side"
    assert window.canvas.image_names()[0].startswith(f"WebP quality {setting:g}")
    assert window.session.current is None  # a classical side file is shown, not made the current result
    with qtbot.waitSignal(window.job_finished, timeout=HANG_MS) as right:
        choose(window.side_right.codec_box, "mspview")
    ours = right.args[0]
    assert ours.ours.readout.role == "fast" and ours.lam == pytest.approx(window.side_right.setting.value())
    assert ours.ours.data[:4] == b"MSPV" and window.session.current is ours and window.bits.maps is not None
    names = window.canvas.image_names()
    assert names[0].startswith("WebP quality") and names[1].startswith("mspview fast")
    # a new setting on the left: only the left side changes
    with qtbot.waitSignal(window.job_finished, timeout=HANG_MS) as again:
        window.side_left.setting.setValue(setting + 20)
    assert again.args[0].ours.data == classical.get("webp").encode(rgb, setting + 20)
    names = window.canvas.image_names()
    assert names[0].startswith(f"WebP quality {setting + 20:g}") and names[1].startswith("mspview fast")
    # back to the first setting: the kept file, no new job
    count = len(window.session.results)
    window.side_left.setting.setValue(setting)
    qtbot.waitUntil(lambda: window.canvas.image_names()[0].startswith(f"WebP quality {setting:g}"), timeout=HANG_MS)
    assert len(window.session.results) == count and not window.runner.busy


def test_a_side_change_waits_for_the_running_encode(qtbot, window):
    """Choosing a side's codec while an encode runs does not cancel it: the side is encoded after."""
    window.controls.profile_box.setCurrentText("fast")
    finished = []
    window.job_finished.connect(finished.append)
    window.controls.encode_btn.click()
    choose(window.side_left.codec_box, "jpeg")
    qtbot.waitUntil(lambda: len(finished) == 2, timeout=HANG_MS)
    assert finished[0].source == "encode" and not finished[0].stopped and finished[1].source == "side"
    assert window.canvas.image_names()[0].startswith("JPEG quality")


def test_the_loupe_shows_the_pixels_under_the_cursor_and_the_zoom_is_always_shown(qtbot, window):
    """View → Loupe (L): a square beside the cursor shows the pixels under it, magnified without smoothing
    (its centre is the pixel under the cursor); the zoom badge says the view's and the loupe's zoom."""
    from PySide6.QtTest import QTest

    canvas = window.canvas
    window.set_compare_mode("split")
    action(window, "View/Loupe (magnify under the cursor)").trigger()
    assert canvas.loupe and canvas.zoom_text == f"{canvas.zoom * 100:.0f} %   loupe {canvas.loupe_zoom * 100:.0f} %"
    pos = QPointF(canvas.width() * 0.25, canvas.height() * 0.4)  # the left side: the original
    QTest.mouseMove(canvas, pos.toPoint())
    qtbot.waitUntil(lambda: canvas._mouse is not None, timeout=HANG_MS)
    q = canvas._to_image(QPointF(pos.toPoint()), canvas._pane_at(pos))
    x, y = int(np.floor(q.x())), int(np.floor(q.y()))
    shot = canvas.grab().toImage()
    centre = canvas.loupe_rect(QPointF(pos.toPoint())).center()
    # nearest-neighbour at 4x or more: the loupe's centre shows the pixel under the cursor, unblended
    ratio = shot.width() / canvas.width()
    c = shot.pixelColor(int(centre.x() * ratio), int(centre.y() * ratio))
    assert (c.red(), c.green(), c.blue()) == tuple(int(v) for v in window.session.image.rgb[y, x])
    before = canvas.zoom_text
    action(window, "View/Zoom in").trigger()
    assert canvas.zoom_text != before and canvas.zoom_text.startswith(f"{canvas.zoom * 100:.0f} %")


def test_small_things_a_researcher_notices(qtbot, window, monkeypatch):
    """Ctrl+C in the readouts copies the table as TSV (headers included); a preview clicked while the
    difference is shown appears beside the original; cancelling the "another mspview model…" dialog
    keeps the comparison chosen before."""
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtTest import QTest

    result = encode_and_wait(qtbot, window)
    window.rd.plot.getViewBox().autoRange()
    assert window.rd.plot.getViewBox().viewRange()[0][0] >= 0  # the last encode's star alone: no negative bpp
    table = window.readouts.table
    assert table.horizontalHeader().textElideMode() == Qt.TextElideMode.ElideMiddle
    from mspview.app.controls import TARGET_SPIN_WIDTH

    window.controls.rate_mode.setCurrentIndex(1)  # a target bpp: its spin box the same width on any screen
    for width in (1366, 1900):
        window.resize(width, 760)
        qtbot.wait(30)
        assert window.controls.target_spin.width() == TARGET_SPIN_WIDTH
    window.controls.rate_mode.setCurrentIndex(0)
    table.setFocus()
    QTest.keyClick(table, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    lines = QGuiApplication.clipboard().text().splitlines()
    assert lines[0].split("\t")[1:] == [f"{r.readout.codec} {r.readout.role}" for r in result.items]
    assert lines[1].split("\t") == ["bytes"] + [f"{r.readout.nbytes:,}" for r in result.items]
    assert len(lines) == 1 + table.rowCount()
    window.set_compare_mode("diff")
    window.strip.buttons[0].click()
    assert window.compare_mode == "split" and window.canvas.image_names()[0] == "original"
    assert window.canvas.image_names()[1].startswith("1 of ")
    patch_dialogs(monkeypatch, open_path="")  # the file dialog cancelled
    choose(window.controls.codec_box, "choose-model")
    assert window.controls.codec_box.currentData() == "webp"
