"""Latent overfitting (LOF) with a greedy search, and running an encode profile.

LOF optimises the gained latent y of one image, with the synthesis and the MSP model frozen, to
minimise R + lambda * 255^2 * D. Iterations use a surrogate (uniform noise for the rate, straight-
through rounding for the synthesis) and Adam with a cosine-decaying step. The greedy search (ours;
the paper's is not public): every `check_every` iterations the true cost is measured with hard
rounding and the real MSP rate, the best latent seen so far is kept, the step is halved when the
true cost stops falling, and the search stops after `patience` checks without improvement. An
optional final pass flips the rounding of the most ambiguous elements, step group by step group,
keeping a flip only when the true cost falls. The result is never worse than the analysis latent:
both are written as real files at the end and the cheaper one is returned.
"""
from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .coder import STRIDE, EncodedImage, analyse, encode, group_slice, quantize_latent, synthesize
from .imageio import LoadedImage
from .metrics import PEAK, mse_uint8, psnr, psnr_uint8, rd_cost
from .model import autocast_for, fast_bf16
from .layout import part_grid, schedule
from .profiles import Profile
from .rate import RatePoint
from .transforms import activation_bytes_per_row, pixels_tensor, row_bands, with_halo
from .weights import LoadedModel


@dataclass
class LOFEvent:
    """One progress report. kind: "iter" (surrogate values), "check" (true cost), "greedy" (a rounding pass)."""
    kind: str
    iteration: int
    total: int
    bpp: float
    psnr: float
    cost: float
    best_cost: float
    elapsed: float
    remaining: float
    lr: float  # the step size of an iteration's check; 0 where none was taken


@dataclass
class ProfileResult:
    encoded: EncodedImage
    psnr: float
    cost: float
    iterations: int
    cancelled: bool
    events: list[LOFEvent]


class _TrueCost:
    """Hard-rounded rate from the exact MSP model and the distortion of the 8-bit reconstruction."""

    def __init__(self, lm: LoadedModel, image: LoadedImage, rate: RatePoint):
        self.lm, self.image, self.rate = lm, image, rate
        self.pixels = image.width * image.height

    def __call__(self, y: torch.Tensor):
        q = quantize_latent(self.lm, y, self.rate)
        rec = synthesize(self.lm, q.y_hat, self.rate, self.image.height, self.image.width)
        mse = mse_uint8(rec, self.image.rgb)
        bpp = q.bits / self.pixels
        return rd_cost(bpp, mse, self.rate.lam), bpp, psnr(mse), q


class _Adam:
    """Adam on one tensor. torch.optim's first use imports torch._dynamo (over a second, holding
    the GIL), which would freeze the app's UI thread; this is all LOF needs."""

    def __init__(self, param: torch.Tensor, betas=(0.9, 0.999), eps=1e-8):
        self.p, self.b1, self.b2, self.eps = param, betas[0], betas[1], eps
        self.m = torch.zeros_like(param)
        self.v = torch.zeros_like(param)
        self.t = 0

    @torch.no_grad()
    def step(self, lr: float) -> None:
        self.t += 1
        g = self.p.grad
        self.m.mul_(self.b1).add_(g, alpha=1 - self.b1)
        self.v.mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
        m_hat = self.m / (1 - self.b1 ** self.t)
        v_hat = self.v / (1 - self.b2 ** self.t)
        self.p.sub_(lr * m_hat / (v_hat.sqrt() + self.eps))


def distortion_grad(model, y_hat: torch.Tensor, inv_gain: torch.Tensor, rgb: np.ndarray, lam: float, amp: bool,
                    budget: int | None = None) -> tuple[float, torch.Tensor]:
    """MSE of the synthesis of y_hat against the image (pixels in [0, 1]) and the gradient of
    lam * 255^2 * MSE with respect to y_hat, band by band (exact: the synthesis' halo), so that
    an iteration's memory stays bounded at any image size."""
    height, width = rgb.shape[:2]
    yd = y_hat.detach().requires_grad_(True)
    rows, n = yd.shape[-2], 3 * height * width
    se = 0.0
    per_row = 4 * activation_bytes_per_row(yd.shape[-1], model.g_s.width)  # a backward holds ~4 of them
    for a, b in row_bands(rows, per_row, budget):
        a0, b0 = with_halo(a, b, rows, model.g_s.halo)
        r0, r1 = STRIDE * a, min(STRIDE * b, height)
        with autocast_for(yd.device, amp):
            x_hat = model.g_s(yd[..., a0:b0, :] * inv_gain.detach())
        top = STRIDE * (a - a0)
        d = torch.sum((x_hat.float()[..., top: top + r1 - r0, :width] - pixels_tensor(rgb[r0:r1], yd.device)) ** 2)
        (d * (lam * 255 ** 2 / n)).backward()
        se += d.item()
    return se / n, yd.grad


def noise_seed(image: LoadedImage, rate: RatePoint, profile: Profile) -> int:
    """The surrogate's noise seed: a function of the pixels and the settings, so the same encode gives
    the same file on the same machine."""
    h = hashlib.sha256(image.rgb.tobytes())
    h.update(f"{image.rgb.shape}/{rate.lam!r}/{profile.name}".encode())
    return int.from_bytes(h.digest()[:8], "little") >> 1


