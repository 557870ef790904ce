"""Millisecond tests of the core pieces, beside the end-to-end ones (`pytest -m "not slow"` runs these
and the other fast tests): LOF's optimiser and seed, the rate point, the bisection search, BD-rate, the
exact products and the coder's streams."""
from __future__ import annotations

import json
import math
import time
from dataclasses import replace
from pathlib import Path

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


def test_rate_point_allows_float32_rounding_and_no_more():
    import dataclasses

    g = gains()
    assert rate_point(g, float(np.float32(0.001))).lam == float(np.float32(0.001))
    for lam in (0.001 * (1 - 1.5e-6), 0.1 * (1 + 1.5e-6)):  # past the float32 slack at either end
        with pytest.raises(RateError):
            rate_point(g, lam)
    with pytest.raises(dataclasses.FrozenInstanceError):  # one rate point for the whole encode
        rate_point(g, 0.01).lam = 0.02


def test_rate_point_keeps_the_header_float32_lambda_and_inverse_gains():
    rp = rate_point(gains(), 0.01)
    assert rp.lam == float(np.float32(0.01))
    assert torch.allclose(rp.gain * rp.inverse_gain, torch.ones_like(rp.gain), rtol=0.5)  # near inverse at init
    low = GainUnits(4, [0.0004, 0.01])
    assert rate_point(low, 0.0004).lam < 0.0004  # the trained end is in range though float32 rounds it down


def test_a_rate_points_row_is_the_trained_lambda_nearest_in_log():
    """Its base levels: a trained lambda (float32 as the header keeps it, just under it) is its own row,
    between two the nearer in log, the geometric midpoint the upper one."""
    from mspview.codec.rate import nearest_trained
    g = gains()
    assert [rate_point(g, lam).row for lam in (0.001, 0.01, 0.1)] == [0, 1, 2]
    assert [rate_point(g, lam).row for lam in (0.0031, 0.0032, 0.03, 0.033)] == [0, 1, 1, 2]
    assert nearest_trained([0.001, 0.004, 0.016], 0.002) == 1 and nearest_trained([0.001, 0.004], 0.0019999) == 0
    assert nearest_trained([0.001, 0.004], 0.00099) == 0 and nearest_trained([0.001, 0.004], 0.005) == 1


def test_the_schedule_names_its_steps_and_places_their_elements():
    """Base first, then for each scale from the coarsest the A groups and the B groups; each step's parts
    tile the positions of its scale that the coarser scales left."""
    from mspview.codec.layout import BASE, STEP_A, STEP_B, StepKey, part_grid, schedule
    keys = schedule(2, 2)
    assert [str(k) for k in keys] == ["s2 base", "s1 A0", "s1 A1", "s1 B0", "s1 B1", "s0 A0", "s0 A1", "s0 B0", "s0 B1"]
    assert str(StepKey(3, BASE, 0)) == "s3 base" and str(StepKey(0, STEP_B, 3)) == "s0 B3"
    covered = np.zeros((16, 16), int)
    for key in keys:
        for part in range(1 if key.step in (BASE, STEP_A) else 2):
            if key.group == 0:  # groups split channels, not positions
                r0, c0, stride = part_grid(key, part, 2)
                covered[r0::stride, c0::stride] += 1
    assert (covered == 1).all()
    assert part_grid(StepKey(1, STEP_A, 0), 0, 2) == (2, 2, 4) and part_grid(StepKey(1, STEP_B, 0), 1, 2) == (2, 0, 4)


def test_gain_units_start_on_the_square_root_rule_and_interpolate_each_channel_in_log_lambda():
    """A new unit's gains are sqrt(lambda / mid) (mid the geometric centre), inverse gains their
    reciprocals; between trained lambdas each channel's log-gain is linear in log(lambda), outside the
    range it stays at the end; training reads the tables by index."""
    for bad in ([0.01, 0.001], [0.001, 0.001, 0.01]):
        with pytest.raises(ValueError, match="strictly increasing"):
            GainUnits(2, bad)
    lams = [0.001, 0.004, 0.1]
    g = GainUnits(3, lams)
    mid = math.sqrt(0.001 * 0.1)
    want = torch.tensor([0.5 * math.log(v / mid) for v in lams])
    assert torch.allclose(g.log_gain.detach(), want[:, None].expand(3, 3)) and torch.equal(g.log_inv_gain, -g.log_gain)
    with torch.no_grad():
        g.log_gain[:] = torch.tensor([[0.0, 1.0, -1.0], [2.0, 0.0, 1.0], [4.0, -2.0, 3.0]])
        g.log_inv_gain[:] = -2 * g.log_gain
    table = g.log_gain.detach()
    cases = [(0.001, table[0]), (0.004, table[1]), (0.1, table[2]), (0.0002, table[0]), (0.5, table[2]),
             (0.001 * 4 ** 0.25, 0.75 * table[0] + 0.25 * table[1]),
             (0.004 * 25 ** 0.5, 0.5 * table[1] + 0.5 * table[2])]
    for lam, log_gain in cases:
        assert g.gain(lam).shape == (1, 3, 1, 1)
        assert torch.allclose(g.gain(lam).flatten(), log_gain.exp(), rtol=1e-5), lam
        assert torch.allclose(g.inverse_gain(lam).flatten(), (-2 * log_gain).exp(), rtol=1e-5), lam
    fwd, inv = g.gain_at(torch.tensor([2, 0]))
    assert fwd.shape == inv.shape == (2, 3, 1, 1)
    assert torch.allclose(fwd[:, :, 0, 0], table[[2, 0]].exp()) and torch.allclose(inv[:, :, 0, 0], (-2 * table[[2, 0]]).exp())
    one = GainUnits(2, [0.01])  # a single trained lambda: its gains everywhere
    assert torch.allclose(one.gain(0.01).flatten(), torch.ones(2)) and torch.allclose(one.gain(0.02), one.gain(0.01))


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


def test_bd_rate_ignores_points_without_a_finite_positive_rate_and_quality():
    clean = bd_rate((RATES, PSNRS), ([0.9 * v for v in RATES], PSNRS)).bd_rate
    bad_r = [0.05, math.inf, 0.0, -0.1, math.nan]  # quality finite, rate not usable
    bad_d = [math.nan, 31.0, 33.0, 29.0, 30.0]
    noisy = bd_rate((RATES + bad_r, PSNRS + bad_d), ([0.9 * v for v in RATES], PSNRS)).bd_rate
    assert noisy == pytest.approx(clean, abs=1e-9)


def test_bd_rate_keeps_one_point_per_quality():
    twice = bd_rate((RATES + [0.25], PSNRS + [30.0]), (RATES, PSNRS))  # a second file at 30 dB
    assert math.isfinite(twice.bd_rate)


def test_bd_rate_of_curves_of_different_lengths_over_part_of_the_range():
    test = ([0.15, 0.3, 0.6, 1.2, 2.4], [29.0, 31.0, 33.0, 35.0, 37.0])  # overlaps 29-34 dB only
    r = bd_rate((RATES, PSNRS), test, metric="ms-ssim")
    assert r.overlap == (29.0, 34.0) and r.metric == "ms-ssim" and math.isfinite(r.bd_rate)
    assert "ms-ssim 29.00-34.00" in str(r)


def test_bd_rate_of_curves_touching_at_one_quality_is_refused():
    with pytest.raises(MSPError, match="do not overlap"):
        bd_rate((RATES, PSNRS), (RATES, [v + 6 for v in PSNRS]))  # 34 dB is the only shared quality


def test_span_gap_of_a_curve_with_itself_does_not_hold():
    g = span_gap((RATES, PSNRS), (RATES, PSNRS), (0.1, 0.8))
    assert g.worst == pytest.approx(0.0, abs=1e-12) and not g.holds  # "better everywhere" needs > 0


def test_span_gap_over_part_of_the_span_does_not_hold():
    g = span_gap((RATES, PSNRS), (RATES, [v + 0.5 for v in PSNRS]), (0.05, 0.8))
    assert g.covered == (0.1, 0.8) and g.worst > 0 and not g.holds


