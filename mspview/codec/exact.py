"""The exact entropy path: the MSP model in integer arithmetic, so that a .msp file decodes to the same
symbols on every CPU kind, thread count, BLAS/oneDNN path and GPU.

Everything that decides a symbol's distribution is an integer: the predictors' weights, biases and
activations are 15-bit, their sums exact, their requantization round(v * m / 2^shift) with integer m and
shift (integer arithmetic, evaluated in float64 where every intermediate is exactly representable), the
mean mu a fixed-point number (units of 2^-MU_FRAC_BITS), the scale an index 0..63 found by comparing the
output with integer thresholds. No convolution routine, softplus, log, exp or erfc runs here (tests hold
that with a dispatch guard): convolutions are im2col + an exact integer matrix product.
Only the synthesis transform runs in float (reconstructions may differ in a last bit between devices;
symbols never).

Why 15 bits: with 8-bit weights and activations the quantized predictors cost +17 % rate at the lowest
lambda on Kodak (+3 % at 0.0067): small latents near sigma's floor, where the model's raw output is far
negative, turn small errors into other sigma levels. 12 bits cost +0.4 %, 15 bits nothing measurable.

The integers are quantized from the float model (msp.py) by `exact_export.quantize_from_float` after training, with
activation ranges measured on calibration latents, and stored as integer tensors in the weights file
(covered by its SHA-256, so a file names the exact model it needs). Cool-chic's fixed-point ARM
(armint.py) and JPEG AI's integer sigma network do the same for the same reason.
"""
from __future__ import annotations

import hashlib
import os
import struct
import time

import torch
from torch import nn

from .cdf_tables import SIGMA_LEVELS
from .errors import ArithmeticFault
from .msp import STEP_A, STEP_B, Resolve, predictor_inputs, walk

ACT_MAX = 2 ** 14 - 1  # weights, inputs and hidden activations: |v| <= 16383, held as int16
MU_FRAC_BITS = 6  # mu (and y_hat = symbol + mu) in units of 2^-6: exact in float32 for any symbol
MU_LIMIT = 2 ** 15 - 1  # |mu| <= 512 in units of 2^-6
MULT_BITS = 19  # requantization: round(acc * m / 2^shift) with m in [2^18, 2^19)
IN_MULT_BITS = 30  # input quantizer: round(y_hat_fx * a / 2^shift) with a in [2^29, 2^30)
BIAS_LIMIT = 2 ** 32
LEAK = 0.1  # the float model's LeakyReLU slope, folded into the multiplier of negative accumulators
# Every value below is an integer, and every intermediate exactly representable in float64, which
# computes it as int64 would (a test runs both; float64 because torch's int64 elementwise kernels are
# 8x slower here): an accumulator is at most K (2^20 + 2^14) + BIAS_LIMIT < 2^33 for K <= 4041 (9 x 449
# inputs); times a multiplier < 2^19 it stays below 2^52; y_hat_fx < 2^22 times an input multiplier
# < 2^30 too (Scaling).
FLOAT32_CHUNK = 2047  # float32 sums of products of 8-bit halves (|p| <= 2^13) stay below 2^24
BAND_BYTES = 64 * 2 ** 20  # im2col bytes per band of grid rows (large images)


