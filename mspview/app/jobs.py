"""Long jobs of the app, free of Qt: encode (profile + real decode + metrics + classical match) and
decode of a .msp file. They report plain events through a callback and stop when `cancel` is set;
the Qt layer (workers.py) runs them on a thread and turns the events into signals.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..codec import profiles
from ..codec.coder import BitMaps, DecodedImage, Preview, decode
from ..codec.errors import Cancelled, MSPError
from ..codec.imageio import LoadedImage
from ..codec.lof import LOFEvent, run_profile
from ..codec.weights import LoadedModel
from ..eval import classical
from ..eval.bdrate import bd_rate
from ..eval.metrics import bpp as bits_per_pixel
from ..eval.metrics import ms_ssim, psnr


@dataclass
class Stage:
    """A coarse progress report: what the job is doing, and its fraction done."""
    text: str
    fraction: float


@dataclass
class CodecReadout:
    codec: str
    nbytes: int
    bpp: float
    psnr: float | None
    ms_ssim: float | None
    encode_s: float | None
    decode_s: float | None
    note: str = ""


@dataclass
class JobResult:
    data: bytes  # the .msp file
    decoded: DecodedImage
    previews: list[Preview]
    readouts: list[CodecReadout] = field(default_factory=list)
    classical_image: np.ndarray | None = None
    classical_name: str = ""
    lof_iterations: int = 0
    cancelled: bool = False
    equal_psnr_bytes: int | None = None  # the classical file that reaches our PSNR (when matched)
    equal_psnr_image: np.ndarray | None = None  # that file, decoded: the equal-quality comparison

    @property
    def bitmaps(self) -> BitMaps:
        return self.decoded.bitmaps


@dataclass
class PreviewEvent:
    preview: Preview
    psnr: float | None  # against the original, when the job has one


Emit = Callable[[object], None]


def _previews(lm: LoadedModel, data: bytes, emit: Emit, cancel: threading.Event,
              ref: np.ndarray | None = None) -> tuple[DecodedImage, list, float]:
    previews: list[Preview] = []

    def on_preview(p: Preview) -> None:
        if cancel.is_set():
            raise Cancelled("decode cancelled")
        previews.append(p)
        emit(PreviewEvent(p, psnr(p.image, ref) if ref is not None else None))

    t = time.perf_counter()
    dec = decode(lm, data, on_preview=on_preview)
    return dec, previews, time.perf_counter() - t


def decode_job(lm: LoadedModel, data: bytes, emit: Emit, cancel: threading.Event) -> JobResult:
    emit(Stage("decoding scale by scale", 0.1))
    dec, previews, dec_s = _previews(lm, data, emit, cancel)
    h = dec.header
    readouts = [CodecReadout("mspview (file)", len(data), bits_per_pixel(len(data), h.width, h.height),
                             None, None, None, dec_s, f"profile {h.profile}, λ {h.lam:.4g}")]
    emit(Stage("done", 1.0))
    return JobResult(data, dec, previews, readouts)


def _matched(codec: classical.Classical, ref: np.ndarray, search: Callable[[], tuple[float, bytes]], label: str,
             how: str) -> tuple[CodecReadout, np.ndarray]:
    """The classical file a bisection `search` finds, decoded and measured: its readout and its image."""
    t = time.perf_counter()
    setting, data = search()
    enc_s = time.perf_counter() - t
    t = time.perf_counter()
    img = codec.decode(data)
    dec_s = time.perf_counter() - t
    h, w = ref.shape[:2]
    return CodecReadout(label, len(data), bits_per_pixel(len(data), w, h), psnr(img, ref), ms_ssim(img, ref),
                        enc_s, dec_s, f"{codec.knob} {setting:g} ({how}, all tries)"), img


def encode_job(lm: LoadedModel, image: LoadedImage, lam: float, profile_name: str, compare: str | None,
               emit: Emit, cancel: threading.Event) -> JobResult:
    profile = profiles.get(profile_name)
    emit(Stage(f"encoding ({profile.name})", 0.02))
    total = max(1, profile.iterations)

    def on_lof(ev: LOFEvent) -> None:
        emit(ev)
        emit(Stage(f"latent overfitting {ev.iteration}/{ev.total}", 0.05 + 0.75 * ev.iteration / total))

    t = time.perf_counter()
    res = run_profile(lm, image, lm.rate(lam), profile, on_event=on_lof, should_stop=cancel.is_set)
    enc_s = time.perf_counter() - t
    data = res.encoded.data
    emit(Stage("decoding the real file scale by scale", 0.82))
    ref = image.rgb
    # A cancel during LOF keeps the best latent so far: that file is then decoded to the end. A cancel
    # during this decode (minutes at 64 MP, one full synthesis per scale) stops the job.
    dec, previews, dec_s = _previews(lm, data, emit, threading.Event() if res.cancelled else cancel, ref)
    readouts = [CodecReadout(f"mspview ({profile.name})", len(data), bits_per_pixel(len(data), image.width, image.height),
                             psnr(dec.image, ref), ms_ssim(dec.image, ref), enc_s, dec_s,
                             "cancelled: best latent so far" if res.cancelled else "")]
    result = JobResult(data, dec, previews, readouts, lof_iterations=res.iterations, cancelled=res.cancelled)
    if compare and not cancel.is_set():
        emit(Stage(f"matching {compare} to the same bpp", 0.9))
        codec = classical.get(compare)
        try:
            readout, cimg = _matched(codec, ref, lambda: codec.at_bpp(ref, readouts[0].bpp, should_stop=cancel.is_set),
                                     codec.label, "bisection")
            readouts.append(readout)
            result.classical_image, result.classical_name = cimg, codec.label
        except Cancelled:  # the mspview file is done: keep it, drop the comparison
            readouts.append(CodecReadout(codec.label, 0, float("nan"), None, None, None, None, "comparison cancelled"))
        except MSPError as e:
            readouts.append(CodecReadout(codec.label, 0, float("nan"), None, None, None, None, str(e)))
    if len(readouts) == 2 and readouts[1].nbytes and not cancel.is_set():
        ours, other = readouts
        other.note += f"; mspview {ours.psnr - other.psnr:+.2f} dB at the same bpp"
        emit(Stage(f"matching {compare} to the same PSNR", 0.95))
        try:  # "% smaller at equal quality": the classical file that reaches our PSNR, shown too
            readout, eq_img = _matched(codec, ref, lambda: codec.at_psnr(ref, ours.psnr, should_stop=cancel.is_set),
                                       f"{codec.label}, equal PSNR", "bisection on PSNR")
            readouts.append(readout)
            result.equal_psnr_bytes, result.equal_psnr_image = readout.nbytes, eq_img
            ours.note = (ours.note + "; " if ours.note else "") + \
                f"{100 * (1 - ours.nbytes / readout.nbytes):.1f} % smaller than {compare} at equal PSNR"
        except Cancelled:
            ours.note = (ours.note + "; " if ours.note else "") + "equal-PSNR match cancelled"
        except MSPError as e:
            ours.note = (ours.note + "; " if ours.note else "") + f"equal-PSNR match: {e}"
    emit(Stage("done", 1.0))
    return result


@dataclass
class RDPoint:
    codec: str  # "mspview" or the classical codec's name
    setting: float  # λ, or the classical codec's knob
    nbytes: int
    bpp: float
    psnr: float
    ms_ssim: float  # NaN where MS-SSIM is not defined (small or huge images)


@dataclass
class RDSweep:
    """This image's own rate-distortion curves: mspview (fast profile, every trained λ, real files
    decoded back) and the comparison codec's sweep, with BD-rates of mspview against it."""
    codec: str  # classical codec name ("" when none was chosen)
    codec_label: str
    points: list[RDPoint]
    bd: dict[str, float | str]  # metric -> BD-rate in %, or why there is none

    def curve(self, codec: str) -> list[RDPoint]:
        return sorted((p for p in self.points if p.codec == codec), key=lambda p: p.bpp)