def test_span_gap_needs_two_points_per_curve():
    assert span_gap((RATES[:2], PSNRS[:2]), (RATES[:2], [v + 1 for v in PSNRS[:2]]), (0.1, 0.2)).worst \
        == pytest.approx(1.0)
    for a, t in (((RATES[:1], PSNRS[:1]), (RATES, PSNRS)), ((RATES, PSNRS), (RATES[:1], PSNRS[:1]))):
        with pytest.raises(MSPError, match="at least 2 points"):
            span_gap(a, t, (0.1, 0.8))


def test_span_gap_keeps_one_file_per_rate():
    # two files at 0.4 bpp: PCHIP over log-rate needs strictly increasing rates, so one is dropped
    anchor = ([0.1, 0.2, 0.4, 0.4, 0.8], [28.0, 30.0, 32.0, 32.5, 34.0])
    g = span_gap(anchor, (RATES, [v + 0.5 for v in PSNRS]), (0.1, 0.8))
    assert math.isfinite(g.worst)


def test_span_gap_of_curves_meeting_at_one_rate_covers_nothing():
    g = span_gap(([0.1, 0.2], [28.0, 30.0]), ([0.2, 0.4], [30.0, 32.0]), (0.1, 0.8))
    assert g.covered is None and math.isnan(g.worst)


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


def _vnni() -> bool:
    flags = Path("/proc/cpuinfo").read_text().split() if Path("/proc/cpuinfo").exists() else []
    return any(f in flags for f in ("avx512_vnni", "avx_vnni", "amx_int8"))


@pytest.mark.skipif(not _vnni(), reason="torch's int8 matmul on the CPU is exact only with VNNI (the probe picks float32)")
def test_int8_product_equals_int64_on_extremes_and_random_operands():
    g = torch.Generator().manual_seed(3)
    for a, w in ((torch.full((3, 1161), exact.ACT_MAX, dtype=torch.int16),
                  torch.full((1161, 2), -exact.ACT_MAX, dtype=torch.int16)),
                 (torch.randint(-exact.ACT_MAX, exact.ACT_MAX + 1, (17, 300), generator=g, dtype=torch.int16),
                  torch.randint(-exact.ACT_MAX, exact.ACT_MAX + 1, (300, 24), generator=g, dtype=torch.int16))):
        got = exact._int8_product(exact.split8(a), exact.split8(w))
        assert torch.equal(got.to(torch.int64), exact.reference_product(a, w))


def _saturating_int8_product(a: tuple, w: tuple) -> torch.Tensor:
    """An int8 matmul as a CPU without VNNI computes it: the left operand offset to u8, products summed
    in pairs that saturate at 16 bits (vpmaddubsw), the offset taken out after: inexact at the extremes."""
    def mm(x, y):
        xu, y = x.to(torch.int32) + 128, y.to(torch.int32)
        acc = torch.zeros(x.shape[0], y.shape[1], dtype=torch.int64)
        for k in range(0, x.shape[1], 2):
            acc += (xu[:, k:k + 2] @ y[k:k + 2]).clamp(-2 ** 15, 2 ** 15 - 1).to(torch.int64)
        return (acc - 128 * y.sum(0).to(torch.int64)).to(torch.float64)
    (a_hi, a_lo), (w_hi, w_lo) = a, w
    return mm(a_hi, w_hi).mul_(256).add_(mm(a_hi, w_lo).add_(mm(a_lo, w_hi)))


def test_the_start_up_probe_refuses_an_int8_product_that_saturates(monkeypatch):
    """On a CPU whose int8 matmul saturates 16-bit pair sums the probe must find it and pick float32
    (else that machine writes files that decode nowhere else); a forced int8 is refused."""
    cpu = torch.device("cpu")
    assert exact.exact_here("int8", cpu) == _vnni() and exact.exact_here("float32", cpu)
    monkeypatch.setitem(exact._PRODUCTS, "int8", _saturating_int8_product)
    monkeypatch.setattr(exact, "_BACKENDS", {})
    assert not exact.exact_here("int8", cpu)
    assert exact.backend(cpu) == "float32"
    monkeypatch.setattr(exact, "_BACKENDS", {})
    monkeypatch.setenv("MSPVIEW_EXACT_BACKEND", "int8")
    with pytest.raises(MSPError, match="not exact"):
        exact.backend(cpu)


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


def test_the_integer_predictor_in_one_row_bands_writes_the_same_file(random_model, monkeypatch):
    """Large images run the integer predictors in bands of grid rows with a halo: one row per band must
    give the bytes of one band for the whole grid."""
    from conftest import noise_image
    from mspview.codec.coder import encode
    from mspview.codec.imageio import LoadedImage
    image, rate = LoadedImage(noise_image(160, 96, seed=12), "RGB", "RGB"), random_model.rate(0.0067)
    whole = encode(random_model, image, rate).data
    monkeypatch.setattr(exact, "BAND_BYTES", 1)
    assert encode(random_model, image, rate).data == whole


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


def test_symbol_bits_are_the_code_lengths_of_the_coder_tables():
    """Within the tables, -log2 of the symbol's mass in the coder's own CDF; beyond them, the tables'
    floor of one unit in 2^CDF_BITS (what an escape costs at least): CDF_BITS bits."""
    from mspview.codec import cdf_tables
    from mspview.codec.entropy import symbol_bits
    r, _ = cdf_tables.grid()
    levels = np.array([0, 0, 10, 40, 63, 63, 5, 20])
    symbols = np.array([0, 1, -3, 7, r, -r, 10 ** 6, -10 ** 6])
    mass = cdf_tables.cdf_at(levels, symbols) - cdf_tables.cdf_at(levels, symbols - 1)
    expected = np.where(np.abs(symbols) > r, cdf_tables.CDF_BITS, cdf_tables.CDF_BITS - np.log2(np.maximum(mass, 1)))
    assert np.allclose(symbol_bits(symbols, levels), expected)
    assert symbol_bits(np.array([10 ** 6]), np.array([0]))[0] == cdf_tables.CDF_BITS == 32


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


@torch.no_grad()
def test_the_integer_model_predicts_what_the_float_model_does(shipped_model):
    """Both walked over one quantized latent of the sample, step by step, each fed the true values: the
    integer twin's means within 0.02 of the float model's on average (its weights and activations are
    quantized: measured 0.006), and its sigma levels a monotone function of the float sigmas' levels
    (`sigma_index`; the export's calibration map) at 90 % of each predictor's positions or more (measured
    97 % before the calibration, with the identity map). A float model that reads its scale plane or
    pairs its outputs otherwise, or an integer twin that drifts from it, fails here. (The base's levels
    are fitted per rate: tests/test_exact.py.)"""
    from PIL import Image
    from mspview.codec.coder import analyse, exact_model, quantize_latent
    from mspview.codec.entropy import sigma_index
    from mspview.resources import SAMPLE
    lm = shipped_model
    rgb = np.asarray(Image.open(SAMPLE).convert("RGB"))[:128, :192]
    y_hat = quantize_latent(lm, analyse(lm, rgb, lm.rate(0.0067)), lm.rate(0.0067)).y_hat
    floats, ints = {}, {}

    def teacher(record, convert):
        def resolve(key, parts):
            record[key] = [convert(mean, sigma) for mean, sigma, _ in parts]
            return [target for _, _, target in parts]
        return resolve

    lm.model.msp.run(tuple(y_hat.shape), teacher(floats, lambda m, s: (m, sigma_index(s))), target=y_hat)
    y_fx = torch.round(y_hat * (1 << exact.MU_FRAC_BITS)).long()
    exact_model(lm).run(tuple(y_hat.shape), teacher(ints, lambda m, i: (exact.to_float(m), i)), target=y_fx)
    assert floats.keys() == ints.keys() and len(ints) == lm.model.msp.num_steps
    pairs = [(f, i) for key in ints for f, i in zip(floats[key], ints[key], strict=True)]
    mean_error = torch.cat([(f[0] - i[0]).abs().flatten() for f, i in pairs])
    assert float(mean_error.mean()) < 0.02
    for key in (k for k in ints if k.step != 0):
        f = torch.cat([a[1].long().flatten() for a in floats[key]])
        i = torch.cat([b[1].long().flatten() for b in ints[key]])
        agree, last = 0, -1
        for level in f.unique():
            integer = i[f == level]
            mode = int(torch.mode(integer).values)
            if integer.numel() >= 20:
                assert mode >= last, key  # the map is monotone
                last = mode
            agree += int((integer == mode).sum())
        assert agree / f.numel() >= 0.9, key


