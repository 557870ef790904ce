"""The exact entropy path: files decode to the same symbols under other arithmetic (threads, oneDNN,
CPU capability, matmul backend, float64 default dtype), in other processes; no float-only routine runs
in it; its fast products equal a plain int64 reference at the worst magnitudes; a committed golden
file decodes to the symbols it was made with."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils._python_dispatch import TorchDispatchMode

from mspview.codec import bitstream, cdf_tables, exact
from mspview.codec.bitstream import VERSION
from mspview.codec.coder import decode, encode
from mspview.codec.errors import BitstreamError
from mspview.codec.imageio import LoadedImage, load_image
from mspview.codec.metrics import psnr_uint8

from conftest import HANG_S, REPO, SAMPLE, noise_image

GOLDEN = Path(__file__).parent / "data" / "golden_v5.msp"
GOLDEN_CARD = GOLDEN.with_suffix(".json")

# A child process that decodes files under one arithmetic and saves each decoded latent.
DECODER = """
import sys, json, numpy as np, torch
settings = json.loads(sys.argv[1])
if settings.get("threads"): torch.set_num_threads(settings["threads"])
if settings.get("mkldnn") is False: torch.backends.mkldnn.enabled = False
if settings.get("float64"): torch.set_default_dtype(torch.float64)
from mspview.codec.coder import decode
from mspview.codec.exact import backend
from mspview.codec.weights import load_weights
lm = load_weights(None if settings.get("model") is None else settings["model"])
for path in sys.argv[2:]:
    dec = decode(lm, open(path, "rb").read())
    np.save(path + "." + settings["name"] + ".npy", dec.y_hat.numpy())
print(backend(lm.model.device))
"""
ARITHMETICS = [
    {"name": "threads1", "threads": 1},
    {"name": "threads2", "threads": 2},
    {"name": "no_onednn", "threads": 2, "mkldnn": False},
    {"name": "float64_default", "threads": 2, "float64": True},
    {"name": "capability_default", "threads": 2, "env": {"ATEN_CPU_CAPABILITY": "default"}},
    {"name": "capability_avx2", "threads": 2, "env": {"ATEN_CPU_CAPABILITY": "avx2"}},
    {"name": "float32_matmul", "threads": 1, "env": {"MSPVIEW_EXACT_BACKEND": "float32"}},
]


@pytest.fixture(scope="module")
def cross_files(tmp_path_factory, shipped_model):
    """1x1, 17x31, a Kodak image (the bundled kodim23: tests need nothing outside the repository) and a
    1920x1080 image, encoded here with 2 threads."""
    torch.set_num_threads(2)
    work = tmp_path_factory.mktemp("cross")
    kodim = np.asarray(Image.open(SAMPLE).convert("RGB"))
    big = np.asarray(Image.open(SAMPLE).convert("RGB").resize((1920, 1080), Image.Resampling.BICUBIC))
    images = {"1x1": noise_image(1, 1, seed=1), "17x31": noise_image(17, 31, seed=2), "kodim23": kodim, "1080p": big}
    files = {}
    for name, rgb in images.items():
        enc = encode(shipped_model, LoadedImage(rgb, "RGB", "RGB"), shipped_model.rate(0.0067))
        path = work / f"{name}.msp"
        path.write_bytes(enc.data)
        files[name] = (path, enc.y_hat.numpy())
    return files


@pytest.mark.slow
@pytest.mark.parametrize("arith", ARITHMETICS, ids=[a["name"] for a in ARITHMETICS])
def test_files_decode_alike_under_other_arithmetic(cross_files, arith):
    """Encoded in this process (2 threads), decoded in another under other arithmetic: every decoded
    latent (hence every symbol and mean) equals the encoder's, bit for bit."""
    settings = {k: v for k, v in arith.items() if k != "env"}
    paths = [str(p) for p, _ in cross_files.values()]
    res = subprocess.run([sys.executable, "-c", DECODER, json.dumps(settings), *paths], capture_output=True,
                         text=True, timeout=HANG_S, cwd=REPO, env={**os.environ, **arith.get("env", {})})
    assert res.returncode == 0, res.stderr[-3000:]
    if arith["name"] == "float32_matmul":
        assert res.stdout.strip().endswith("float32")  # the other backend really ran
    for name, (path, y_hat) in cross_files.items():
        decoded = np.load(f"{path}.{arith['name']}.npy")
        assert np.array_equal(decoded, y_hat), f"{name}: decoded latent differs under {arith['name']}"


FORBIDDEN = ("convolution", "conv2d", "softplus", "log", "exp", "erfc", "erf")