def rd_sweep_job(lm: LoadedModel, image: LoadedImage, compare: str | None, emit: Emit,
                 cancel: threading.Event) -> RDSweep:
    codec = classical.get(compare) if compare else None
    fast = profiles.get("fast")
    steps = [("mspview", lam) for lam in lm.model.config.lambdas]
    steps += [(codec.name, s) for s in codec.sweep] if codec else []
    ref, points = image.rgb, []
    for i, (who, setting) in enumerate(steps):
        if cancel.is_set():
            raise Cancelled("RD sweep cancelled")
        label = f"λ {setting:g}" if who == "mspview" else f"{codec.knob} {setting:g}"
        emit(Stage(f"RD sweep: {who} {label}", 0.02 + 0.96 * i / len(steps)))
        if who == "mspview":
            data = run_profile(lm, image, lm.rate(setting), fast).encoded.data
            out = decode(lm, data).image
        else:
            data = codec.encode(ref, setting)
            out = codec.decode(data)
        point = RDPoint(who, setting, len(data), bits_per_pixel(len(data), image.width, image.height),
                        psnr(out, ref), ms_ssim(out, ref))
        points.append(point)
        emit(point)
    sweep = RDSweep(codec.name if codec else "", codec.label if codec else "", points, {})
    for metric in ("psnr", "ms_ssim"):
        if not codec:
            sweep.bd[metric] = "no comparison codec chosen"
            continue
        ours, theirs = ([[p.bpp for p in c], [getattr(p, metric) for p in c]]
                        for c in (sweep.curve("mspview"), sweep.curve(codec.name)))
        try:
            sweep.bd[metric] = bd_rate(theirs, ours, codec.label, "mspview", metric=metric).bd_rate
        except (MSPError, ValueError) as e:
            sweep.bd[metric] = str(e)
    emit(Stage("done", 1.0))
    return sweep