def test_the_float_model_likelihood_is_the_gaussian_mass_of_each_bin():
    from mspview.codec.msp import SIGMA_MIN, gaussian_likelihood, sigma_of
    values = torch.tensor([-3.0, -1.0, 0.0, 0.0, 2.0, 7.0, 40.0])
    mu = torch.tensor([0.3, -1.2, 0.0, 0.4, 1.0, 2.5, 0.0])
    sigma = torch.tensor([1.0, 0.5, 0.2, 3.0, 2.0, 4.0, 1.0])
    normal = torch.distributions.Normal(mu.double(), sigma.double())
    mass = normal.cdf(values.double() + 0.5) - normal.cdf(values.double() - 0.5)
    expected = mass.clamp_min(1e-9).float()
    assert torch.allclose(gaussian_likelihood(values, mu, sigma), expected, rtol=1e-4, atol=1e-7)
    assert float(gaussian_likelihood(values, mu, sigma)[-1]) == pytest.approx(1e-9, rel=1e-6)  # the floor, far out
    assert torch.allclose(sigma_of(torch.tensor([-60.0, 0.0, 5.0])),
                          torch.tensor([SIGMA_MIN, math.log(2.0) + SIGMA_MIN, 5.0 + math.log1p(math.exp(-5.0)) + SIGMA_MIN]))


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


def test_weights_files_round_trip_their_card_precision_and_older_states(random_weights, tmp_path):
    """save_weights makes the folders and writes the card with the caller's fields; load_weights keeps
    the precision asked for (auto: bf16 only on CPUs that compute it natively, never on CUDA) and refuses
    files that are not plain tensors; older states get base levels only where they had a base index."""
    import datetime
    from mspview.codec.errors import ModelError
    from mspview.codec.model import fast_bf16
    from mspview.codec.weights import load_weights, save_weights, synthesis_precision, upgraded
    model = load_weights(random_weights).model
    path = tmp_path / "new" / "folder" / "w.pt"
    card = save_weights(model, path, {"note": "kept"})
    assert card["note"] == "kept" and json.loads(path.with_suffix(".json").read_text()) == card
    assert path.with_suffix(".json").read_text().startswith('{\n  "model_id"')
    for choice in ("fp32", "bf16"):
        assert load_weights(path, precision=choice).precision == choice
    cpu = torch.device("cpu")
    assert synthesis_precision("auto", cpu) == ("bf16" if fast_bf16(cpu) else "fp32")
    assert synthesis_precision("auto", torch.device("cuda")) == "fp32" and synthesis_precision("bf16", cpu) == "bf16"
    with pytest.raises(ModelError, match="precision must be one of"):
        synthesis_precision("fp16", cpu)
    torch.save({"when": datetime.datetime(2026, 1, 1)}, tmp_path / "pickle.pt")
    (tmp_path / "pickle.json").write_text(path.with_suffix(".json").read_text())
    with pytest.raises(ModelError, match="unreadable weights file"):
        load_weights(tmp_path / "pickle.pt")
    assert set(upgraded({}, model)) == {"exact.source"}
    old = upgraded({"exact.base_index": torch.arange(model.config.M, dtype=torch.int16)}, model)
    assert torch.equal(old["exact.base_levels"], torch.arange(model.config.M, dtype=torch.int16).expand_as(model.exact.base_levels))


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


# ------------------------------------------------------------------------------------------ the synthesis' last layer
def _last_layer():
    torch.manual_seed(0)
    layer = torch.nn.ConvTranspose2d(128, 3, 5, stride=2, padding=2, output_padding=1)
    with torch.no_grad():  # outputs about mid-grey, most of them in [0, 1] like a trained layer's
        layer.weight.mul_(0.15)
        layer.bias.fill_(0.5)
    return layer, torch.randn(1, 128, 32, 32).bfloat16()


@torch.no_grad()
def test_the_subpixel_last_layer_is_the_transposed_convolution():
    from mspview.codec.transforms import interleave, subpixel_phases
    layer, x = _last_layer()
    out = interleave(subpixel_phases(x.float(), (layer.weight, layer.bias)))
    assert torch.allclose(out, layer(x.float())[0].permute(1, 2, 0), atol=1e-5)


@torch.no_grad()
def test_the_bf16_last_layer_is_within_a_quarter_level_of_fp32():
    """Split weights and an output about mid-grey: every pixel in [0, 1] within 1/4 of an 8-bit level of
    the fp32 layer on the same activations (bf16 weights without the split: 0.7 levels; levels about 0
    instead of mid-grey: 0.5)."""
    from mspview.codec.transforms import interleave, subpixel_levels_bf16
    layer, x = _last_layer()
    ref = layer(x.float())[0].permute(1, 2, 0)
    inside = (ref >= 0) & (ref <= 1)
    assert inside.float().mean() > 0.9
    err = (interleave(subpixel_levels_bf16(layer, x)) - ref * 255).abs()[inside]
    assert float(err.max()) <= 0.26


@torch.no_grad()
@pytest.mark.parametrize("res", [0, 1])
def test_the_bf16_synthesis_keeps_its_first_deconvolution_and_gdn_in_fp32(res):
    """bf16 rounding there made most of the PSNR change on Kodak: those two layers compute in fp32, every
    other layer but the last in bf16 (the last one's arithmetic is tested above)."""
    from mspview.codec.transforms import ResidualBlock, SynthesisTransform
    g = SynthesisTransform(16, 8, res=res).eval()
    dtypes = {}  # a residual block adds its (bf16) branch to its input: its output type says nothing
    for i, layer in enumerate(g):
        if not isinstance(layer, ResidualBlock):
            layer.register_forward_hook(lambda m, args, out, i=i: dtypes.__setitem__(i, out.dtype))
    g.decode(torch.randn(1, 8, 4, 5), bf16=True)
    fp32 = [i for i, dtype in dtypes.items() if dtype == torch.float32]
    assert [type(g[i]).__name__ for i in fp32] == ["ConvTranspose2d", "SimplifiedGDN"]
    assert fp32 == [res, res + 1] and len(dtypes) == 6  # the last layer is not called as a module
    g.decode(torch.randn(1, 8, 4, 5))
    assert set(dtypes.values()) == {torch.float32}


# ------------------------------------------------------------------------------------------ stopping a long phase
def _stop_at(call: int):
    """A should_stop that says yes on its `call`-th question, counting the questions."""
    asked = []

    def should_stop() -> bool:
        asked.append(True)
        return len(asked) >= call
    return should_stop, asked


def test_analysis_and_synthesis_stop_between_bands(random_model, monkeypatch):
    from conftest import noise_image
    from mspview.codec import transforms
    from mspview.codec.coder import analyse, quantize_latent, synthesize

    rgb, rate = noise_image(96, 48, seed=2), random_model.rate(0.0067)
    y = analyse(random_model, rgb, rate)
    y_hat = quantize_latent(random_model, y, rate).y_hat
    monkeypatch.setattr(transforms, "BAND_BYTES", 1)  # one latent row per band: 6 bands
    for run in (lambda stop: analyse(random_model, rgb, rate, stop),
                lambda stop: synthesize(random_model, y_hat, rate, 96, 48, stop)):
        stop, asked = _stop_at(2)
        with pytest.raises(Cancelled):
            run(stop)
        assert len(asked) == 2  # it stopped on the answer, not after the remaining bands
        never, asked = _stop_at(99)
        run(never)
        assert len(asked) == 6  # asked once per band