def overfit_latent(lm: LoadedModel, image: LoadedImage, rate: RatePoint, profile: Profile,
                   on_event: Callable[[LOFEvent], None] | None = None,
                   should_stop: Callable[[], bool] | None = None) -> tuple[torch.Tensor, list[LOFEvent], int, bool]:
    """Returns (best latent, events, iterations run, cancelled)."""
    model = lm.model
    dev = model.device
    t0 = time.perf_counter()
    events: list[LOFEvent] = []

    def emit(ev: LOFEvent) -> None:
        events.append(ev)
        if on_event:
            on_event(ev)

    true_cost = _TrueCost(lm, image, rate)
    y0 = analyse(lm, image.rgb, rate, should_stop)  # nothing to keep yet: a stop here is Cancelled
    best_y = y0.clone()
    best_cost, bpp, psnr_db, q = true_cost(best_y)
    total = profile.iterations
    emit(LOFEvent("check", 0, total, bpp, psnr_db, best_cost, best_cost, time.perf_counter() - t0, 0.0, 0.0))
    if total <= 0:
        return best_y, events, 0, False

    inv_gain = rate.inverse_gain.to(dev)
    noise = torch.Generator(device=dev).manual_seed(noise_seed(image, rate, profile))
    amp = profile.amp and dev.type == "cpu" and fast_bf16(dev)
    for p in model.parameters():
        p.requires_grad_(False)
    y = y0.clone().requires_grad_(True)
    opt = _Adam(y)
    t_loop = time.perf_counter()  # the time left is the iterations' pace, not the start-up's
    scale = 1.0  # halved on stagnation
    stale = 0
    it = 0
    cancelled = False
    try:
        while it < total:
            if should_stop and should_stop():
                cancelled = True
                break
            lr = profile.lr * scale * 0.5 * (1 + math.cos(math.pi * it / total))
            surrogate = model.latent_rate(y, noisy=True, generator=noise)
            bpp_t = surrogate["bits"].sum() / true_cost.pixels
            mse, grad = distortion_grad(model, surrogate["y_hat"], inv_gain, image.rgb, rate.lam, amp)
            y.grad = None
            torch.autograd.backward([bpp_t, surrogate["y_hat"]], [None, grad])
            loss = rd_cost(bpp_t.item(), PEAK ** 2 * mse, rate.lam)
            opt.step(lr)
            it += 1
            elapsed = time.perf_counter() - t0
            remaining = (time.perf_counter() - t_loop) / it * (total - it)
            emit(LOFEvent("iter", it, total, bpp_t.item(), psnr(PEAK ** 2 * mse), loss,
                          best_cost, elapsed, remaining, lr))
            if it % profile.check_every == 0 or it == total:
                cost, bpp, psnr_db, _ = true_cost(y.detach())
                if cost < best_cost - 1e-6:
                    best_cost, best_y, stale = cost, y.detach().clone(), 0
                else:
                    stale += 1
                    scale *= 0.5
                    with torch.no_grad():
                        y.copy_(best_y)  # restart from the best latent with a smaller step
                emit(LOFEvent("check", it, total, bpp, psnr_db, cost, best_cost, time.perf_counter() - t0, remaining, lr))
                if stale >= profile.patience:
                    break
        if profile.greedy_rounding and not cancelled:
            best_y, best_cost = _greedy_rounding(lm, best_y, best_cost, true_cost, it, total, t0, emit, should_stop)
    finally:
        for p in model.parameters():
            p.requires_grad_(True)
    return best_y, events, it, cancelled


def _greedy_rounding(lm, y, cost, true_cost, it, total, t0, emit, should_stop, band: float = 0.2):
    """Flip the rounding of elements whose residual is within `band` of a half-integer, one step
    group at a time in decoding order; keep a flip only if the true cost falls."""
    msp = lm.model.msp
    for key in schedule(msp.S, msp.G):
        if should_stop and should_stop():
            break
        q = quantize_latent(lm, y, true_cost.rate)
        r = y - q.mu
        frac = r - torch.round(r)
        mask = torch.zeros_like(y, dtype=torch.bool)
        gs = group_slice(key, msp)
        for part in range(2 if key.step == 2 else 1):
            r0, c0, stride = part_grid(key, part, msp.S)
            mask[:, gs, r0::stride, c0::stride] = True
        flip = mask & (frac.abs() > 0.5 - band)
        if not flip.any():
            continue
        other = torch.round(r) + torch.where(frac > 0, 1.0, -1.0)
        candidate = torch.where(flip, q.mu + other, y)
        c, bpp, psnr_db, _ = true_cost(candidate)
        if c < cost - 1e-6:
            y, cost = candidate, c
        emit(LOFEvent("greedy", it, total, bpp, psnr_db, c, cost, time.perf_counter() - t0, 0.0, 0.0))
    return y, cost


def run_profile(lm: LoadedModel, image: LoadedImage, rate: RatePoint, profile: Profile,
                on_event: Callable[[LOFEvent], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> ProfileResult:
    """Encode with a profile. LOF asked to stop still gives a valid file (the best latent so far); a
    stop before there is one (the analysis, a `fast` encode) raises Cancelled."""
    def file_cost(enc: EncodedImage) -> float:  # the real file's size and reconstruction
        return rd_cost(enc.bpp, mse_uint8(enc.image, image.rgb), rate.lam)

    if profile.iterations <= 0:
        enc = encode(lm, image, rate, profile.name, should_stop=should_stop)
        return ProfileResult(enc, psnr_uint8(enc.image, image.rgb), file_cost(enc), 0, False, [])
    y, events, iters, cancelled = overfit_latent(lm, image, rate, profile, on_event, should_stop)
    # The overfitted latent, and the plain analysis as a guard; the guard is exactly the fast
    # encode, so it is labelled "fast" (a longer profile name would cost header bytes).
    candidates = [encode(lm, image, rate, name, latent=latent) for latent, name in ((y, profile.name), (None, "fast"))]
    costs = [file_cost(enc) for enc in candidates]
    best = int(np.argmin(costs))  # ties keep the overfitted latent, as before
    enc = candidates[best]
    return ProfileResult(enc, psnr_uint8(enc.image, image.rgb), costs[best], iters, cancelled, events)