class ForbiddenOps(TorchDispatchMode):
    """Records every aten op whose name says it is a convolution or a transcendental function."""

    def __init__(self):
        super().__init__()
        self.seen: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.__name__.split(".")[0]
        if any(name == f or name.startswith(f + "_") or name in (f"_{f}", f"mkldnn_{f}") for f in FORBIDDEN):
            self.seen.add(name)
        return func(*args, **(kwargs or {}))


def test_no_convolution_or_transcendental_in_the_exact_path(shipped_model):
    """The guard sees the float model's convolutions and softplus; in the exact model's predictions
    (everything that decides a symbol's distribution, here over a whole decoding schedule) it sees none."""
    msp, ex = shipped_model.model.msp, shipped_model.model.exact
    shape = (1, msp.M, 8, 12)
    with torch.no_grad():
        with ForbiddenOps() as guard:
            msp.run(shape, lambda _k, parts: [mu for mu, _, _ in parts])
        assert {"convolution", "softplus"} <= guard.seen or {"mkldnn_convolution", "softplus"} <= guard.seen, guard.seen
        with ForbiddenOps() as guard:
            ex.fill(shape, msp.S, torch.randint(-300, 300, (1, msp.M, 1, 2)))
    assert not guard.seen, f"the exact path called {sorted(guard.seen)}"


@pytest.mark.parametrize("backend", ["int8", "float32"])
def test_products_match_int64_at_worst_magnitudes(backend, monkeypatch):
    """The backends' products of 15-bit operands equal plain int64 arithmetic at the extremes (every
    operand at +-ACT_MAX, the K of the widest layer) and on random operands."""
    if backend == "int8" and not exact.probe_int8(torch.device("cpu")):
        pytest.skip("torch's int8 matmul is not exact on this machine; the float32 backend is used")
    monkeypatch.setitem(exact._BACKENDS, exact._state(torch.device("cpu")), backend)
    k, top = 9 * 449, exact.ACT_MAX
    g = torch.Generator().manual_seed(0)
    cases = [(torch.full((5, k), sa, dtype=torch.int16), torch.full((k, 7), sw, dtype=torch.int16))
             for sa in (top, -top) for sw in (top, -top)]
    cases.append((torch.randint(-top, top + 1, (33, k), generator=g, dtype=torch.int16),
                  torch.randint(-top, top + 1, (k, 40), generator=g, dtype=torch.int16)))
    for a, w in cases:
        got = exact.product(exact.split8(a), exact.split8(w))
        assert torch.equal(got.to(torch.int64), exact.reference_product(a, w))
        assert got.abs().max() < 2 ** 33  # the bound the requantization relies on


def test_scaling_matches_int64_rounding():
    """round(v * m / 2^shift) in float64 equals the int64 computation, at the largest accumulators and
    multipliers, for shifts on both sides of 53, and at exact halves."""
    g = torch.Generator().manual_seed(1)
    v = torch.cat([torch.tensor([2 ** 33 - 1, -(2 ** 33 - 1), 0, 1, -1]),
                   torch.randint(-2 ** 33, 2 ** 33, (2000,), generator=g)]).view(-1, 1)
    m = torch.tensor([2 ** exact.MULT_BITS - 1, 2 ** (exact.MULT_BITS - 1), 12345, 1])
    for shift in (1, 20, 52, 53, 54, 80):
        sh = torch.full_like(m, shift)
        got = exact.Scaling(m, sh)(v.to(torch.float64)).to(torch.int64)
        want = torch.tensor([[(int(a) * int(b) + (1 << (shift - 1))) >> shift for b in m] for a in v.flatten()])
        assert torch.equal(got, want), shift
    halves = exact.Scaling(torch.tensor([1]), torch.tensor([1]))(torch.tensor([[3.0], [-3.0]]))
    assert halves.flatten().tolist() == [2.0, -1.0]  # 1.5 -> 2, -1.5 -> -1: halves up


def test_hostile_symbols_saturate_inputs(shipped_model):
    """The largest symbols a crafted file can hold keep every predictor input within its 15 bits."""
    ex = shipped_model.model.exact
    y_fx = torch.full((1, ex.M, 3, 3), 32767 << exact.MU_FRAC_BITS) + exact.MU_LIMIT
    x = ex.quantize_inputs(torch.cat([y_fx, -y_fx], 1), torch.cat([torch.arange(ex.M)] * 2))
    assert x.abs().max() == exact.ACT_MAX
    out = ex.fill((1, ex.M, 6, 6), 1, y_fx)
    assert out.abs().max() <= (32767 << exact.MU_FRAC_BITS) + exact.MU_LIMIT