def test_a_fast_encode_and_a_decode_stop_when_asked(random_model):
    from conftest import noise_image
    from mspview.codec import profiles
    from mspview.codec.coder import decode
    from mspview.codec.imageio import LoadedImage
    from mspview.codec.lof import run_profile

    image, rate = LoadedImage(noise_image(32, 48, seed=4), "RGB", "RGB"), random_model.rate(0.0067)
    with pytest.raises(Cancelled):
        run_profile(random_model, image, rate, profiles.get("fast"), should_stop=lambda: True)
    data = run_profile(random_model, image, rate, profiles.get("fast")).encoded.data
    with pytest.raises(Cancelled):
        decode(random_model, data, should_stop=lambda: True)
    assert decode(random_model, data, should_stop=lambda: False).complete


def test_stop_keeps_lofs_best_latent_and_cancel_keeps_nothing(random_model):
    from conftest import noise_image
    from mspview.app import jobs
    from mspview.codec.coder import decode
    from mspview.codec.imageio import LoadedImage
    from mspview.codec.lof import LOFEvent

    image = LoadedImage(noise_image(32, 48, seed=6), "RGB", "RGB")
    request = jobs.EncodeRequest("balanced", 0.0067, compare="jpeg")

    def run(flag):
        flags, seen = jobs.JobFlags(), []

        def emit(ev):
            if isinstance(ev, LOFEvent):
                seen.append(ev)
                if len(seen) == 3:
                    getattr(flags, flag).set()
        return jobs.encode_job(random_model, image, request, emit, flags), seen

    result, seen = run("stop")
    assert result.stopped and result.lof_iterations < 10 and result.request is None  # never reused as complete
    assert decode(random_model, result.ours.data).complete and any("skipped" in n for n in result.notes)
    with pytest.raises(Cancelled):
        run("cancel")


# ------------------------------------------------------------------------------------------ the compare view's selection
def test_what_each_compare_mode_shows():
    from mspview.app.jobs import Item, Readout
    from mspview.app.session import View, newest_index, shown_panes

    def item(codec, suffix):
        return Item(Readout(codec, "r", codec, 1, 0.1, 30.0, 0.9, 0.0, 0.0), np.zeros((2, 2, 3), np.uint8), b"x", suffix)

    old_msp, old_webp, new_msp, new_webp = item("mspview", ".msp"), item("WebP", ".webp"), item("mspview", ".msp"), \
        item("WebP", ".webp")
    views = [View("original", np.zeros((2, 2, 3), np.uint8), None)] + [
        View(str(i), i.image, i) for i in (old_msp, old_webp, new_msp, new_webp)]
    assert newest_index(views) == 3 and newest_index(views[:3]) == 1 and newest_index(views[:1]) == 0
    assert shown_panes(views, "split", (2, 3), [new_msp, new_webp]) == [views[2], views[3]]
    assert shown_panes(views, "diff", (2, 3), []) == []
    assert shown_panes(views[:1], "single", (0, 0), []) == views[:1]
    # side by side: the original, the current result's files and the two picked, in the views' order
    assert shown_panes(views, "side", (1, 1), [new_msp, new_webp]) == [views[0], views[1], views[3], views[4]]


# ------------------------------------------------------------------------------------------ LOF's parts
def test_adam_matches_torchs_adam_step_for_step():
    """Moments, bias corrections and eps as torch.optim.Adam has them, gradients from 1e-9 to 10."""
    grads = [torch.tensor([4.0, -0.5, 1e-9, 2e-9]), torch.tensor([-3.0, 0.25, 3e-9, -1e-9]),
             torch.tensor([10.0, 0.0, -2e-9, 5e-9]), torch.tensor([1.0, -1.0, 1e-9, 1e-9])]
    ours, ref = torch.zeros(4, requires_grad=True), torch.zeros(4, requires_grad=True)
    opt, torch_opt = _Adam(ours), torch.optim.Adam([ref], lr=0.01)
    for g in grads:
        ours.grad, ref.grad = g.clone(), g.clone()
        opt.step(0.01)
        torch_opt.step()
        assert torch.allclose(ours.detach(), ref.detach(), rtol=1e-5, atol=1e-9), (ours, ref)


def test_distortion_formulas_against_their_definitions():
    from mspview.codec.metrics import PSNR_CAP, mse_uint8, psnr, psnr_uint8, rd_cost

    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (1030, 7, 3), dtype=np.uint8)  # more rows than one band of the exact sum
    b = rng.integers(0, 256, (1030, 7, 3), dtype=np.uint8)
    expected = np.mean((a.astype(np.float64) - b) ** 2)
    assert mse_uint8(a, b) == expected and mse_uint8(b, a) == expected
    assert mse_uint8(a, a) == 0
    one = a.copy()
    one[1029, 6, 2] ^= 1  # the last band's last element counts
    assert mse_uint8(a, one) == 1 / a.size
    for mse, db in [(255.0 ** 2, 0.0), (1.0, 20 * math.log10(255)), (65.025, 30.0)]:
        assert psnr(mse) == pytest.approx(db, abs=1e-9)
        assert float(psnr(torch.tensor(mse, dtype=torch.float64))) == pytest.approx(db, abs=1e-9)
    assert psnr(0.0) == PSNR_CAP and float(psnr(torch.tensor(0.0, dtype=torch.float64))) == pytest.approx(PSNR_CAP)
    assert psnr(1e-30) == PSNR_CAP  # below the cap's MSE: the cap, not a larger figure
    assert psnr_uint8(a, a) == PSNR_CAP and psnr_uint8(a, one) == pytest.approx(psnr(1 / a.size))
    assert rd_cost(0.5, 10.0, 0.01) == pytest.approx(0.6) and rd_cost(0.0, 2.0, 0.25) == pytest.approx(0.5)


def test_true_cost_is_the_real_files_rate_and_quality(random_model):
    from conftest import noise_image
    from mspview.codec.coder import analyse, encode
    from mspview.codec.imageio import LoadedImage
    from mspview.codec.lof import _TrueCost
    from mspview.codec.metrics import mse_uint8, psnr, rd_cost

    image = LoadedImage(noise_image(40, 56, seed=8), "RGB", "RGB")
    rate = random_model.rate(0.0067)
    y = analyse(random_model, image.rgb, rate)
    cost, bpp, quality, q = _TrueCost(random_model, image, rate)(y)
    enc = encode(random_model, image, rate, latent=y)
    payload = sum(r.nbytes for r in enc.header.scales)
    assert bpp == pytest.approx(q.bits / (40 * 56)) and abs(bpp * 40 * 56 - 8 * payload) <= 8 * len(enc.header.scales) * 2
    mse = mse_uint8(enc.image, image.rgb)
    assert quality == pytest.approx(psnr(mse)) and cost == pytest.approx(rd_cost(bpp, mse, 0.0067))


@pytest.mark.parametrize("budget", [None, 1])  # one band, and one latent row per band
def test_distortion_gradient_equals_autograd_of_the_whole_image(random_model, budget):
    from conftest import noise_image
    from mspview.codec.coder import analyse, quantize_latent
    from mspview.codec.transforms import pixels_tensor
    from mspview.codec.lof import distortion_grad

    # not multiples of 16 (the crop to the image is part of the loss), and bands that start past the halo
    h, w, lam = 136, 40, 0.0067
    rgb = noise_image(h, w, seed=9)
    rate = random_model.rate(lam)
    y_hat = quantize_latent(random_model, analyse(random_model, rgb, rate), rate).y_hat
    for p in random_model.model.parameters():
        p.requires_grad_(False)
    try:
        mse, grad = distortion_grad(random_model.model, y_hat, rate.inverse_gain, rgb, lam, amp=False, budget=budget)
        y = y_hat.detach().clone().requires_grad_(True)
        x = random_model.model.g_s(y * rate.inverse_gain)[..., :h, :w]
        ref = torch.mean((x - pixels_tensor(rgb, y.device)) ** 2)
        (lam * 255 ** 2 * ref).backward()
    finally:
        for p in random_model.model.parameters():
            p.requires_grad_(True)
    assert mse == pytest.approx(float(ref.detach()), rel=1e-5)
    assert torch.allclose(grad, y.grad, rtol=1e-4, atol=1e-5 * float(y.grad.abs().max()))  # float rounding: 1e-6


