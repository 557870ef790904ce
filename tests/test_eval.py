"""Evaluation: real classical codecs, bpp bisection, BD-rate, results JSON, the eval command."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mspview.codec import metrics
from mspview.codec.errors import MSPError
from mspview.codec.metrics import PSNR_CAP
from mspview.eval import classical, results
from mspview.eval.bdrate import bd_rate, span_gap
from mspview.eval.metrics import ms_ssim, psnr
from mspview.commands.eval import main as eval_main

from conftest import SAMPLE, noise_image, run_cli

IMG = noise_image(96, 128, seed=4)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(classical.CODECS))
def test_classical_roundtrip_and_bisection(name):
    codec = classical.get(name)
    data = codec.encode(IMG, codec.sweep[len(codec.sweep) // 2])
    out = codec.decode(data)
    assert out.shape == IMG.shape and out.dtype == np.uint8
    assert 15 < psnr(out, IMG) < 60
    target = 8 * len(data) / (IMG.shape[0] * IMG.shape[1])
    search = codec.at_bpp(IMG, target)
    got = 8 * len(search.best.data) / (IMG.shape[0] * IMG.shape[1])
    assert got == search.best.value and search.best.setting in [t.setting for t in search.trials]
    assert search.within and abs(got - target) <= 0.05 * target  # the setting that made it is on the sweep


def test_bisection_keeps_the_closest_when_it_cannot():
    """No JPEG of this image is 0.0001 bpp: the search says so and keeps every file tried, the closest
    (the smallest) first."""
    search = classical.get("jpeg").at_bpp(IMG, 0.0001)
    assert not search.within and search.bracket() is None and search.interpolated_bytes() is None
    assert len(search.best.data) == min(len(t.data) for t in search.trials) > 0


def test_bd_rate_known_values():
    rate = [0.1, 0.2, 0.4, 0.8, 1.6]
    psnr_ = [26.0, 28.5, 31.0, 33.5, 36.0]
    assert abs(bd_rate((rate, psnr_), (rate, psnr_)).bd_rate) < 1e-9
    shifted = [r * 0.8 for r in rate]  # same quality with 20 % fewer bits everywhere
    r = bd_rate((rate, psnr_), (shifted, psnr_), "a", "b")
    assert abs(r.bd_rate - (-20.0)) < 1e-6 and r.overlap == (26.0, 36.0)
    with pytest.raises(MSPError, match="do not overlap"):
        bd_rate((rate, psnr_), (rate, [p + 20 for p in psnr_]))


def test_span_gap_worst_point_and_coverage():
    rate = [0.1, 0.2, 0.4, 0.8, 1.6]
    psnr_ = [26.0, 28.5, 31.0, 33.5, 36.0]
    up = span_gap((rate, psnr_), (rate, [p + 0.5 for p in psnr_]), (0.1, 1.0))
    assert up.holds and up.covered == (0.1, 1.0) and up.worst == pytest.approx(0.5) and up.mean == pytest.approx(0.5)
    # better at low rates, worse from 0.4 bpp up: the worst point is at the top of the span
    tilted = [p + d for p, d in zip(psnr_, (1.0, 0.5, 0.0, -0.5, -1.0))]
    g = span_gap((rate, psnr_), (rate, tilted), (0.1, 1.0))
    assert not g.holds and g.worst < -0.5 and g.worst_at == pytest.approx(1.0)
    # better everywhere it has points, but it does not reach 1.0 bpp: not "better over the span"
    short = span_gap((rate, psnr_), (rate[:4], [p + 0.5 for p in psnr_[:4]]), (0.1, 1.0))
    assert short.covered == (0.1, 0.8) and short.worst > 0 and not short.holds
    assert span_gap((rate, psnr_), ([2.0, 3.0], [37.0, 38.0]), (0.1, 1.0)).covered is None


def test_metrics():
    """One PSNR convention everywhere: 10 log10(255^2 / MSE), identical images at the 100 dB cap (the
    codec's LOF events, training and evaluation all use codec.metrics)."""
    assert psnr(IMG, IMG) == PSNR_CAP == metrics.psnr(0.0) == float(metrics.psnr(torch.tensor(0.0)))
    off = IMG.copy()
    off[0, 0, 0] ^= 1  # one value off by one
    assert psnr(IMG, off) == pytest.approx(10 * np.log10(255 ** 2 * IMG.size))
    assert metrics.rd_cost(0.5, 4.0, 0.01) == pytest.approx(0.54)
    big = noise_image(200, 200, seed=1)
    noisy = np.clip(big.astype(int) + 3, 0, 255).astype(np.uint8)
    assert 0.9 < ms_ssim(big, noisy) < 1.0
    assert np.isnan(ms_ssim(IMG, IMG))  # too small for five scales: NaN, not a wrong number


SWEEPS = len(classical.get("webp").sweep) + len(classical.get("jpeg").sweep)  # rows of one image


@pytest.mark.slow
def test_eval_command_writes_anchor_shaped_results(tmp_path, random_weights):
    src = tmp_path / "imgs"
    src.mkdir()
    from PIL import Image
    Image.open(SAMPLE).crop((0, 0, 192, 176)).save(src / "a.png")
    out = tmp_path / "out"
    rc = eval_main([str(src), "--codecs", "msp,webp,jpeg", "--lambdas", "0.0018,0.0067,0.025,0.0483",
                    "--model", str(random_weights), "--out", str(out)])
    assert rc == 0
    anchor_file = results.ANCHORS / "webp.json"  # the published anchors, where ../shared is present
    anchor_keys = set(results.load(anchor_file)) if anchor_file.is_file() else {"name", "description", "results"}
    for name in ("mspview-fast", "webp", "jpeg"):
        ours = results.load(out / f"{name}.json")
        assert set(ours) == anchor_keys
        assert {"bpp", "psnr-rgb", "ms-ssim-rgb"} <= set(ours["results"])
    ours = results.load(out / "mspview-fast.json")
    assert len(ours["results"]["bpp"]) == 4
    assert (out / "rd_psnr-rgb.png").stat().st_size > 10_000
    table = json.loads((out / "bd_rate.json").read_text())
    assert all({"test", "anchor", "bd_rate", "overlap"} <= set(t) for t in table)
    assert (out / "per_image.csv").read_text().count("\n") == 1 + 4 + SWEEPS
    gaps = json.loads((out / "span.json").read_text())
    webp = next(g for g in gaps if g["anchor"] == "webp (measured here)")
    if webp["covered"]:  # the mspview and WebP curves of one image share some rates
        assert webp["span"] == [0.1, 1.0] and webp["holds"] == (webp["worst_db"] > 0 and webp["covered"] == [0.1, 1.0])
    assert "equal rate over 0.1–1 bpp" in (out / "bd_rate.md").read_text()
    # run again with two of the lambdas: every row is found in rows.jsonl, none is encoded again
    webp_before = (out / "webp.json").read_text()
    lines_before = (out / "rows.jsonl").read_text().count("\n")
    rc = eval_main([str(src), "--codecs", "msp,webp,jpeg", "--lambdas", "0.0018,0.0483",
                    "--model", str(random_weights), "--out", str(out)])
    assert rc == 0 and (out / "webp.json").read_text() == webp_before
    assert (out / "rows.jsonl").read_text().count("\n") == lines_before
    assert (out / "per_image.csv").read_text().count("\n") == 1 + 2 + SWEEPS
    res = run_cli("eval", str(src), "--span", "1.0,0.1", "--out", str(tmp_path / "bad"))
    assert res.returncode != 0 and "--span" in res.stderr and "Traceback" not in res.stderr


def test_serial_context_model_roundtrip_is_exact():
    import torch

    from mspview.eval.serial_context import SerialContextModel, roundtrip

    model = SerialContextModel(8, seed=3)
    y = torch.randn(1, 8, 5, 7) * 4
    data, lo, hi, y_enc = model.compress(y)
    assert lo < hi  # the symbols vary: not an all-zero latent any decoder would get right
    assert torch.equal(model.decompress(data, lo, hi, 5, 7), y_enc)
    assert torch.allclose(y_enc, y, atol=0.5 + 1e-5)  # y_hat = round(y - mu) + mu
    assert roundtrip(model, y)[0] == data


@pytest.mark.slow
def test_bench_prints_constant_msp_steps_and_growing_serial_steps(random_weights):
    res = run_cli("bench", "--sizes", "0.25MP,1MP", "--repeat", "1", "--no-serial", "--threads", "1",
                  "--model", str(random_weights))
    assert res.returncode == 0, res.stderr
    rows = [line.split() for line in res.stdout.splitlines() if line.split()[:1] in (["0.25MP"], ["1MP"])]
    assert [r[0] for r in rows] == ["0.25MP", "1MP"]
    assert rows[0][4] == rows[1][4] == "13"  # MSP steps: 1 + 2 * S * G (S=3, G=2) whatever the size
    assert int(rows[1][7]) == 4 * int(rows[0][7])  # serial steps: one per latent position
    assert all(float(r[-1]) > 0 for r in rows)  # peak memory of each size's own process
    bad = run_cli("bench", "--sizes", "8K")
    assert bad.returncode == 2 and "unknown size" in bad.stderr and "Traceback" not in bad.stderr