def test_coder_tables_are_the_derived_integers():
    """The shipped integer CDFs are what decimal arithmetic derives; per-stream weights sum to the range
    coder's free weight (so its model is exactly these integers) and give every symbol a nonzero weight."""
    assert np.array_equal(cdf_tables.pack(cdf_tables.derive()), np.load(cdf_tables.CDF_FILE))
    for level, lo, hi in ((0, -1, 1), (20, -40, 3), (63, -2000, 2000), (5, 100, 300)):
        w = cdf_tables.coder_weights(level, lo, hi)
        assert w.sum() == (1 << cdf_tables.CODER_BITS) - w.size and (w >= 0).all()
        assert cdf_tables.masses(level, lo, hi).sum() == 1 << cdf_tables.CDF_BITS


def golden_digest(dec) -> str:
    return hashlib.sha256(dec.y_hat.numpy().tobytes()).hexdigest()


def test_golden_file_decodes_to_its_symbols(shipped_model):
    """A committed v5 file (kodim23 crop, lambda 0.0067, shipped weights) decodes to the latent whose
    SHA-256 was recorded when it was made, and encoding the same crop gives the same bytes: an upgrade
    of torch, NumPy or constriction that changed either is caught here. Its picture has the PSNR recorded
    then (fp32; within the bf16 synthesis' bound where that runs): the synthesis is pinned too. After an
    intended format or weights change: python tests/test_exact.py --write-golden."""
    card = json.loads(GOLDEN_CARD.read_text())
    assert card["version"] == VERSION and card["weights"] == shipped_model.sha256
    data = GOLDEN.read_bytes()
    dec = decode(shipped_model, data)
    assert golden_digest(dec) == card["latent_sha256"]
    assert abs(psnr_uint8(dec.image, golden_image().rgb) - card["psnr_db"]) < 0.02
    assert encode(shipped_model, golden_image(), shipped_model.rate(card["lambda"])).data == data


def golden_image() -> LoadedImage:
    img = load_image(SAMPLE)
    return LoadedImage(np.ascontiguousarray(img.rgb[128:256, 256:448]), "RGB", "RGB")


@pytest.mark.slow
def test_v4_files_are_refused_with_the_version_that_reads_them():
    data = bytearray(GOLDEN.read_bytes())
    data[4] = 4
    with pytest.raises(BitstreamError, match=r"version 4.*mspview 0\.1\.0 reads it"):
        bitstream.read(bytes(data))


if __name__ == "__main__" and sys.argv[1:] == ["--write-golden"]:
    from mspview.codec.weights import load_weights
    lm = load_weights(precision="fp32")
    lam = 0.0067
    enc = encode(lm, golden_image(), lm.rate(lam))
    dec = decode(lm, enc.data)
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_bytes(enc.data)
    card = {"version": VERSION, "weights": lm.sha256, "lambda": lam, "image": "kodim23 rows 128:256, cols 256:448",
            "latent_sha256": golden_digest(dec), "psnr_db": round(psnr_uint8(dec.image, golden_image().rgb), 4)}
    GOLDEN_CARD.write_text(json.dumps(card, indent=2) + "\n")
    print(f"{GOLDEN}: {len(enc.data)} bytes; {card['latent_sha256'][:16]}")


@pytest.mark.slow
def test_cross_device_script_dry_run():
    """benchmarks/cross_device.py, as a GPU machine would run it, on the CPU arithmetics: one image."""
    res = subprocess.run([sys.executable, str(REPO / "benchmarks" / "cross_device.py"), "--images", str(SAMPLE.parent),
                          "--cpu-only"],
                         capture_output=True, text=True, timeout=HANG_S, cwd=REPO)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    lines = [line for line in res.stdout.splitlines() if "decoded under" in line]
    assert len(lines) == 4 and all(": 0 of 1 differ" in line for line in lines)
    assert res.stdout.strip().endswith("s") and "0 failures" in res.stdout


def _symbols_of_level(level: int, n: int) -> np.ndarray:
    """n symbols distributed as the coder's table of `level` codes them (expected counts)."""
    from mspview.codec.entropy import bits_table
    _, table = bits_table()
    return np.round(n * 2.0 ** -table[level]).astype(np.int64)


def test_a_level_map_sends_each_level_to_the_table_its_symbols_fit():
    """Symbols counted at level 3 that are distributed as level 10's table, at 40 as 35's, at 20 as its
    own: the map sends 3 -> 10, 40 -> 35, keeps 20, and every level never seen stays where it was unless
    the map must stay monotone."""
    from mspview.codec.exact_export import level_map
    counts = np.zeros((64, _symbols_of_level(0, 1).size), np.int64)
    counts[3], counts[20], counts[40] = (_symbols_of_level(j, 10 ** 6) for j in (10, 20, 35))
    expected = np.arange(64)
    expected[3:10], expected[36:41] = 10, 35
    assert np.array_equal(level_map(counts), expected)