def test_lof_runs_its_iterations_on_the_cosine_schedule_and_reports_each(random_model):
    """Every iteration once, a true-cost check every `check_every` and at the end, the step on the cosine
    schedule from the profile's, halved after each check that did not improve; seeded noise (the same
    latent twice); the model's parameters untouched (no gradient) and trainable again after."""
    from conftest import noise_image
    from mspview.codec.imageio import LoadedImage
    from mspview.codec.lof import overfit_latent
    from mspview.codec.metrics import PEAK, rd_cost
    from mspview.codec.profiles import Profile

    image, rate = LoadedImage(noise_image(32, 48, seed=5), "RGB", "RGB"), random_model.rate(0.0067)
    # a step this large overshoots once: the check at 6 does not improve (the halving is exercised)
    profile = Profile("t", "test", iterations=7, check_every=3, patience=99, lr=5.0, amp=False)
    params = list(random_model.model.parameters())
    for p in params:
        p.grad = None
    t0 = time.perf_counter()
    y, events, iterations, cancelled = overfit_latent(random_model, image, rate, profile)
    wall = time.perf_counter() - t0
    assert (iterations, cancelled) == (7, False)
    assert [(e.kind, e.iteration) for e in events if e.kind == "check"] == [("check", 0), ("check", 3), ("check", 6),
                                                                          ("check", 7)]
    assert [e.iteration for e in events if e.kind == "iter"] == list(range(1, 8))
    assert {e.kind for e in events} == {"check", "iter"}  # no rounding pass without greedy_rounding
    scale = 1.0
    for e in events[1:]:
        if e.kind == "iter":
            i = e.iteration - 1
            assert e.lr == pytest.approx(5.0 * scale * 0.5 * (1 + math.cos(math.pi * i / 7)), rel=1e-12)
        elif e.cost != e.best_cost:  # a check that did not improve halves the step
            scale *= 0.5
    assert scale < 1.0  # at least one check did not improve
    assert all(p.grad is None and p.requires_grad for p in params)
    # what the loss curve shows: the surrogate's bpp near the file's, its cost and PSNR from one MSE,
    # the time so far and the time left at the iterations' pace
    iters = [e for e in events if e.kind == "iter"]
    assert 0.5 < iters[0].bpp / events[0].bpp < 2  # before the first step
    for e in iters:
        assert e.cost == pytest.approx(rd_cost(e.bpp, PEAK ** 2 * 10 ** (-e.psnr / 10), 0.0067), rel=1e-6)
        assert 0 <= e.remaining * e.iteration / (7 - e.iteration or 1) <= e.elapsed <= wall
    assert iters[-1].remaining == 0
    again = overfit_latent(random_model, image, rate, profile)[0]
    assert torch.equal(y, again)
    one = overfit_latent(random_model, image, rate, Profile("t", "test", iterations=1, amp=False))
    assert one[2] == 1


def test_lof_stops_after_patience_checks_without_gain_halving_the_step_each_time(random_model):
    """A step so large that no check improves: each check restarts from the best latent at half the
    step (1, 1/2, 1/4 of the schedule's), and LOF stops after `patience` of them with the analysis'
    latent; the events' clock starts at the call and only moves forward."""
    from conftest import noise_image
    from mspview.codec.coder import analyse
    from mspview.codec.imageio import LoadedImage
    from mspview.codec.lof import overfit_latent
    from mspview.codec.profiles import Profile

    image, rate = LoadedImage(noise_image(32, 48, seed=5), "RGB", "RGB"), random_model.rate(0.0067)
    profile = Profile("t", "test", iterations=10, check_every=1, patience=3, lr=50.0, amp=False)
    t0 = time.perf_counter()
    y, events, iterations, cancelled = overfit_latent(random_model, image, rate, profile)
    wall = time.perf_counter() - t0
    checks = [e for e in events if e.kind == "check"]
    assert (iterations, cancelled) == (3, False) and [e.iteration for e in checks] == [0, 1, 2, 3]
    assert all(e.cost > e.best_cost == checks[0].cost for e in checks[1:])
    steps = [e.lr / (50.0 * 0.5 * (1 + math.cos(math.pi * (e.iteration - 1) / 10))) for e in events if e.kind == "iter"]
    assert steps == pytest.approx([1.0, 0.5, 0.25], rel=1e-12)
    assert torch.equal(y, analyse(random_model, image.rgb, rate))
    assert checks[0].remaining == checks[0].lr == 0.0
    clock = [e.elapsed for e in events]
    assert 0 <= clock[0] and clock == sorted(clock) and clock[-1] <= wall


def test_the_greedy_rounding_pass_keeps_only_flips_that_lower_the_true_cost(random_model):
    """After the iterations, one flip candidate per step group (elements near a half-integer rounded the
    other way); a candidate is kept only when the real file's cost falls, and the latent returned is
    the one whose cost is reported."""
    from conftest import noise_image
    from mspview.codec.imageio import LoadedImage
    from mspview.codec.coder import quantize_latent
    from mspview.codec.lof import _TrueCost, overfit_latent
    from mspview.codec.profiles import Profile

    image, rate = LoadedImage(noise_image(32, 48, seed=5), "RGB", "RGB"), random_model.rate(0.0067)
    profile = Profile("t", "test", iterations=2, check_every=1, patience=99, lr=0.05, amp=False, greedy_rounding=True)
    t0 = time.perf_counter()
    y, events, _, _ = overfit_latent(random_model, image, rate, profile)
    wall = time.perf_counter() - t0
    kinds = [e.kind for e in events]
    greedy = [e for e in events if e.kind == "greedy"]
    clock = [e.elapsed for e in events]
    assert clock == sorted(clock) and clock[-1] <= wall and all(e.remaining == e.lr == 0.0 for e in greedy)
    assert greedy and kinds.index("greedy") > len(kinds) - 1 - kinds[::-1].index("check")  # after the last check
    best = [e for e in events if e.kind == "check"][-1].best_cost
    start = best
    for e in greedy:
        best = e.cost if e.cost < best - 1e-6 else best
        assert e.best_cost == best
    assert best < start  # some flip lowered the cost on this image
    assert _TrueCost(random_model, image, rate)(y)[0] == pytest.approx(best, abs=1e-9)
    # each element changed was within the band of a half-integer from its mean and now sits on the
    # other neighbouring integer (its mean depends only on the groups before it, final by then)
    before = overfit_latent(random_model, image, rate, replace(profile, greedy_rounding=False))[0]
    changed = y != before
    mu = quantize_latent(random_model, y, rate).mu[changed]
    new, old = y[changed] - mu, before[changed] - mu
    assert changed.any() and torch.allclose(new, new.round(), atol=1e-4)
    assert torch.equal(new.round() - old.round(), torch.sign(old - old.round()))
    assert bool(((old - old.round()).abs() > 0.3 - 1e-6).all())


# ------------------------------------------------------------------------------------------ search and targets, in detail
def test_search_best_within_and_bracket_at_the_edges():
    s = Search(10.0, 0.5, [Trial(1, b"a" * 10, 9.5), Trial(2, b"a" * 30, 12.0), Trial(3, b"a" * 20, 10.0)])
    assert s.best.setting == 3 and s.within  # exactly on target
    assert Search(10.0, 0.5, s.trials[:1]).within  # exactly the tolerance away still counts
    assert not Search(10.0, 0.49, s.trials[:1]).within
    # a try exactly on the target brackets from both sides: no interpolation, its own size
    assert [t.setting for t in s.bracket()] == [3, 3] and s.interpolated_bytes() == 20.0
    assert Search(20.0, 0.1, s.trials).bracket() is None and Search(5.0, 0.1, s.trials).bracket() is None


