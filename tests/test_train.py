"""The training loop for real, tiny: a few steps, resume, export, and the DDP path (gloo, 2 processes)."""
from __future__ import annotations

import csv
import json
import math
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mspview.codec.model import ModelConfig
from mspview.codec.transforms import SimplifiedGDN, seed_cross_terms
from mspview.codec.weights import load_weights
from mspview.train.extend import extend_lambdas
from mspview.train.widen import add_residual, widen, widen_latent

from conftest import HANG_S, REPO, noise_image, run_cli

pytestmark = pytest.mark.slow  # app windows, workers, subprocesses: `pytest -m "not slow"` skips them

TINY = ["--N", "16", "--M", "32", "--hidden", "16", "--groups", "2", "--batch", "2", "--patch", "64",
        "--eval-minutes", "0", "--log-every", "1", "--threads", "1", "--warmup", "2"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("train_images")
    for i in range(6):
        Image.fromarray(noise_image(120 + 10 * i, 150, seed=i)).save(d / f"img{i}.png")
    Image.fromarray(noise_image(200, 180, seed=9)).save(d / "photo.jpg", quality=90)
    return d


def train(*args: str, launcher: list[str] | None = None) -> subprocess.CompletedProcess:
    cmd = (launcher or [sys.executable, "-m"]) + ["mspview.train", *TINY, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=HANG_S, cwd=REPO)


def test_train_resume_export(tmp_path, data_dir):
    out = tmp_path / "run"
    res = train("--data", str(data_dir), "--steps", "3", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert (out / "last.pt").is_file()
    res = train("--data", str(data_dir), "--steps", "5", "--out", str(out), "--resume",
                "--export", str(tmp_path / "w.pt"))
    assert res.returncode == 0, res.stderr
    card = json.loads((tmp_path / "w.json").read_text())
    assert card["steps"] == 5 and card["sha256"] and card["config"]["M"] == 32
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5]
    assert all(float(r["gpu_hours"]) == 0 and r["lambda"] for r in rows)
    assert card["data"].endswith(f"{data_dir.name} (7 photos)") and "then" not in card["data"]  # resumed: named once
    lm = load_weights(tmp_path / "w.pt")
    assert lm.model.config.N == 16 and not lm.model.training
    res = run_cli("export", str(out / "last.pt"), str(tmp_path / "x.pt"), "--calibration", str(data_dir),
                  "--calibration-images", "2")
    assert res.returncode == 0, res.stderr
    exported = json.loads((tmp_path / "x.json").read_text())  # from the checkpoint: the same record
    assert (exported["steps"], exported["data"]) == (5, card["data"])
    assert f"trained on {card['data']}" in run_cli("info", "--model", str(tmp_path / "x.pt")).stdout


def free_port() -> int:
    """A port no one listens on now (a fixed one collides when two test runs share a machine)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_processes_gloo(tmp_path, data_dir):
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                "--master_port", str(free_port()), "-m"]
    res = train("--data", str(data_dir), "--steps", "2", "--out", str(tmp_path / "ddp"),
                "--export", str(tmp_path / "ddp.pt"), launcher=launcher)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "world 2" in res.stdout
    assert load_weights(tmp_path / "ddp.pt").model.config.M == 32


def test_widened_synthesis_starts_as_the_same_codec_and_learns(random_weights):
    torch.manual_seed(0)
    narrow = load_weights(random_weights).model
    wide = widen(narrow, synthesis=24)
    assert wide.config.synthesis_width == 24 and wide.config.model_id.endswith("-syn24")
    x = torch.rand(1, 3, 64, 80)
    with torch.no_grad():
        a, b = narrow(x, 2), wide(x, 2)
    assert torch.equal(a["bits"], b["bits"])  # the synthesis may differ in float rounding only (wider sums)
    assert torch.allclose(a["x_hat"], b["x_hat"], rtol=0, atol=1e-5)
    assert wide.g_s[0].weight[:, 16:].abs().sum() > 0  # (in, out, k, k): the new channels compute something
    out_of_new = wide.g_s[2].weight[16:, :16]  # ... that reaches the trained ones through zeros
    assert torch.equal(out_of_new, torch.zeros_like(out_of_new))
    wide.train()
    out = wide(x, 2)
    wide.rd_loss(out, x, 0.0067)["loss"].backward()
    assert wide.g_s[2].weight.grad[16:, :16].abs().sum() > 0  # which learn at once
    with pytest.raises(ValueError):
        widen(wide, synthesis=16)


def test_residual_blocks_start_as_the_same_codec_and_learn(random_weights):
    torch.manual_seed(0)
    plain = load_weights(random_weights).model
    deep = add_residual(plain, 1)
    assert deep.config.res == 1 and deep.config.model_id.endswith("-res1")
    x = torch.rand(1, 3, 64, 80)
    with torch.no_grad():
        a, b = plain(x, 2), deep(x, 2)
    assert torch.equal(a["bits"], b["bits"]) and torch.equal(a["x_hat"], b["x_hat"])  # identity blocks
    deep.train()
    deep.rd_loss(deep(x, 2), x, 0.0067)["loss"].backward()
    last = [blk.conv2.weight for blk in deep.g_s if hasattr(blk, "conv2")]
    assert len(last) == 2 and all(w.grad.abs().sum() > 0 for w in last)  # they learn at once
    deeper = add_residual(deep, 2)  # the trained block of each stage kept, a new identity one after it
    with torch.no_grad():
        assert torch.equal(deep(x, 2)["x_hat"], deeper(x, 2)["x_hat"])
    with pytest.raises(ValueError):
        add_residual(deeper, 1)
    with pytest.raises(ValueError):
        widen(deep, synthesis=24)


def test_widened_analysis_starts_as_the_same_codec_and_learns(random_weights):
    torch.manual_seed(0)
    narrow = load_weights(random_weights).model
    wide = widen(narrow, analysis=24)
    assert wide.config.N == 24 and wide.config.synthesis_width == narrow.config.synthesis_width
    x = torch.rand(1, 3, 64, 80)
    with torch.no_grad():
        a, b = narrow(x, 2), wide(x, 2)
    assert torch.allclose(a["y"], b["y"], rtol=0, atol=1e-5)
    assert torch.allclose(a["x_hat"], b["x_hat"], rtol=0, atol=1e-4)
    assert wide.g_a[0].weight[16:].abs().sum() > 0  # (out, in, k, k): the new channels compute something
    assert torch.equal(wide.g_a[2].weight[:16, 16:], torch.zeros(16, 8, 5, 5))  # unseen by the trained ones
    wide.train()
    out = wide(x, 2)
    wide.rd_loss(out, x, 0.0067)["loss"].backward()
    assert wide.g_a[2].weight.grad[:16, 16:].abs().sum() > 0  # and those zeros learn at once
    with pytest.raises(ValueError, match="cannot narrow the analysis"):
        widen(wide, analysis=16)


def test_gdn_cross_channel_weights_learn_once_seeded():
    torch.manual_seed(0)
    gdn = SimplifiedGDN(8)
    off = ~torch.eye(8, dtype=torch.bool)
    x = torch.randn(2, 8, 6, 6)

    def cross_grad() -> torch.Tensor:
        gdn.zero_grad()
        (gdn(x) - x.roll(1, dims=1)).square().mean().backward()
        return gdn.gamma_sqrt.grad[off]

    assert (cross_grad() != 0).all()  # a fresh layer's cross terms learn
    with torch.no_grad():
        gdn.gamma_sqrt[off] = 0  # as in every model trained before session 7
    assert torch.equal(cross_grad(), torch.zeros(56))  # stuck: d gamma / d gamma_sqrt = 0 there
    assert seed_cross_terms(gdn) == 56 and seed_cross_terms(gdn) == 0
    assert (cross_grad() != 0).all()


def test_train_widens_from_init_and_exports_a_loadable_model(tmp_path, data_dir, random_weights):
    res = train("--data", str(data_dir), "--steps", "2", "--out", str(tmp_path / "wide"), "--init", str(random_weights),
                "--widen-synthesis", "24", "--widen-latent", "40", "--export", str(tmp_path / "wide.pt"))
    assert res.returncode == 0, res.stderr
    lm = load_weights(tmp_path / "wide.pt")
    assert lm.model.config.synthesis_width == 24 and lm.model.config.N == 16 and lm.model.config.M == 40
    res = train("--data", str(data_dir), "--steps", "2", "--out", str(tmp_path / "res"), "--init", str(random_weights),
                "--add-residual", "1", "--export", str(tmp_path / "res.pt"))
    assert res.returncode == 0, res.stderr
    assert load_weights(tmp_path / "res.pt").model.config.res == 1


def test_widen_misuse_is_one_clear_line(tmp_path, data_dir, random_weights):
    res = train("--data", str(data_dir), "--steps", "1", "--out", str(tmp_path / "w"), "--init", str(random_weights),
                "--widen-synthesis", "8")
    assert res.returncode != 0 and "cannot narrow" in res.stderr and "Traceback" not in res.stderr
    res = train("--data", str(data_dir), "--steps", "1", "--out", str(tmp_path / "w"), "--widen-synthesis", "24")
    assert res.returncode != 0 and "needs --init" in res.stderr and "Traceback" not in res.stderr


def test_encoder_only_training_keeps_the_decoder_bit_identical(tmp_path, data_dir, random_weights):
    res = train("--data", str(data_dir), "--steps", "3", "--out", str(tmp_path / "enc"), "--init", str(random_weights),
                "--train-only", "encoder", "--lr", "1e-2", "--export", str(tmp_path / "enc.pt"))
    assert res.returncode == 0, res.stderr
    before, after = load_weights(random_weights).model.state_dict(), load_weights(tmp_path / "enc.pt").model.state_dict()
    encoder = [k for k in before if k.startswith("g_a.") or k == "gain.log_gain"]
    assert all(torch.equal(before[k], after[k]) for k in before if k not in encoder)  # the decoder, untouched
    assert not torch.equal(before["gain.log_gain"], after["gain.log_gain"])
    assert sum(not torch.equal(before[k], after[k]) for k in encoder if k.startswith("g_a.")) >= len(encoder) // 2
    res = train("--data", str(data_dir), "--steps", "1", "--out", str(tmp_path / "e2"), "--train-only", "encoder")
    assert res.returncode != 0 and "needs trained weights" in res.stderr and "Traceback" not in res.stderr
    res = train("--data", str(data_dir), "--steps", "1", "--out", str(tmp_path / "e3"), "--init", str(random_weights),
                "--train-only", "encoder", "--widen-synthesis", "24")
    assert res.returncode != 0 and "keeps the decoder" in res.stderr and "Traceback" not in res.stderr


def test_extended_lambdas_keep_the_trained_codec_and_line_up_the_new_gains(random_weights):
    model = load_weights(random_weights).model
    old = list(model.config.lambdas)
    inside = math.sqrt(old[0] * old[1])
    wider = extend_lambdas(model, [old[0] / 2, inside, *old, old[-1] * 2])
    assert wider.config.lambdas == (old[0] / 2, old[0], inside, *old[1:], old[-1] * 2)
    x = torch.rand(1, 3, 64, 80)
    with torch.no_grad():
        for i, lam in enumerate(old):  # every trained lambda codes exactly as before
            j = wider.config.lambdas.index(lam)
            a, b = model(x, i), wider(x, j)
            assert torch.equal(a["bits"], b["bits"]) and torch.equal(a["x_hat"], b["x_hat"])
        # inside the trained range a new lambda starts where the rate control already put it
        assert torch.allclose(wider.gain.gain_at(torch.tensor(2))[0].flatten(), model.gain.gain(inside).flatten())
        # outside, on the line through the two nearest trained lambdas (log gain linear in log lambda)
        g = model.gain.log_gain
        slope = (g[1] - g[0]) / math.log(old[1] / old[0])
        assert torch.allclose(wider.gain.log_gain[0], g[0] - slope * math.log(2), atol=1e-6)
        assert wider(x, 0)["bits"].item() < model(x, 0)["bits"].item()  # a lower lambda: coarser, fewer bits
    with pytest.raises(ValueError, match="must keep the trained lambdas"):
        extend_lambdas(model, old[1:])


def test_train_extends_lambdas_from_init(tmp_path, data_dir, random_weights):
    old = load_weights(random_weights).model.config.lambdas
    new = [old[0] / 2, *old, old[-1] * 2]
    res = train("--data", str(data_dir), "--steps", "2", "--out", str(tmp_path / "ext"), "--init", str(random_weights),
                "--lambdas", ",".join(map(repr, new)), "--export", str(tmp_path / "ext.pt"))
    assert res.returncode == 0, res.stderr
    assert load_weights(tmp_path / "ext.pt").model.config.lambdas == tuple(new)
    res = train("--data", str(data_dir), "--steps", "1", "--out", str(tmp_path / "e2"), "--init", str(random_weights),
                "--lambdas", repr(old[0]))
    assert res.returncode != 0 and "must keep the trained lambdas" in res.stderr and "Traceback" not in res.stderr
    res = train("--data", str(data_dir), "--steps", "1", "--out", str(tmp_path / "e3"), "--lambdas", "0.001,0.01")
    assert res.returncode != 0 and "needs --init" in res.stderr and "Traceback" not in res.stderr


def test_widened_latent_starts_as_the_same_codec_and_learns(random_weights):
    torch.manual_seed(0)
    narrow = load_weights(random_weights).model
    m, g = narrow.config.M, narrow.config.groups
    wide = widen_latent(narrow, m + 2 * g)
    assert wide.config.M == m + 2 * g and wide.config.model_id.startswith(f"msp-n16-m{m + 2 * g}-")
    x = torch.rand(1, 3, 64, 80)
    with torch.no_grad():
        for li in (0, len(narrow.config.lambdas) - 1):
            a, b = narrow(x, li), wide(x, li)
            assert torch.allclose(a["x_hat"], b["x_hat"], rtol=0, atol=1e-5)
            # the new channels code zeros at a small predicted scale: a few thousandths of a bit each
            extra = (b["bits"] - a["bits"]).item()
            assert 0 <= extra < 0.01 * 2 * g * (64 // 16) * (80 // 16)
    wide.train()
    out = wide(x, 2)
    wide.rd_loss(out, x, 0.0067)["loss"].backward()
    c, c2 = m // g, (m + 2 * g) // g
    new_rows = torch.cat([torch.arange(c, c2) + i * c2 for i in range(g)])
    assert wide.g_a[-1].weight.grad[new_rows].abs().sum() > 0  # the analysis learns to use them
    with pytest.raises(ValueError, match="cannot narrow the latent"):
        widen_latent(wide, m)
    with pytest.raises(ValueError, match="multiple of the"):
        widen_latent(narrow, m + 1)


def test_pack_downscales_caps_and_trains(tmp_path, data_dir):
    from mspview.train import pack
    (data_dir / "broken.png").write_bytes(b"not an image")
    try:
        packed = tmp_path / "pack"
        assert pack.main([str(data_dir), str(packed), "--scale", "0.5", "--lossless-scale", "0.8", "--min-side", "66"]) == 0
        out = sorted(packed.iterdir())
        assert len(out) == 7 and all(f.suffix == ".jpg" for f in out)  # every image but the broken one
        jpeg = next(f for f in out if f.stem.endswith("photo"))
        assert Image.open(jpeg).size == (90, 100)  # 180x200 at 0.5
        png = next(f for f in out if f.stem.endswith("img0"))
        assert Image.open(png).size == (120, 96)  # 150x120 at 0.8
        with pytest.raises(SystemExit, match="not an empty folder"):
            pack.main([str(data_dir), str(packed)])
        with pytest.raises(SystemExit, match="not an empty folder"):  # a file, never overwritten
            pack.main([str(data_dir), str(out[0])])
        capped = tmp_path / "capped"
        pack.main([str(data_dir), str(capped), "--max-mib", str(3 * out[0].stat().st_size / 2**20)])
        assert 1 <= len(list(capped.iterdir())) < 7
        sizes = sum(f.stat().st_size for f in capped.iterdir())
        assert sizes <= 3 * out[0].stat().st_size
    finally:
        (data_dir / "broken.png").unlink()
    res = train("--data", str(packed), "--jpeg-scale", "0.9,1", "--steps", "2", "--out", str(tmp_path / "run"),
                "--export", str(tmp_path / "w.pt"))
    assert res.returncode == 0, res.stderr
    card = json.loads((tmp_path / "w.json").read_text())
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["state"]
    assert card["gpu_hours"] == state["gpu_hours"] == 0 and state["cpu_hours"] > 0  # a CPU run bills CPU time only
    from mspview.codec.model import fast_bf16
    assert f"amp {fast_bf16(torch.device('cpu'))}" in res.stdout  # bf16 only where it is native


def test_train_bad_data_or_scale_is_one_clear_line(tmp_path, data_dir):
    res = train("--data", str(tmp_path), "--steps", "1", "--out", str(tmp_path / "run"))
    assert res.returncode != 0 and "no training images under" in res.stderr and "Traceback" not in res.stderr
    res = train("--data", str(data_dir), "--jpeg-scale", "0.9", "--steps", "1", "--out", str(tmp_path / "run"))
    assert res.returncode != 0 and "--jpeg-scale wants LO,HI" in res.stderr and "Traceback" not in res.stderr


def test_log_appended_to_an_older_run_keeps_its_columns(tmp_path, data_dir):
    out = tmp_path / "run"
    out.mkdir()
    old = "step,cpu_hours,lambda,bpp,psnr,loss,lr,steps_per_s\n7,0.1,0.0067,0.5,30.0,1.0,1e-4,3.0\n"
    (out / "log.csv").write_text(old)
    res = train("--data", str(data_dir), "--steps", "2", "--out", str(out))
    assert res.returncode == 0, res.stderr
    lines = (out / "log.csv").read_text().splitlines()
    assert lines[:2] == old.splitlines() and len(lines) == 4
    assert all(len(line.split(",")) == 8 for line in lines)


def test_lambda_weights_steer_the_sampling(tmp_path, data_dir):
    out = tmp_path / "run"
    n = len(ModelConfig().lambdas)
    weights = ["0"] * n
    weights[-2] = "1"  # every batch at the second-highest lambda
    res = train("--data", str(data_dir), "--steps", "4", "--out", str(out), "--lambda-weights", ",".join(weights))
    assert res.returncode == 0, res.stderr
    assert {float(r["lambda"]) for r in csv.DictReader(open(out / "log.csv"))} == {ModelConfig().lambdas[-2]}
    res = train("--data", str(data_dir), "--steps", "1", "--out", str(tmp_path / "bad"), "--lambda-weights", "1,2")
    assert res.returncode != 0 and "--lambda-weights wants" in res.stderr and "Traceback" not in res.stderr


def test_export_levels_only_keeps_the_integer_model_but_its_levels(tmp_path, data_dir, random_weights):
    """`mspview export --levels-only`: weights quantized before the sigma levels were calibrated keep
    every integer tensor but the predictors' thresholds and the base levels, so their files decode to
    the same pictures and change in size only; weights without an integer model are refused."""
    from mspview.codec.coder import decode, encode
    from mspview.codec.imageio import LoadedImage
    from mspview.train.export import main as export
    old = load_weights(random_weights)
    with torch.no_grad():  # as if quantized before the calibration: one base level at every lambda
        old.model.exact.base_levels.copy_(old.model.exact.base_index.expand_as(old.model.exact.base_levels))
    from mspview.codec.weights import save_weights
    save_weights(old.model, tmp_path / "old.pt", dict(old.card))
    assert export([str(tmp_path / "old.pt"), str(tmp_path / "new.pt"), "--levels-only",
                   "--calibration", str(data_dir), "--calibration-images", "4"]) == 0
    a, b = torch.load(tmp_path / "old.pt", weights_only=True), torch.load(tmp_path / "new.pt", weights_only=True)
    changed = {k for k in a if not torch.equal(a[k], b[k])}
    assert "exact.base_levels" in changed and changed <= {k for k in a if k.endswith(("thresholds", "base_levels"))}
    new = load_weights(tmp_path / "new.pt")
    image = LoadedImage(noise_image(64, 96, seed=3), "RGB", "RGB")
    rate = old.rate(old.model.config.lambdas[-1])
    files = [encode(lm, image, lm.rate(rate.lam)).data for lm in (load_weights(tmp_path / "old.pt"), new)]
    assert files[0] != files[1] and np.array_equal(decode(load_weights(tmp_path / "old.pt"), files[0]).image,
                                                   decode(new, files[1]).image)
    state = {k: v for k, v in torch.load(random_weights, weights_only=True).items() if not k.startswith("exact.")}
    torch.save(state, tmp_path / "bare.pt")
    (tmp_path / "bare.json").write_text((random_weights.with_suffix(".json")).read_text())
    assert export([str(tmp_path / "bare.pt"), str(tmp_path / "x.pt"), "--levels-only", "--calibration", str(data_dir)]) == 2


def test_a_paused_step_keeps_the_run_budget():
    from mspview.train.loop import RunClock
    clock = RunClock(10.0)
    assert clock.step(12.5) == 2.5
    clock.on_resume()  # SIGCONT: the process was stopped during this step
    assert clock.step(900.0) == 0.0 and clock.skipped == 887.5
    assert clock.step(901.0) == 1.0 and clock.skipped == 0.0  # and later steps count again
    clock.restart(950.0)
    assert clock.step(951.5) == 1.5


def test_the_card_names_each_training_folder_once_in_order(tmp_path, monkeypatch):
    from mspview.train.loop import trained_on
    monkeypatch.chdir(tmp_path)  # where the trainer runs, two levels or more below /
    first = trained_on("", Path.cwd() / "data" / "train", 1365)
    assert first == "data/train (1,365 photos)"
    assert trained_on(first, "data/train", 1365) == first  # resumed on the same folder, given another way
    assert trained_on(first, "data/big", 40) == "data/train (1,365 photos), then data/big (40 photos)"
    assert trained_on("", "/x/y", 2) == "/x/y (2 photos)"  # far from here: where it is
