"""Latent overfitting: progress events, cancellation, and never worse than the fast profile."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mspview.codec import profiles
from mspview.codec.coder import decode
from mspview.codec.errors import MSPError
from mspview.codec.imageio import LoadedImage, load_image
from mspview.codec.lof import run_profile
from mspview.codec.metrics import rd_cost

from conftest import SAMPLE

SHORT = dataclasses.replace(profiles.get("balanced"), name="short", iterations=24, check_every=4, patience=3)


def crop(name: str, y: int, x: int, size: int = 96) -> LoadedImage:
    """A crop of the bundled sample (tests must not depend on data outside the repository)."""
    img = load_image(SAMPLE)
    return LoadedImage(img.rgb[y:y + size, x:x + size].copy(), "RGB", "RGB")


def true_cost(lm, data: bytes, img: LoadedImage, lam: float) -> float:
    dec = decode(lm, data)  # the real file, decoded
    mse = float(np.mean((dec.image.astype(np.float64) - img.rgb) ** 2))
    return rd_cost(8 * len(data) / (img.width * img.height), mse, lam)


@pytest.mark.slow
@pytest.mark.parametrize("name,y,x,lam", [("parrot eye", 100, 200, 0.0067), ("feathers", 300, 500, 0.025),
                                         ("background", 20, 20, 0.0018)])
def test_lof_never_worse_than_fast(shipped_model, name, y, x, lam):
    img = crop(name, y, x)
    fast = run_profile(shipped_model, img, shipped_model.rate(lam), profiles.get("fast"))
    lof = run_profile(shipped_model, img, shipped_model.rate(lam), SHORT)
    assert true_cost(shipped_model, lof.encoded.data, img, lam) <= true_cost(shipped_model, fast.encoded.data, img, lam) + 1e-9


@pytest.mark.slow
def test_progress_events(shipped_model):
    img = crop("sample", 0, 0, 64)
    events = []
    res = run_profile(shipped_model, img, shipped_model.rate(0.0067), SHORT, on_event=events.append)
    iters = [e.iteration for e in events if e.kind == "iter"]
    assert iters and iters == sorted(iters) and iters[0] == 1
    best = [e.best_cost for e in events]
    assert all(b <= a + 1e-12 for a, b in zip(best, best[1:])), "best-so-far must never increase"
    checks = [e for e in events if e.kind == "check"]
    assert checks[0].iteration == 0 and len(checks) >= 2
    assert all(e.remaining >= 0 and e.elapsed >= 0 for e in events)
    assert res.iterations == iters[-1]


@pytest.mark.slow
def test_cancel_within_one_iteration(shipped_model):
    img = crop("sample", 64, 64, 64)
    seen = []

    def on_event(e):
        seen.append(e)

    res = run_profile(shipped_model, img, shipped_model.rate(0.0067), SHORT, on_event=on_event,
                      should_stop=lambda: sum(e.kind == "iter" for e in seen) >= 3)
    assert res.cancelled and res.iterations == 3
    dec = decode(shipped_model, res.encoded.data)  # a cancelled encode still gives a valid file
    assert dec.complete and dec.image.shape == img.rgb.shape


def test_profiles_listed():
    text = profiles.describe_all()
    for name in ("fast", "balanced", "best"):
        assert name in text
    with pytest.raises(MSPError, match="unknown profile"):
        profiles.get("nope")


# Crops of the sample where 30 iterations measurably pay with the shipped weights (3.1 % and 1.9 % with
# session 21's; benchmarks/lof_gain.py measures whole images); one runs with the fast tests, so LOF's
# sign and step are checked there too.
GAIN_CASES = [pytest.param("parrot head", 150, 200, 0.013, marks=pytest.mark.slow), ("parrots", 200, 250, 0.0067)]


@pytest.mark.parametrize("name,y,x,lam", GAIN_CASES)
def test_lof_lowers_the_real_file_cost_below_fast(shipped_model, name, y, x, lam):
    """LOF itself must work, not just the guard that keeps the cheaper of LOF and fast: its own latent is
    the one written, and the decoded file's RD cost is at least 0.5 % below fast's. Gradient ascent, a
    zero step or a surrogate that ignores the rate would all leave fast's cost (the guard's file)."""
    img = crop(name, y, x, size=128)
    rate = shipped_model.rate(lam)
    fast = run_profile(shipped_model, img, rate, profiles.get("fast"))
    lof = run_profile(shipped_model, img, rate, profiles.get("quick"))
    assert lof.encoded.header.profile == "quick"  # LOF's latent won; the fast guard was not needed
    gain = 1 - true_cost(shipped_model, lof.encoded.data, img, lam) / true_cost(shipped_model, fast.encoded.data, img, lam)
    assert gain >= 0.005, f"{name}: LOF gained {100 * gain:.2f} % over fast"