def test_bisect_stops_on_a_repeat_and_at_the_range_ends():
    calls = []

    def measure(x):
        calls.append(x)
        return Trial(x, b"", min(x, 50.0))  # flat above 50: a target of 80 is beyond reach
    s = bisect(measure, 1.0, 100.0, 80.0, 0.1)
    assert not s.within and s.best.value == 50.0 and len(calls) == len(set(calls))  # never the same twice
    assert max(calls) > 99.0  # it went to the top before giving up
    calls.clear()
    bisect(measure, 1, 100, 80, 0.1, integer=True)
    assert len(calls) == len(set(calls)) and 100 in calls and 99 in calls  # the last two whole settings
    calls.clear()
    bisect(measure, 1.0, 100.0, 80.0, 0.0, max_tries=3)
    assert len(calls) == 3


def test_bisect_in_log_space_halves_the_ratio():
    seen = []
    bisect(lambda x: seen.append(x) or Trial(x, b"", x), 1.0, 100.0, 1000.0, 0.1, log=True, max_tries=2)
    assert seen[0] == pytest.approx(10.0) and seen[1] == pytest.approx(math.sqrt(1000.0))


def test_target_measures_tolerances_and_aims():
    from mspview.eval.targets import BPP_TOLERANCE, PSNR_TOLERANCE, SIZE_TOLERANCE, Target

    bpp, size, quality = Target("bpp", 0.5), Target("bytes", 10_000), Target("psnr", 32.0)
    assert bpp.measure(1000, 16_000, 30.0) == 0.5 and size.measure(1000, 16_000, 30.0) == 1000
    assert quality.measure(1000, 16_000, 30.0) == 30.0
    assert bpp.tolerance() == pytest.approx(BPP_TOLERANCE * 0.5) and quality.tolerance() == PSNR_TOLERANCE
    assert size.tolerance() == pytest.approx(SIZE_TOLERANCE * 10_000 / 2)
    assert size.aim() == pytest.approx(10_000 * (1 - SIZE_TOLERANCE / 2)) and bpp.aim() == 0.5
    assert size.met(10_000) and size.met((1 - SIZE_TOLERANCE) * 10_000) and not size.met(10_001)
    assert not size.met((1 - SIZE_TOLERANCE) * 10_000 - 1)
    assert bpp.met(0.5 * (1 + 0.99 * BPP_TOLERANCE)) and not bpp.met(0.5 * (1 + 1.01 * BPP_TOLERANCE))
    assert str(size) == "at most 10,000 bytes" and str(bpp) == "0.5 bpp" and str(quality) == "32 dB"
    # the contract the README and the app state, in numbers: +-2 % of a bpp, +-0.1 dB, 98-100 % of a size
    assert bpp.met(0.509) and bpp.met(0.491) and not bpp.met(0.511) and not bpp.met(0.489)
    assert quality.met(32.09) and quality.met(31.91) and not quality.met(32.11) and not quality.met(31.89)
    assert size.met(9_800) and not size.met(9_799)


def test_parse_size_counts_as_users_do():
    from mspview.eval.targets import parse_size

    assert parse_size("20000") == 20000 and parse_size("20KB") == 20000 and parse_size(" 20 kb ") == 20000
    assert parse_size("1.5MB") == 1_500_000 and parse_size("1.5m") == 1_500_000 and parse_size(".5k") == 500
    assert parse_size("1") == 1  # the smallest file there is
    for bad in ("20 GB", "abc", "", "0.5"):
        with pytest.raises(MSPError):
            parse_size(bad)


def test_a_size_target_keeps_the_largest_file_within_it():
    from mspview.eval.targets import Target, _rank

    size = Target("bytes", 10_000)
    values = [10_050, 9_990, 9_000, 9_850, 12_000]
    assert min(values, key=lambda v: _rank(size, v)) == 9_990  # met, and the largest within the limit
    assert min([10_050, 9_000, 12_000], key=lambda v: _rank(size, v)) == 9_000  # none met: under the limit wins
    assert min([10_050, 12_000], key=lambda v: _rank(size, v)) == 10_050  # all over: the smallest
    quality = Target("psnr", 32.0)
    assert min([31.5, 32.3, 33.0], key=lambda v: _rank(quality, v)) == 32.3


def test_the_correction_follows_the_fast_tries_slope():
    from mspview.eval.targets import Target, _corrected

    # bpp = lambda^0.5 on the fast tries: a file at 0.9x the target needs lambda x (1/0.9)^2
    tries = Search(0.5, 0.01, [Trial(lam, b"", lam ** 0.5) for lam in (0.01, 0.04, 0.16)])
    lam = _corrected(tries, Target("bpp", 0.2), 0.04, 0.18, 1e-4, 1.0)
    assert lam == pytest.approx(0.04 / 0.81, rel=1e-6)
    assert _corrected(tries, Target("bpp", 0.2), 0.04, 0.18, 1e-4, 0.045) == 0.045  # within the trained range
    # PSNR: linear in log lambda, 2 dB per doubling
    tries = Search(30.0, 0.1, [Trial(lam, b"", 30 + 2 * math.log2(lam / 0.01)) for lam in (0.01, 0.02)])
    assert _corrected(tries, Target("psnr", 31.0), 0.01, 30.0, 1e-4, 1.0) == pytest.approx(0.01 * math.sqrt(2))
    assert _corrected(Search(30.0, 0.1, tries.trials[:1]), Target("psnr", 31.0), 0.01, 30.0, 1e-4, 1.0) == 0.01


def test_bisect_stops_at_the_first_try_within_the_tolerance():
    for target in (50.0, 49.5, 50.5):  # the first try (the middle, 50) lands on it or exactly the tolerance away
        s = bisect(lambda x: Trial(x, b"", x), 0.0, 100.0, target, 0.5)
        assert len(s.trials) == 1 and s.within
    assert Trial(1, b"", 1.0).extra == {}  # a measure that found nothing else still has its dict


def test_bisect_gives_up_once_the_range_is_a_hair_wide():
    """A target beyond the top of the range: the tries close in on the top and stop at RESOLUTION, long
    before max_tries, whether the setting is bisected linearly or in log space."""
    from mspview.eval.search import RESOLUTION

    for log in (False, True):
        s = bisect(lambda x: Trial(x, b"", min(x, 50.0)), 1.0, 100.0, 80.0, 0.1, log=log)
        top = max(t.setting for t in s.trials)
        assert 8 <= len(s.trials) < 24 and 100.0 * (1 - 2 * RESOLUTION) < top < 100.0, (log, len(s.trials))


def test_a_target_with_a_lof_profile_encodes_with_it_and_says_so(random_model, monkeypatch):
    """The fast tries find the lambda, then the profile encodes there (one correction at most) and
    the summary names both; the file kept meets the target or is the closest."""
    import dataclasses

    from conftest import noise_image
    from mspview.codec import profiles
    from mspview.codec.imageio import LoadedImage
    from mspview.eval.targets import Target, encode_to_target

    # the targets' logic, not LOF's gain: a few iterations are enough
    monkeypatch.setitem(profiles.PROFILES, "quick", dataclasses.replace(profiles.get("quick"), iterations=4,
                                                                          check_every=2))

    image = LoadedImage(noise_image(32, 48, seed=11), "RGB", "RGB")
    fast = encode_to_target(random_model, image, Target("bpp", 4.0))
    target = Target("bpp", fast.reached)  # a rate this model reaches on this image
    found = encode_to_target(random_model, image, target, "quick")
    assert found.profile_encodes in (1, 2) and found.result.iterations > 0
    assert found.reached == pytest.approx(8 * len(found.result.encoded.data) / (32 * 48))
    text = found.summary(target)
    assert text.startswith(f"target {target}: ") and f"{len(found.search.trials)} fast tries" in text
    assert f"then {found.profile_encodes} {found.result.encoded.header.profile} encode" in text
    assert ("met" in text) == found.met and (" bpp at lambda " in text)
    assert fast.profile_encodes == 0 and "encode" not in fast.summary(Target("bpp", 4.0)).split("tries")[1]