# ----------------------------------------------------------------------------------------- arithmetic
def split8(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """v (|v| <= 16383) = hi * 256 + lo with hi in [-64, 64] and lo in [-128, 127], both int8."""
    lo = ((v + 128) & 255) - 128  # int16 holds v + 128
    return ((v - lo) >> 8).to(torch.int8), lo.to(torch.int8)


# The product of two 15-bit operands, as this model defines it: with a = a_hi 256 + a_lo and
# w = w_hi 256 + w_lo (split8), (a . w - a_lo . w_lo) / 256, that is
#     a_hi . w_hi 256 + a_hi . w_lo + a_lo . w_hi,
# three products of 8-bit halves (the dropped low-by-low term is below 2^-12 of a full product: it
# bought nothing measurable and cost a quarter of the time). Each backend computes these integers exactly.
def _int8_product(a: tuple, w: tuple) -> torch.Tensor:
    """torch's int8 matmul (int32 sums: K * 2^14 < 2^31), combined in float64."""
    (a_hi, a_lo), (w_hi, w_lo) = (tuple(t.contiguous() for t in pair) for pair in (a, w))
    mm = torch._int_mm
    return mm(a_hi, w_hi).to(torch.float64).mul_(256).add_(mm(a_hi, w_lo).add_(mm(a_lo, w_hi)))


def _float32_product(a: tuple, w: tuple) -> torch.Tensor:
    """float32 matmuls in chunks of FLOAT32_CHUNK inputs: every product and partial sum an integer
    below 2^24, so exact on any float32 matmul (BLAS, cuBLAS; TF32 and bf16 modes hold 8-bit values
    exactly too). Chunks add in float64."""
    (a_hi, a_lo), (w_hi, w_lo) = a, w
    out = None
    for start in range(0, a_hi.shape[1], FLOAT32_CHUNK):
        part = slice(start, start + FLOAT32_CHUNK)
        mm = lambda x, y: (x[:, part].float() @ y[part].float()).to(torch.float64)  # noqa: E731
        chunk = mm(a_hi, w_hi).mul_(256).add_(mm(a_hi, w_lo).add_(mm(a_lo, w_hi)))
        out = chunk if out is None else out.add_(chunk)
    return out


def reference_product(a: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The same product in plain int64 arithmetic (the tests' reference)."""
    (a_hi, a_lo), (w_hi, w_lo) = split8(a), split8(w)
    mm = lambda x, y: x.to(torch.int64) @ y.to(torch.int64)  # noqa: E731
    return (mm(a_hi, w_hi) << 8) + mm(a_hi, w_lo) + mm(a_lo, w_hi)


_PRODUCTS = {"int8": _int8_product, "float32": _float32_product}
# The verdict per (device type, oneDNN on): the flag picks _int_mm's CPU kernel (without VNNI, oneDNN's
# saturates 16-bit pair sums; torch's own fallback is exact but 27x slower), so a verdict reached under
# one setting says nothing of the other.
_BACKENDS: dict[tuple[str, bool], str] = {}


def _probe_cases(scale: int = 1, quick: bool = False) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Extreme operands, where a kernel that saturates 16-bit pair sums (u8 x s8 without VNNI may) is
    caught, and random ones; `quick`: the extremes of the halves' signs at one K."""
    g = torch.Generator().manual_seed(5)
    cases = []
    extremes = (ACT_MAX, -ACT_MAX) if quick else (ACT_MAX, -ACT_MAX, 127, -128)
    for k in (1161,) if quick else (4048, 1161):
        for sa in extremes:
            for sw in extremes:
                cases.append((torch.full((64, k), sa, dtype=torch.int16), torch.full((k, 136), sw, dtype=torch.int16)))
        rand = lambda *s: torch.randint(-ACT_MAX, ACT_MAX + 1, s, generator=g, dtype=torch.int16)  # noqa: E731
        cases.append((rand(200 * scale, k), rand(k, 128)))
    return cases


def exact_here(name: str, device: torch.device, quick: bool = False) -> bool:
    """Whether backend `name` computes the model's products exactly here, now (against float32 for
    int8, against int64 for float32, whose exactness rests on its chunking alone)."""
    if name == "int8" and (device.type != "cpu" or not hasattr(torch, "_int_mm")):
        return False
    # float32 is exact by its chunking; one random case against int64 checks the chunking itself
    cases = _probe_cases(quick=quick) if name == "int8" else _probe_cases(quick=True)[-1:]
    try:
        for a, w in cases:
            a, w = a.to(device), w.to(device)
            got = _PRODUCTS[name](split8(a), split8(w))
            want = _float32_product(split8(a), split8(w)) if name == "int8" else reference_product(a, w)
            if not torch.equal(got.to(torch.int64), want.to(torch.int64)):
                return False
        return True
    except (RuntimeError, NotImplementedError):
        return False


def probe_int8(device: torch.device) -> bool:
    """Whether torch's int8 matmul is exact here, under the current oneDNN setting."""
    return exact_here("int8", device)


def _faster(device: torch.device) -> str:
    """int8 or float32, whichever multiplies a predictor-sized problem faster here (both exact)."""
    a, w = (split8(t.to(device)) for t in _probe_cases(scale=10)[-1])
    best = {}
    for name in ("int8", "float32"):
        _PRODUCTS[name](a, w)  # warm-up
        t = time.perf_counter()
        _PRODUCTS[name](a, w)
        best[name] = time.perf_counter() - t
    return min(best, key=best.get)


def _state(device: torch.device) -> tuple[str, bool]:
    return device.type, device.type == "cpu" and torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled


def backend(device: torch.device) -> str:
    """The exact matmul this device uses now: "int8" where the probe passes under the current oneDNN
    setting and it is the faster, else "float32" (the same integers either way). MSPVIEW_EXACT_BACKEND
    forces one, and is refused where that one is not exact."""
    key = _state(device)
    if key not in _BACKENDS:
        forced = os.environ.get("MSPVIEW_EXACT_BACKEND")
        if forced not in (None, "", *_PRODUCTS):
            raise ArithmeticFault(f"MSPVIEW_EXACT_BACKEND must be one of {', '.join(_PRODUCTS)}, not {forced!r}")
        if forced and not exact_here(forced, device):
            raise ArithmeticFault(f"MSPVIEW_EXACT_BACKEND={forced}: that product is not exact on this "
                                   f"{device.type} (it would write files that decode nowhere); unset it")
        _BACKENDS[key] = forced or ("int8" if probe_int8(device) and _faster(device) == "int8" else "float32")
    return _BACKENDS[key]


def verify_arithmetic(device: torch.device) -> None:
    """Raise ArithmeticFault unless the backend in use is exact here now: an encoder calls this before
    writing a file, a decoder when a stream fails its CRC (to tell bad arithmetic from a damaged file)."""
    name = backend(device)
    if not exact_here(name, device, quick=True):
        _BACKENDS.pop(_state(device), None)
        raise ArithmeticFault(f"this machine's {name} matrix product is not exact under the current torch "
                               f"settings, so its symbol distributions differ from every other machine's; "
                               f"the file is not at fault (set MSPVIEW_EXACT_BACKEND=float32 and retry)")


def product(a: tuple, w: tuple) -> torch.Tensor:
    """The model's product of split8 halves (N x K and K x M) -> N x M integers in float64."""
    return _PRODUCTS[backend(a[0].device)](a, w)


class Scaling:
    """round(v * m / 2^shift), halves up, of integers v held in float64, with per-channel integers m and
    shift, as floor(v * r + 1/2) with r = m 2^-shift (exact in float64): v * m < 2^53, so v * r is exact,
    and so is adding 1/2 (v * r + 1/2 is a multiple of 2^-shift below 2^(53 - shift), or, for shift > 52,
    in (0, 1) and floored to 0 either way). The constants are made once per device."""

    def __init__(self, mult: torch.Tensor, shift: torch.Tensor):
        self.ratio = torch.ldexp(mult.to(torch.float64), -shift)

    def __call__(self, v: torch.Tensor, ratio: torch.Tensor | None = None) -> torch.Tensor:
        return torch.floor_((v * (self.ratio if ratio is None else ratio)).add_(0.5))


def im2col3(x: torch.Tensor) -> torch.Tensor:
    """h x w x c -> (h*w) x (9*c): the 3x3 neighbourhoods (zero padding), tap-major."""
    h, w, c = x.shape
    xp = x.new_zeros(h + 2, w + 2, c)
    xp[1:-1, 1:-1] = x
    s0, s1, s2 = xp.stride()
    # a copy, never a view: for w == 1 reshape could return overlapping rows, which int8 matmul misreads
    return xp.as_strided((h, w, 3, 3, c), (s0, s1, s0, s1, s2)).contiguous().view(h * w, 9 * c)


def split_cols(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """split8, then im2col3 of each half (8-bit copies of 9x fewer values than splitting the columns)."""
    return tuple(im2col3(t) for t in split8(x))


class IntLayer(nn.Module):
    """One integer layer: accumulator = x . weight + bias (exact); hidden layers then requantize to
    15 bits, LeakyReLU folded into the multiplier of negative accumulators."""

    def __init__(self, k: int, cout: int, hidden: bool):
        super().__init__()
        self.register_buffer("weight", torch.zeros(k, cout, dtype=torch.int16))  # rows tap-major
        self.register_buffer("bias", torch.zeros(cout, dtype=torch.int64))  # |bias| <= BIAS_LIMIT
        if hidden:
            self.register_buffer("mult_pos", torch.zeros(cout, dtype=torch.int64))
            self.register_buffer("mult_neg", torch.zeros(cout, dtype=torch.int64))
            self.register_buffer("shift", torch.ones(cout, dtype=torch.int64))
        self._derived: dict = {}  # per device: split weights, float64 constants

    def _load_from_state_dict(self, *args, **kwargs):
        self._derived = {}
        super()._load_from_state_dict(*args, **kwargs)

    def consts(self, device: torch.device) -> dict:
        if device not in self._derived:
            d = {"weight": split8(self.weight), "bias": self.bias.to(torch.float64)}
            if hasattr(self, "mult_pos"):
                d["scale"], d["ratio_neg"] = Scaling(self.mult_pos, self.shift), Scaling(self.mult_neg, self.shift).ratio
            self._derived[device] = d
        return self._derived[device]

    def accumulate(self, x: torch.Tensor) -> torch.Tensor:
        """A 3x3 layer on x (h x w x c): the accumulators, (h*w) x cout integers in float64."""
        consts = self.consts(x.device)
        return product(split_cols(x), consts["weight"]).add_(consts["bias"])

    def accumulate_transposed(self, x: torch.Tensor) -> torch.Tensor:
        """A 1x1 layer on positions x c inputs: accumulators as cout x positions."""
        consts = self.consts(x.device)
        if "weight_t" not in consts:
            consts["weight_t"], consts["bias_t"] = split8(self.weight.t().contiguous()), consts["bias"].view(-1, 1)
        return product(consts["weight_t"], tuple(t.t().contiguous() for t in split8(x))).add_(consts["bias_t"])

    def requantize(self, acc: torch.Tensor) -> torch.Tensor:
        """round(acc * m / 2^shift), m the negative side's for negative accumulators (LeakyReLU)."""
        consts = self.consts(acc.device)
        scale = consts["scale"]
        return scale(acc, torch.where(acc < 0, consts["ratio_neg"], scale.ratio)).clamp_(-ACT_MAX, ACT_MAX).to(torch.int16)


class IntPredictor(nn.Module):
    """A predictor (3x3 -> 3x3 -> 1x1) in integers: 15-bit inputs in, (mu fixed point, sigma index) per
    output part out. Its first layer's inputs are the context every group of its step shares (the
    coarser scale, for step B also p11, and the scale plane) and the groups decoded before it: ExactMSP
    computes the shared part for all groups of a step at once."""

    def __init__(self, cin: int, hidden: int, parts: int, c: int):
        super().__init__()
        self.cin, self.parts, self.c = cin, parts, c
        self.l1 = IntLayer(9 * cin, hidden, True)
        self.l2 = IntLayer(9 * hidden, hidden, True)
        self.l3 = IntLayer(hidden, 2 * parts * c, False)
        self.register_buffer("mu_mult", torch.zeros(parts * c, dtype=torch.int64))
        self.register_buffer("mu_shift", torch.ones(parts * c, dtype=torch.int64))
        self.register_buffer("thresholds", torch.zeros(parts * c, SIGMA_LEVELS - 1, dtype=torch.int64))
        self._mu: dict = {}  # per device: the Scaling of mu

    def _load_from_state_dict(self, *args, **kwargs):
        self._mu = {}
        super()._load_from_state_dict(*args, **kwargs)

    def l1_rows(self, shared: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The first layer's weight rows for the shared context (its first `shared` channels and the
        plane, the last) and for the rest, both tap-major."""
        ch = torch.arange(self.cin)
        is_shared = (ch < shared) | (ch == self.cin - 1)
        rows = torch.arange(9 * self.cin).view(9, self.cin)
        return rows[:, is_shared].reshape(-1), rows[:, ~is_shared].reshape(-1)

    def forward(self, acc1: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """First-layer accumulators (bias included) of h x w positions -> last-layer accumulators,
        channels x positions."""
        a = self.l1.requantize(acc1)
        a = self.l2.requantize(self.l2.accumulate(a.view(h, w, -1)))
        return self.l3.accumulate_transposed(a)

    def outputs(self, acc3: torch.Tensor, h: int, w: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Last-layer accumulators (channels x positions) -> per part (mu_fx, sigma index), each
        1 x c x h x w int64."""
        if acc3.device not in self._mu:
            self._mu[acc3.device] = Scaling(self.mu_mult.view(-1, 1), self.mu_shift.view(-1, 1))
        acc = acc3.view(self.parts, 2, self.c, h * w)
        mu_fx = self._mu[acc3.device](acc[:, 0].reshape(-1, h * w)).clamp_(-MU_LIMIT, MU_LIMIT).to(torch.int64)
        # the sigma level: how many of its channel's thresholds the raw accumulator reaches
        idx = torch.searchsorted(self.thresholds, acc[:, 1].reshape(-1, h * w).to(torch.int64), right=True).to(torch.uint8)
        return [tuple(t[p * self.c:(p + 1) * self.c].view(1, self.c, h, w) for t in (mu_fx, idx))
                for p in range(self.parts)]


class ExactMSP(nn.Module):
    """The MSP model's integer twin: the base distribution, the per-channel input quantizer and one
    IntPredictor per step and group. `ready` is 0 until `exact_export.quantize_from_float` has filled it."""

    def __init__(self, channels: int, num_scales: int, groups: int, hidden: int, rates: int):
        super().__init__()
        self.M, self.S, self.G, self.C, self.H = channels, num_scales, groups, channels // groups, hidden
        self.register_buffer("ready", torch.zeros((), dtype=torch.uint8))
        # the fingerprint of the float model these integers were quantized from (all 0: weights written
        # before fingerprints, not checked); a file whose float model has changed since is refused
        self.register_buffer("source", torch.zeros(4, dtype=torch.int64))
        self.register_buffer("base_mu", torch.zeros(channels, dtype=torch.int64))
        self.register_buffer("base_index", torch.zeros(channels, dtype=torch.uint8))
        # the base's levels per trained lambda (rows; RatePoint.row picks one): the gained latent's spread
        # grows with lambda, which one float sigma per channel cannot follow (exact_export.calibrate_base)
        self.register_buffer("base_levels", torch.zeros(rates, channels, dtype=torch.uint8))
        self.register_buffer("in_mult", torch.zeros(channels, dtype=torch.int64))
        self.register_buffer("in_shift", torch.ones(channels, dtype=torch.int64))
        self.step_a = nn.ModuleList(IntPredictor(predictor_inputs(channels, groups, STEP_A, g), hidden, 1, self.C)
                                    for g in range(groups))
        self.step_b = nn.ModuleList(IntPredictor(predictor_inputs(channels, groups, STEP_B, g), hidden, 2, self.C)
                                    for g in range(groups))
        self._weights: dict = {}  # per (device, step): the shared part's weights of all groups; each group's rest

    def _load_from_state_dict(self, *args, **kwargs):
        self._weights = {}
        super()._load_from_state_dict(*args, **kwargs)

    def shared_channels(self, step: int) -> int:
        """Context channels every group of a step sees: the coarser scale, and for step B also p11."""
        return self.M if step == STEP_A else 2 * self.M

    def input_channels(self, step: int, g: int) -> torch.Tensor:
        """The latent channel behind each context channel of a predictor (the plane excluded)."""
        m, gc = torch.arange(self.M), torch.arange(g * self.C)
        return torch.cat([m, gc] if step == STEP_A else [m, m, gc, gc])

    def plane_unit(self) -> int:
        """The scale plane's integer per scale index: s/S is s * unit with the scale 1/(S * unit), as large
        as the inputs allow (a plane of 0, 1, 2 would dominate its weights' range, and so their precision)."""
        return ACT_MAX // self.S

    def quantize_inputs(self, y_fx: torch.Tensor, latent_channels: torch.Tensor) -> torch.Tensor:
        """Fixed-point y_hat (1 x c x h x w int64) -> 15-bit predictor inputs (h x w x c), saturated: a
        crafted file's largest symbols cannot leave the bounds."""
        c = latent_channels.to(y_fx.device)
        a, sh = (t[c].view(1, -1, 1, 1) for t in (self.in_mult, self.in_shift))
        x = Scaling(a, sh)(y_fx.to(torch.float64)).clamp_(-ACT_MAX, ACT_MAX).to(torch.int16)
        return x[0].permute(1, 2, 0)

    def _step_weights(self, step: int, device: torch.device) -> tuple:
        key = (device, step)
        if key not in self._weights:
            nets = self.step_a if step == STEP_A else self.step_b
            parts = [net.l1_rows(self.shared_channels(step)) for net in nets]
            shared = torch.cat([net.l1.weight[rows] for net, (rows, _) in zip(nets, parts)], 1)
            rest = [split8(net.l1.weight[rows]) if rows.numel() else None for net, (_, rows) in zip(nets, parts)]
            self._weights[key] = split8(shared), rest
        return self._weights[key]

    def _predict(self, step: int, g: int, s: int, ctx: list[torch.Tensor], shared: dict):
        """One group's prediction; `shared` (one decode's, not the model's) carries the first-layer
        accumulators of the context all groups of a step share, made at group 0."""
        n = 1 if step == STEP_A else 2  # ctx: the shared tensors, then what this step decoded before g
        channels = self.input_channels(step, g)
        shared_w, rest_w = self._step_weights(step, ctx[0].device)
        _, _, h, w = ctx[0].shape
        rows = max(1, BAND_BYTES // max(1, 2 * 9 * predictor_inputs(self.M, self.G, step, self.G - 1) * w))
        bands = [(a, min(h, a + rows)) for a in range(0, h, rows)]
        if g == 0:  # the shared context's first-layer accumulators, for every group of this step
            x = self.quantize_inputs(torch.cat(ctx[:n], 1), channels[:self.shared_channels(step)])
            x = torch.cat([x, torch.full_like(x[..., :1], s * self.plane_unit())], -1)
            shared["acc"] = torch.empty(h * w, self.G * self.H, dtype=torch.float64, device=x.device)
            for a, b in bands:
                a0, b0 = max(0, a - 1), min(h, b + 1)  # a 3x3 layer needs one row of context
                shared["acc"][a * w: b * w] = product(split_cols(x[a0:b0]), shared_w)[(a - a0) * w:(b - a0) * w]
        net = (self.step_a if step == STEP_A else self.step_b)[g]
        rest = self.quantize_inputs(torch.cat(ctx[n:], 1), channels[self.shared_channels(step):]) if g else None
        bias = net.l1.consts(ctx[0].device)["bias"]
        acc3 = torch.empty(net.l3.weight.shape[1], h * w, dtype=torch.float64, device=ctx[0].device)
        for a, b in bands:  # a 2-row halo: the two 3x3 layers see what they would on the whole grid
            a0, b0 = max(0, a - 2), min(h, b + 2)
            acc1 = shared["acc"][a0 * w: b0 * w, g * self.H:(g + 1) * self.H] + bias
            if rest is not None:
                acc1 += product(split_cols(rest[a0:b0]), rest_w[g])
            acc3[:, a * w: b * w] = net(acc1, b0 - a0, w)[:, (a - a0) * w:(b - a0) * w]
        return net.outputs(acc3, h, w)

    def run(self, shape: tuple[int, int, int, int], resolve: Resolve, target: torch.Tensor | None = None,
            on_scale=None, start: tuple[int, torch.Tensor] | None = None, stop: int = 0, row: int = 0) -> torch.Tensor:
        """The schedule of msp.walk with integer predictions: resolve gets (mu_fx, sigma index, target)
        parts and returns y_hat in fixed point (symbol * 2^MU_FRAC_BITS + mu_fx, int64). `row`: the
        rate's row of the base levels (`RatePoint.row`)."""
        shared: dict = {}

        def predict(step, g, s, ctx):
            return self._predict(step, g, s, ctx, shared)

        return walk(self.S, self.G, shape, (self.base_mu, self.base_levels[row]), predict, resolve, target, on_scale,
                    start, stop)

    def fill(self, shape: tuple[int, int, int, int], scale: int, y_fx: torch.Tensor, stop: int = 0) -> torch.Tensor:
        """The latent from its scales down to `scale`: every finer position down to scale `stop` (0: the
        whole latent) at its predicted mean, scale by scale (the best estimate before its bits are read)."""
        return self.run(shape, lambda _key, parts: [mu for mu, _, _ in parts], start=(scale, y_fx), stop=stop)


def to_float(y_fx: torch.Tensor) -> torch.Tensor:
    """Fixed-point y_hat as float32 (exact: |y_fx| < 2^22)."""
    return y_fx.to(torch.float32) / (1 << MU_FRAC_BITS)


# ----------------------------------------------------------------------------------------- quantization


def fingerprint(float_msp: nn.Module) -> torch.Tensor:
    """SHA-256 of the float MSP model as a weights file stores it (fp16), as 4 int64."""
    h = hashlib.sha256()
    for name, v in sorted(float_msp.state_dict().items()):
        h.update(name.encode())
        h.update(v.detach().cpu().to(torch.float16 if v.is_floating_point() else v.dtype).contiguous().numpy().tobytes())
    return torch.tensor(list(struct.unpack("<4q", h.digest())), dtype=torch.int64)


def stale(exact: "ExactMSP", float_msp: nn.Module) -> bool:
    """Whether the integer model was quantized from another float model than this one."""
    return bool(exact.source.any()) and not torch.equal(exact.source.cpu(), fingerprint(float_msp))
