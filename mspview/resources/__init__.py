"""Where every file mspview reads lies: its own package data, and the shared data of a source checkout.

Package data (weights, profile measurements, sample image, icon, coder tables) is found through
importlib.resources, so a wheel, a pipx install or a PyInstaller folder finds it as well as a checkout.
The shared data (Kodak, training photos, published anchors) exists only beside a source checkout, at
../shared; MSPVIEW_SHARED names another place. Nothing else in mspview builds a path to either.
"""
from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

PACKAGE_DATA = Path(str(files(__name__)))
DEFAULT_WEIGHTS = PACKAGE_DATA / "msp_default.pt"
PROFILE_MEASUREMENTS = PACKAGE_DATA / "profile_measurements.json"
SAMPLE = PACKAGE_DATA / "samples" / "kodim23.png"
ICON = PACKAGE_DATA / "icons" / "mspview.svg"

_CHECKOUT = PACKAGE_DATA.parent.parent  # the repository root when running from source
SHARED = Path(os.environ["MSPVIEW_SHARED"]) if os.environ.get("MSPVIEW_SHARED") else _CHECKOUT.parent / "shared"
KODAK = SHARED / "data" / "kodak"
TRAIN_DATA = SHARED / "data" / "train"
ANCHORS = SHARED / "anchors" / "kodak"