def test_the_correction_after_a_missed_profile_encode_follows_the_fast_tries_slope():
    """LOF moved the file off the target: the next lambda is where the slope of the two fast tries
    nearest (log value, or PSNR, against log lambda) puts the target, within the trained range."""
    from mspview.eval.targets import SIZE_TOLERANCE, Target, _corrected

    lams = [0.001, 0.004, 0.016, 0.064]
    bpp = Search(1.0, 0.02, [Trial(lam, b"", v) for lam, v in zip(lams, [1.0, 2.0, 3.0, 3.5])])
    k = math.log(3.0 / 2.0) / math.log(4.0)  # the slope between the two tries nearest 0.005
    # LOF's file at 0.005 came out at 2.2 bpp: the target 2.5 needs lambda x (2.5 / 2.2)^(1/k)
    assert _corrected(bpp, Target("bpp", 2.5), 0.005, 2.2, 1e-4, 0.11) == pytest.approx(0.005 * (2.5 / 2.2) ** (1 / k))
    size = Target("bytes", 1000)  # a size aims just under its limit
    k = math.log(3.0 / 2.0) / math.log(4.0)
    assert _corrected(bpp, size, 0.01, 800.0, 1e-4, 0.11) == pytest.approx(0.01 * (1000 * (1 - SIZE_TOLERANCE / 2) / 800) ** (1 / k))
    psnr = Search(32.0, 0.1, [Trial(lam, b"", 30 + 2 * math.log(lam / 0.001)) for lam in lams])  # +2 dB per e x lambda
    assert _corrected(psnr, Target("psnr", 33.0), 0.016, 32.5, 1e-4, 0.11) == pytest.approx(0.016 * math.exp(0.25))
    assert _corrected(bpp, Target("bpp", 100.0), 0.064, 2.0, 1e-4, 0.11) == 0.11  # within the trained range
    flat = Search(1.0, 0.02, [Trial(lam, b"", 1.0) for lam in lams])
    assert _corrected(flat, Target("bpp", 2.0), 0.004, 1.0, 1e-4, 0.11) == 0.004  # no slope: no move


def test_files_for_a_target_rank_the_met_first_then_the_largest_within_a_size():
    from mspview.eval.targets import Target, _rank
    size, quality = Target("bytes", 1000), Target("psnr", 32.0)
    assert sorted([990, 1000, 1001, 900, 1200], key=lambda v: _rank(size, v)) == [1000, 990, 900, 1001, 1200]
    assert sorted([32.5, 32.05, 31.96, 31.0], key=lambda v: _rank(quality, v)) == [31.96, 32.05, 32.5, 31.0]


def test_a_size_target_summary_counts_bytes():
    from types import SimpleNamespace

    from mspview.eval.targets import Target, TargetResult

    result = SimpleNamespace(encoded=SimpleNamespace(header=SimpleNamespace(profile="balanced")))
    done = TargetResult(result, 0.0067, True, 9_950, Search(9_900, 100, [Trial(0.0067, b"", 9_950)]), 1)
    assert done.summary(Target("bytes", 10_000)) == ("target at most 10,000 bytes: met 9,950 bytes at lambda 0.0067 "
                                                     "(1 fast tries, then 1 balanced encode)")
    missed = TargetResult(result, 0.11, False, 31.25, Search(40, 0.1, []), 2)
    assert missed.summary(Target("psnr", 40.0)) == ("target 40 dB: not reachable within the trained range; closest "
                                                    "31.25 dB at lambda 0.11 (0 fast tries, then 2 balanced encodes)")


def test_sigma_levels_and_their_boundaries():
    """Every table scale maps to its own level, the boundaries are the log-midpoints between levels (a
    sigma just under boundary i is level i, just over it level i + 1), and sigmas off the table clamp to
    its ends: what exact_export turns into the integer model's thresholds."""
    from mspview.codec.cdf_tables import SIGMA_LEVELS
    from mspview.codec.entropy import SCALE_TABLE, level_boundaries, sigma_index

    levels = torch.arange(SIGMA_LEVELS, dtype=torch.uint8)
    assert torch.equal(sigma_index(torch.tensor(SCALE_TABLE)), levels)
    b = level_boundaries()
    assert b.shape == (SIGMA_LEVELS - 1,)
    np.testing.assert_allclose(b, np.sqrt(SCALE_TABLE[:-1] * SCALE_TABLE[1:]), rtol=1e-12)
    below, above = torch.tensor(b * (1 - 1e-4)), torch.tensor(b * (1 + 1e-4))
    assert torch.equal(sigma_index(below), levels[:-1]) and torch.equal(sigma_index(above), levels[1:])
    ends = sigma_index(torch.tensor([SCALE_TABLE[0] / 50, SCALE_TABLE[-1] * 50]))
    assert ends.tolist() == [0, SIGMA_LEVELS - 1]


def test_gdn_divides_by_its_norm_and_the_inverse_multiplies_in_training_and_in_inference():
    """y = x / (beta + gamma |x|) across channels, x * (...) for the synthesis' inverse; the in-place
    banded inference path computes the same."""
    from mspview.codec.transforms import SimplifiedGDN
    torch.manual_seed(3)
    x = torch.randn(2, 4, 5, 6)
    for inverse in (False, True):
        gdn = SimplifiedGDN(4, inverse=inverse)
        with torch.no_grad():
            gdn.beta_sqrt.uniform_(0.5, 1.5), gdn.gamma_sqrt.uniform_(0.0, 0.8)
        beta, gamma = gdn.beta_sqrt.square() + 1e-6, gdn.gamma_sqrt.square()
        norm = beta.view(1, 4, 1, 1) + torch.einsum("ij,bjhw->bihw", gamma, x.abs())
        expected = x * norm if inverse else x / norm
        assert torch.allclose(gdn(x), expected, atol=1e-6)
        with torch.no_grad():
            assert torch.allclose(gdn(x.clone()), expected, atol=1e-6)


def test_the_synthesis_band_by_band_paints_the_picture_it_paints_whole():
    """Bands of one latent row each, with their halos (residual blocks widen the context): every band
    starts where the last ended and the assembled picture is the whole-image one."""
    from mspview.codec.transforms import SynthesisTransform
    torch.manual_seed(5)
    g_s = SynthesisTransform(8, 12, res=1).eval()
    y = torch.randn(1, 12, 7, 5) * 3
    with torch.no_grad():
        whole = g_s.decode(y)
        bands = list(g_s.decode_bands(y, budget=1))
    assert [start for start, _ in bands] == [16 * r for r in range(7)]
    assert all(rows.shape == (16, 80, 3) for _, rows in bands)
    banded = torch.cat([rows for _, rows in bands])
    assert (banded.int() - whole.int()).abs().max() <= 1 and (banded != whole).float().mean() < 0.01


def test_a_new_gdn_is_a_per_channel_normalisation_and_seeding_its_dead_terms_keeps_its_output():
    """Initialised as Balle's (beta 1, gamma 0.1 on the diagonal) with cross-channel terms too small to
    change the output but large enough to learn; seeding zeroed ones (old weights) keeps the output."""
    from mspview.codec.transforms import SimplifiedGDN, seed_cross_terms
    x = torch.randn(1, 16, 6, 6) * 3
    gdn = SimplifiedGDN(16)
    assert torch.allclose(gdn(x), x / (1 + 1e-6 + 0.1 * x.abs()), rtol=1e-3)
    off = ~torch.eye(16, dtype=torch.bool)
    with torch.no_grad():
        gdn.gamma_sqrt[off] = 0
        before = gdn(x.clone())  # inference normalises in place
    assert seed_cross_terms(gdn) == 16 * 15
    pair = torch.nn.Sequential(SimplifiedGDN(3), SimplifiedGDN(5))
    with torch.no_grad():
        for g in pair:
            g.gamma_sqrt.zero_()
    assert seed_cross_terms(pair) == 9 + 25  # the zeroed entries of both, counted together
    assert torch.allclose(gdn(x), before, rtol=1e-3) and bool((gdn.gamma_sqrt[off] > 0).all())


