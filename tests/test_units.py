"""Millisecond tests of the core pieces, beside the end-to-end ones (`pytest -m "not slow"` runs these
and the other fast tests): LOF's optimiser and seed, the rate point, the bisection search, BD-rate, the
exact products and the coder's streams."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mspview.codec import exact, exact_export
from mspview.codec.entropy import StreamDecoder, StreamEncoder, symbol_range, symbols_crc
from mspview.codec.errors import Cancelled, MSPError
from mspview.codec.gain import GainUnits
from mspview.codec.lof import _Adam
from mspview.codec.rate import RateError, rate_point
from mspview.eval.bdrate import bd_rate, span_gap
from mspview.eval.search import Search, Trial, bisect


# ------------------------------------------------------------------------------------------ LOF's Adam
def test_adam_descends_a_quadratic():
    """Adam must lower f(p) = |p - 3|^2: a sign flip (ascent) or a zero step fails here."""
    p = torch.zeros(5, requires_grad=True)
    opt = _Adam(p)
    start = float(((p.detach() - 3) ** 2).sum())
    for _ in range(50):
        p.grad = 2 * (p.detach() - 3)
        opt.step(0.1)
    assert float(((p.detach() - 3) ** 2).sum()) < 0.2 * start


def test_adam_first_step_moves_by_the_learning_rate_against_the_gradient():
    p = torch.tensor([1.0, -1.0], requires_grad=True)
    opt = _Adam(p)
    p.grad = torch.tensor([4.0, -0.5])
    opt.step(0.01)
    assert torch.allclose(p.detach(), torch.tensor([0.99, -0.99]), atol=1e-6)  # bias-corrected: lr * sign(g)


def test_adam_zero_step_changes_nothing():
    p = torch.tensor([2.0], requires_grad=True)
    opt = _Adam(p)
    p.grad = torch.tensor([1.0])
    opt.step(0.0)
    assert float(p.detach()) == 2.0


# ------------------------------------------------------------------------------------------ rate point
def gains() -> GainUnits:
    return GainUnits(4, [0.001, 0.01, 0.1])


def test_rate_point_refuses_lambdas_outside_the_trained_range():
    for lam in (0.0009, 0.11, float("nan"), -1.0):
        with pytest.raises(RateError, match="outside the range"):
            rate_point(gains(), lam)


def test_rate_point_keeps_the_header_float32_lambda_and_inverse_gains():
    rp = rate_point(gains(), 0.01)
    assert rp.lam == float(np.float32(0.01))
    assert torch.allclose(rp.gain * rp.inverse_gain, torch.ones_like(rp.gain), rtol=0.5)  # near inverse at init
    low = GainUnits(4, [0.0004, 0.01])
    assert rate_point(low, 0.0004).lam < 0.0004  # the trained end is in range though float32 rounds it down


def test_rate_point_interpolates_gains_between_trained_lambdas():
    g = gains()
    with torch.no_grad():
        g.log_gain[:] = torch.tensor([[0.0] * 4, [1.0] * 4, [2.0] * 4])
    mid = rate_point(g, math.sqrt(0.001 * 0.01)).gain.flatten()  # log-linear: halfway in log lambda
    assert torch.allclose(mid, torch.full_like(mid, math.exp(0.5)), rtol=1e-4)


# ------------------------------------------------------------------------------------------ search
def test_bisect_meets_a_target_on_a_monotone_measure():
    s = bisect(lambda x: Trial(x, b"x" * int(x), x * 2), 1, 100, 60, 0.5)
    assert s.within and abs(s.best.value - 60) <= 0.5


def test_bisect_on_whole_settings_ends_on_the_two_neighbours():
    s = bisect(lambda q: Trial(q, b"", q * 10.0), 0, 100, 333, 1.0, integer=True)
    assert not s.within and {t.setting for t in s.bracket()} == {33, 34}


def test_bisect_decreasing_and_cancel():
    s = bisect(lambda x: Trial(x, b"", 100 / x), 1, 100, 5, 0.01, log=True, increasing=False)
    assert s.within and abs(s.best.setting - 20) < 0.1
    with pytest.raises(Cancelled):
        bisect(lambda x: Trial(x, b"", x), 0, 1, 0.5, 0.0, should_stop=lambda: True)


def test_interpolated_bytes_between_bracketing_files():
    s = Search(20.0, 0.1, [Trial(1, b"a" * 100, 10.0), Trial(2, b"a" * 400, 30.0), Trial(3, b"a" * 50, 5.0)])
    a, b = s.bracket()
    assert (a.value, b.value) == (10.0, 30.0)
    assert s.interpolated_bytes() == pytest.approx(200.0)  # halfway in log(bytes)
    assert Search(40.0, 0.1, s.trials).interpolated_bytes() is None


# ------------------------------------------------------------------------------------------ BD-rate
RATES = [0.1, 0.2, 0.4, 0.8]
PSNRS = [28.0, 30.0, 32.0, 34.0]


def test_bd_rate_of_a_curve_with_itself_is_zero():
    assert bd_rate((RATES, PSNRS), (RATES, PSNRS)).bd_rate == pytest.approx(0.0, abs=1e-9)


def test_bd_rate_of_a_curve_at_90_percent_of_the_rate_is_minus_10():
    r = bd_rate((RATES, PSNRS), ([0.9 * v for v in RATES], PSNRS), "a", "t")
    assert r.bd_rate == pytest.approx(-10.0, abs=1e-6) and r.overlap == (28.0, 34.0)


def test_bd_rate_needs_four_points_and_an_overlap():
    with pytest.raises(MSPError):
        bd_rate((RATES[:3], PSNRS[:3]), (RATES, PSNRS))
    with pytest.raises(MSPError):
        bd_rate((RATES, PSNRS), (RATES, [v + 10 for v in PSNRS]))


def test_span_gap_of_a_curve_half_a_db_up():
    g = span_gap((RATES, PSNRS), (RATES, [v + 0.5 for v in PSNRS]), (0.1, 0.8), "a", "t")
    assert g.holds and g.worst == pytest.approx(0.5, abs=1e-9) and g.mean == pytest.approx(0.5, abs=1e-9)


# ------------------------------------------------------------------------------------------ exact products
def test_split8_recombines_every_15_bit_value():
    v = torch.arange(-exact.ACT_MAX, exact.ACT_MAX + 1, dtype=torch.int16)
    hi, lo = exact.split8(v)
    assert hi.dtype == lo.dtype == torch.int8
    assert torch.equal(hi.to(torch.int32) * 256 + lo.to(torch.int32), v.to(torch.int32))


def test_float32_product_equals_int64_on_extremes():
    a = torch.full((3, exact.FLOAT32_CHUNK * 2 + 5), exact.ACT_MAX, dtype=torch.int16)
    w = torch.full((a.shape[1], 2), -exact.ACT_MAX, dtype=torch.int16)
    got = exact._float32_product(exact.split8(a), exact.split8(w))
    assert torch.equal(got.to(torch.int64), exact.reference_product(a, w))


def test_reference_product_drops_only_the_low_by_low_term():
    a = torch.tensor([[300, -7]], dtype=torch.int16)
    w = torch.tensor([[5], [1000]], dtype=torch.int16)
    (_, al), (_, wl) = exact.split8(a), exact.split8(w)
    full = int((a.to(torch.int64) @ w.to(torch.int64)).item())
    low = int((al.to(torch.int64) @ wl.to(torch.int64)).item())
    assert int(exact.reference_product(a, w).item()) * 256 == full - low


def test_a_forced_backend_that_is_not_exact_is_refused(monkeypatch):
    monkeypatch.setenv("MSPVIEW_EXACT_BACKEND", "int8")
    monkeypatch.setattr(exact, "exact_here", lambda name, device, quick=False: False)
    monkeypatch.setattr(exact, "_BACKENDS", {})
    with pytest.raises(MSPError, match="not exact"):
        exact.backend(torch.device("cpu"))


# ------------------------------------------------------------------------------------------ streams
def test_stream_round_trip_and_crc():
    rng = np.random.default_rng(0)
    sym = rng.integers(-20, 21, 3000).astype(np.int32)
    idx = rng.integers(0, 64, 3000).astype(np.int32)
    lo, hi = symbol_range([sym])
    enc = StreamEncoder(lo, hi)
    enc.encode(sym, idx)
    data = enc.finish()
    assert np.array_equal(StreamDecoder(data, lo, hi).decode(idx), sym)
    assert symbols_crc(sym, 0) != symbols_crc(sym[::-1].copy(), 0)


# ------------------------------------------------------------------------------------------ the integer twin
def test_the_integer_twin_reads_the_float_predictor_by_structure():
    from torch import nn
    from mspview.codec.msp import Predictor
    convs, acts = exact_export.predictor_layers(Predictor(8, 6, 4))
    assert [c.kernel_size for c in convs] == [(3, 3), (3, 3), (1, 1)] and len(acts) == 2
    reordered = nn.Sequential(nn.Conv2d(8, 6, 3, padding=1), nn.Conv2d(6, 6, 3, padding=1), nn.LeakyReLU(0.1),
                              nn.LeakyReLU(0.1), nn.Conv2d(6, 4, 1))
    with pytest.raises(ValueError, match="update exact.IntPredictor"):
        exact_export.predictor_layers(reordered)
    other_slope = Predictor(8, 6, 4)
    other_slope[1].negative_slope = 0.2
    with pytest.raises(ValueError, match="slope"):
        exact_export.predictor_layers(other_slope)


def test_a_stale_integer_model_is_refused_at_save_and_at_load(random_weights, tmp_path):
    from mspview.codec.errors import ModelError
    from mspview.codec.weights import load_weights, save_weights
    model = load_weights(random_weights).model
    assert model.exact.source.any() and not exact.stale(model.exact, model.msp)
    with torch.no_grad():
        model.msp.step_a[0][0].bias[0] += 0.5  # the float model moves on; its integer twin did not follow
    with pytest.raises(ModelError, match="changed since"):
        save_weights(model, tmp_path / "stale.pt")
    state = torch.load(random_weights, weights_only=True)
    state["msp.step_a.0.0.bias"][0] += 0.5
    torch.save(state, tmp_path / "edited.pt")
    (tmp_path / "edited.json").write_text(random_weights.with_suffix(".json").read_text())
    with pytest.raises(ModelError, match="quantized from another float MSP model"):
        load_weights(tmp_path / "edited.pt")


# ------------------------------------------------------------------------------------------ targets
def test_an_unreachable_target_says_so_after_one_try(random_model):
    from conftest import noise_image
    from mspview.codec.imageio import LoadedImage
    from mspview.eval.targets import Target, encode_to_target

    image = LoadedImage(noise_image(32, 48, seed=3), "RGB", "RGB")
    tries = []
    found = encode_to_target(random_model, image, Target("psnr", 99.0), on_try=tries.append)
    assert len(tries) == 1 and not found.met and found.lam == random_model.model.gain.lambda_range()[1]
    tries.clear()
    reachable = encode_to_target(random_model, image, Target("bpp", found.result.encoded.bpp / 2), on_try=tries.append)
    assert len(tries) > 1 and tries[0].setting == random_model.model.gain.lambda_range()[1]
    assert reachable.reached < found.result.encoded.bpp
