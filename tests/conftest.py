"""Shared fixtures: a random model with a fixed seed (the round trip must hold for any weights),
the shipped model, and small test images."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parent.parent
# Hang guards, not speed bounds: a test waits this long only for something that would otherwise never
# come, so they are sized for a machine many times busier than CI's, not for how fast the work is.
HANG_S = 900
HANG_MS = HANG_S * 1000
from mspview.resources import KODAK, SAMPLE  # noqa: E402, F401 - after the Qt platform is set; for the tests


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory) -> Path:
    from mspview.codec.model import MSPCodecModel, ModelConfig
    from mspview.codec.weights import save_weights

    torch.manual_seed(1234)
    model = MSPCodecModel(ModelConfig(N=16, M=32, num_scales=3, groups=2, hidden=24))
    with torch.no_grad():  # an untrained analysis gives tiny latents: scale them so symbols vary
        model.gain.log_gain += math.log(30.0)
        model.gain.log_inv_gain -= math.log(30.0)
    path = tmp_path_factory.mktemp("weights") / "random.pt"
    calibration = [noise_image(128, 128, seed=s) for s in range(4)]
    save_weights(model, path, {"note": "random init, seed 1234, for tests"}, calibration=calibration)
    return path


@pytest.fixture(scope="session")
def random_model(random_weights):
    from mspview.codec.weights import load_weights
    return load_weights(random_weights)


@pytest.fixture(scope="session")
def shipped_model():
    from mspview.codec.weights import load_weights
    return load_weights()


def noise_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth-plus-noise test image (pure noise would be unlike any photo)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([np.sin(xx / 7.0 + c) * np.cos(yy / 5.0 - c) for c in range(3)], -1) * 90 + 128
    return np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)


def run_cli(*args: str, timeout: float = HANG_S) -> subprocess.CompletedProcess:
    """Run `python -m mspview ARGS` in a separate process."""
    return subprocess.run([sys.executable, "-m", "mspview", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


# ----------------------------------------------------------------------------- the app, driven as a person does
@pytest.fixture
def window(qtbot, tmp_path):
    """The main window with the sample image open and WebP to compare with."""
    from PySide6.QtCore import QSettings

    from mspview.app.window import MainWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    with qtbot.waitSignal(win.image_loaded, timeout=HANG_MS):
        win.open_path(SAMPLE)
    choose(win.controls.codec_box, "webp")
    yield win
    win.close()


def choose(box, data) -> None:
    """Pick an entry of a combo box as a user does: it becomes current and `activated` fires."""
    i = box.findData(data)
    assert i >= 0, data
    box.setCurrentIndex(i)
    box.activated.emit(i)


def encode_and_wait(qtbot, win, profile="fast"):
    win.controls.profile_box.setCurrentText(profile)
    with qtbot.waitSignal(win.job_finished, timeout=HANG_MS) as blocker:
        win.controls.encode_btn.click()
    return blocker.args[0]


def menu_actions(win) -> dict:
    """Every action of the menu bar, recursively, by its path ('File/Save .msp…')."""
    out = {}

    def walk(menu, prefix):
        for a in menu.actions():
            if a.isSeparator():
                continue
            path = f"{prefix}/{a.text().replace('&', '')}"
            if a.menu():
                walk(a.menu(), path)
            else:
                out[path] = a
    for top in win.menuBar().actions():
        walk(top.menu(), top.text().replace("&", ""))
    return out


def action(win, path: str):
    return menu_actions(win)[path]


def patch_dialogs(monkeypatch, save_path=None, folder=None, open_path=None):
    if save_path is not None:
        monkeypatch.setattr("PySide6.QtWidgets.QFileDialog.getSaveFileName", lambda *a, **k: (str(save_path), ""))
    if folder is not None:
        monkeypatch.setattr("PySide6.QtWidgets.QFileDialog.getExistingDirectory", lambda *a, **k: str(folder))
    if open_path is not None:
        monkeypatch.setattr("PySide6.QtWidgets.QFileDialog.getOpenFileName", lambda *a, **k: (str(open_path), ""))