# ------------------------------------------------------------------------------------------ image input
def test_image_modes_become_8_bit_rgb_by_the_stated_rules():
    """Grayscale of every depth is coded as three equal channels in mode L (16-bit by round(v / 257),
    32-bit integers by the same rule only above 255, floats rounded and clipped); alpha and palettes are
    resolved with a note for alpha; other colour spaces go through Pillow to RGB."""
    from PIL import Image
    from mspview.codec.imageio import LoadedImage, from_pil
    g = np.array([[0, 1, 128, 255]], np.uint8)
    cases = {
        "L": (Image.fromarray(g), g, "L", []),
        "1": (Image.fromarray(g > 127), np.array([[0, 0, 255, 255]], np.uint8), "L", []),
        "I;16": (Image.fromarray(g.astype(np.uint16) * 257 + np.array([[0, 128, 129, 0]], np.uint16)),
                 np.array([[0, 1, 129, 255]], np.uint8), "L", ["16-bit samples reduced to 8 bits (round(v / 257))"]),
        "I small": (Image.fromarray(g.astype(np.int32)), g, "L", []),
        "I large": (Image.fromarray((g.astype(np.int32) * 257)), g, "L", ["16-bit samples reduced to 8 bits (round(v / 257))"]),
        "I at 256": (Image.fromarray(np.array([[0, 128, 255, 256]], np.int32)), np.array([[0, 0, 1, 1]], np.uint8),
                     "L", ["16-bit samples reduced to 8 bits (round(v / 257))"]),  # one over 8 bits makes it 16-bit
        "I beyond": (Image.fromarray(np.array([[-5, 128, 65535, 90000]], np.int32)), np.array([[0, 0, 255, 255]], np.uint8),
                     "L", ["16-bit samples reduced to 8 bits (round(v / 257))"]),  # clipped, not wrapped
        "F": (Image.fromarray(np.array([[-3.0, 1.4, 127.6, 300.0]], np.float32)), np.array([[0, 1, 128, 255]], np.uint8), "L", []),
        "LA": (Image.fromarray(np.dstack([g, 255 - g]), "LA"), g, "L", ["alpha channel discarded"]),
    }
    for name, (im, want, mode, notes) in cases.items():
        img = from_pil(im)
        assert (img.mode, img.notes) == (mode, notes), name
        assert img.rgb.dtype == np.uint8 and img.rgb.shape == (1, 4, 3), name
        assert np.array_equal(img.rgb, np.repeat(want[..., None], 3, axis=2)), name
    rgb = np.array([[[10, 20, 30], [200, 100, 0]]], np.uint8)
    img = from_pil(Image.fromarray(np.dstack([rgb, [[7, 9]]]).astype(np.uint8), "RGBA"))
    assert (img.mode, img.source_mode, img.notes) == ("RGB", "RGBA", ["alpha channel discarded"])
    assert np.array_equal(img.rgb, rgb)
    pal = Image.fromarray(rgb).quantize(4)
    assert np.array_equal(from_pil(pal).rgb, np.asarray(pal.convert("RGB"))) and from_pil(pal).notes == []
    pal.info["transparency"] = 0
    assert from_pil(pal).notes == ["alpha channel discarded"]
    assert LoadedImage(rgb, "RGB", "RGB").notes == []  # each image its own empty list
    cmyk = Image.fromarray(rgb).convert("CMYK")
    assert from_pil(cmyk).mode == "RGB" and np.array_equal(from_pil(cmyk).rgb, np.asarray(cmyk.convert("RGB")))


def test_image_sizes_from_one_pixel_to_the_limit():
    from mspview.codec.errors import ImageError
    from mspview.codec.imageio import check_size
    from mspview.codec.limits import MAX_PIXELS, MAX_SIDE
    for w, h in ((1, 1), (MAX_SIDE, MAX_PIXELS // MAX_SIDE), (MAX_PIXELS // MAX_SIDE, MAX_SIDE), (8000, 8000)):
        check_size(w, h)
    assert 8000 * 8000 == MAX_PIXELS
    for w, h in ((0, 5), (5, 0), (MAX_SIDE + 1, 1), (1, MAX_SIDE + 1), (MAX_SIDE, MAX_PIXELS // MAX_SIDE + 1), (8000, 8001)):
        with pytest.raises(ImageError, match="no pixels" if 0 in (w, h) else f"larger than the supported 64 megapixels \\(or {MAX_SIDE}"):
            check_size(w, h)


def test_srgb_and_unreadable_profiles_leave_the_pixels_and_say_what_happened():
    from PIL import Image, ImageCms
    from mspview.codec.imageio import from_pil
    rgb = np.full((2, 3, 3), (200, 100, 50), np.uint8)
    im = Image.fromarray(rgb)
    im.info["icc_profile"] = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    assert np.array_equal(from_pil(im).rgb, rgb) and from_pil(im).notes == []
    im.info["icc_profile"] = b"not a profile"
    img = from_pil(im)
    assert np.array_equal(img.rgb, rgb) and img.notes == ["embedded ICC profile unreadable: colours taken as sRGB"]


def test_decoded_pictures_go_out_in_the_files_mode(tmp_path):
    from PIL import Image
    from mspview.codec.imageio import save_image, to_output
    rgb = np.array([[[0, 1, 2], [255, 254, 250]]], np.uint8)
    assert np.array_equal(to_output(rgb, "L"), [[1, 253]]) and to_output(rgb, "RGB") is rgb
    save_image(to_output(rgb, "L"), tmp_path / "g.png")
    save_image(rgb, tmp_path / "c.png")
    assert Image.open(tmp_path / "g.png").mode == "L" and Image.open(tmp_path / "c.png").mode == "RGB"
    assert np.array_equal(np.asarray(Image.open(tmp_path / "c.png")), rgb)


def test_icc_profile_converted_to_srgb(tmp_path):
    import io
    from PIL import Image
    from mspview.codec.imageio import load_image
    """A photo tagged Display P3 is converted to sRGB on load, and the note says so."""
    from PIL import ImageCms

    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 100, 50
    path = tmp_path / "p3.png"
    Image.fromarray(rgb).save(path, icc_profile=display_p3())
    img = load_image(path)
    want = ImageCms.profileToProfile(Image.fromarray(rgb), ImageCms.ImageCmsProfile(io.BytesIO(display_p3())),
                                     ImageCms.createProfile("sRGB"))
    assert np.array_equal(img.rgb, np.asarray(want)) and not np.array_equal(img.rgb, rgb)
    assert any("Display P3" in n and "sRGB" in n for n in img.notes)
    assert img.rgb[0, 0, 0] > 200  # P3's red is redder than sRGB's: its value grows


def display_p3() -> bytes:
    """A matrix/TRC ICC v2 profile with Display P3's primaries (D50-adapted) and a 2.2 gamma."""
    import struct

    def s15(v):
        return struct.pack(">i", round(v * 65536))

    def xyz(x, y, z):
        return b"XYZ " + b"\0" * 4 + s15(x) + s15(y) + s15(z)

    desc_text = b"Display P3 (test)\0"
    desc = b"desc" + b"\0" * 4 + struct.pack(">I", len(desc_text)) + desc_text + b"\0" * 4 + b"\0" * 4 + b"\0" * 3 + b"\0" * 67
    curve = b"curv" + b"\0" * 4 + struct.pack(">I", 1) + struct.pack(">H", int(2.2 * 256)) + b"\0\0"
    tags = [(b"desc", desc), (b"wtpt", xyz(0.9642, 1.0, 0.8249)), (b"rXYZ", xyz(0.5151, 0.2412, -0.0011)),
            (b"gXYZ", xyz(0.2920, 0.6922, 0.0419)), (b"bXYZ", xyz(0.1571, 0.0666, 0.7841)),
            (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve), (b"cprt", b"text" + b"\0" * 4 + b"none\0")]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        while (offset + len(data)) % 4:
            data += b"\0"
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = 128 + 4 + len(table) + len(data)
    header = struct.pack(">I", size) + b"none" + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ " + b"\0" * 12 + b"acsp"
    header += b"\0" * 24 + struct.pack(">I", 0) + s15(0.9642) + s15(1.0) + s15(0.8249) + b"\0" * 48
    return header[:128] + struct.pack(">I", len(tags)) + table + data