def test_a_folded_level_map_moves_every_accumulator_to_its_mapped_level(random_model):
    """Folded into a predictor's thresholds, a monotone map f gives f[level] for every raw accumulator,
    also where f lifts level 0 or never reaches the top level."""
    import copy
    from mspview.codec.exact_export import apply_level_map
    rng = np.random.default_rng(5)
    for f in (np.sort(rng.integers(0, 64, 64)), np.sort(rng.integers(3, 50, 64)), np.arange(64)):
        q = copy.deepcopy(random_model.model.exact.step_a[0])
        t = q.thresholds.clone()
        acc = torch.cat([t[:, ::4] - 1, t[:, ::4], t[:, ::4] + 1, torch.randint(-2 ** 40, 2 ** 40, (t.shape[0], 40))], 1)
        before = torch.searchsorted(t, acc, right=True)
        apply_level_map(q, f)
        assert torch.equal(torch.searchsorted(q.thresholds, acc, right=True), torch.as_tensor(f)[before])


def test_recalibrated_levels_code_the_same_symbols_in_no_more_bits(random_model):
    """What the recalibration is for: on the latents it was fitted to, every predictor codes the same
    symbols, in fewer bits or as many (the map is the cheapest monotone one, and the identity is one)."""
    import copy
    from mspview.codec.entropy import bits_table
    from mspview.codec.exact_export import level_counts, recalibrate_levels
    model = copy.deepcopy(random_model.model)
    with torch.no_grad():
        model.exact.step_b[1].thresholds.sub_(2 ** 8)  # a predictor made unsure: there is something to mend
        latents = [model.g_a(torch.from_numpy(noise_image(64, 80, seed=s)).permute(2, 0, 1)[None].float() / 255)
                   * model.gain.gain(lam) for s in range(3) for lam in model.config.lambdas[::2]]
    _, table = bits_table()
    bits = lambda counts: sum(float((c * table).sum()) for c in counts.values())  # noqa: E731
    before = level_counts(model.exact, latents)
    recalibrate_levels(model.exact, latents)
    after = level_counts(model.exact, latents)
    assert before.keys() == after.keys() and all(np.array_equal(before[k].sum(0), after[k].sum(0)) for k in before)
    assert bits(after) < bits(before)


def test_the_base_is_coded_with_the_levels_of_its_rates_row(random_model):
    """Each rate codes the base with its own row of levels: a trained lambda its row, one between two
    the nearer one's; the rows differ (the gained latent's spread grows with lambda)."""
    from mspview.codec.coder import analyse, quantize_latent
    lm, rgb = random_model, noise_image(64, 64, seed=7)
    levels = lm.model.exact.base_levels
    assert not torch.equal(levels[0], levels[-1])
    for lam, row in ((lm.model.config.lambdas[0], 0), (lm.model.config.lambdas[-1], len(levels) - 1),
                     (0.98 * lm.model.config.lambdas[1], 1)):
        rate = lm.rate(lam)
        base = [idx for key, _, idx in quantize_latent(lm, analyse(lm, rgb, rate), rate).steps if key.step == 0]
        assert rate.row == row and np.array_equal(base[0].reshape(lm.model.config.M, -1)[:, 0], levels[row].numpy())


def test_base_levels_fit_the_spread_of_each_channel_at_each_rate(random_model):
    """A channel of spread s, gained by g at a row, gets the level of a Gaussian of spread s * g (one
    level either way: the table's sigmas are a grid) wherever that is inside the table."""
    import copy
    from mspview.codec.entropy import SCALE_TABLE, sigma_index
    from mspview.codec.exact_export import calibrate_base
    exact, gains = copy.deepcopy(random_model.model.exact), random_model.model.gain
    exact.base_mu.zero_()
    torch.manual_seed(0)
    spread = torch.logspace(-1.5, 0.5, exact.M)
    calibrate_base(exact, [torch.randn(1, exact.M, 64, 64) * spread.view(1, -1, 1, 1)], gains)
    for row, lam in enumerate(gains.lambdas):
        sigma = (spread * gains.gain(lam).flatten()).detach()
        inside = (sigma > 0.5) & (sigma < 0.5 * SCALE_TABLE[-1])
        want = sigma_index(sigma).long()
        assert inside.sum() > 4 and (exact.base_levels[row].long() - want)[inside].abs().max() <= 1


def test_weights_from_before_per_rate_base_levels_code_the_base_with_its_one_level(random_weights, tmp_path):
    import shutil
    from mspview.codec.weights import card_path, load_weights
    state = torch.load(random_weights, weights_only=True)
    del state["exact.base_levels"]
    old = tmp_path / "old.pt"
    torch.save(state, old)
    shutil.copy(card_path(random_weights), card_path(old))
    exact_model = load_weights(old).model.exact
    assert torch.equal(exact_model.base_levels, exact_model.base_index.expand_as(exact_model.base_levels))
