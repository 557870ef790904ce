"""Long jobs of the app, free of Qt: encode (a profile at a lambda or a target, the real file decoded
back scale by scale, metrics, the comparison codec matched at the same bpp and at equal PSNR), decode
of a .msp file, and this image's RD curves. They report plain events through a callback and stop
when `cancel` is set; the Qt layer (workers.py) runs them in a worker process.

A comparison codec is a classical one (eval/classical.py) or a second mspview model (another weights
file): both are matched by the same bisection (eval/search.py), and both always give a real file, the
closest one, when no setting lands within the tolerance.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..codec import profiles
from ..codec.coder import BitMaps, DecodedImage, Preview, decode
from ..codec.errors import Cancelled, MSPError
from ..codec.imageio import LoadedImage
from ..codec.lof import LOFEvent, run_profile
from ..codec.weights import LoadedModel, load_weights
from ..eval import classical, learned
from ..eval.bdrate import bd_rate
from ..eval.metrics import Measured, measure
from ..eval.metrics import bpp as bits_per_pixel
from ..eval.metrics import psnr
from ..eval.search import Search, Trial, bisect
from ..eval.targets import Target, encode_to_target

# The matching aims this close; a file farther off is measured at our point by interpolating between the
# two files that bracket it (at these rates 5 % of rate is ~0.2 dB, and 0.05 dB ~1 % of rate).
BPP_TOLERANCE = 0.005  # relative
PSNR_TOLERANCE = 0.01  # dB
# The shown file is labelled "same bpp" / "equal PSNR" within these, "closest" beyond (the codec cannot get nearer).
LABEL_BPP, LABEL_PSNR = 0.05, 0.05

Emit = Callable[[object], None]


@dataclass
class Stage:
    """A coarse progress report: what the job is doing, its fraction done, and the time left when the
    job can tell (LOF knows its iterations; a bisection does not)."""
    text: str
    fraction: float
    seconds_left: float | None = None


@dataclass
class PreviewEvent:
    preview: Preview
    psnr: float | None  # against the original, when the job has one


@dataclass
class Readout:
    """One column of the readouts: a file and what it measures."""
    codec: str  # short name: "mspview", "WebP", "mspview (other.pt)"
    role: str  # what sets the column apart: "fast, λ 0.0067", "same bpp", "equal PSNR", "closest PSNR", "file"
    label: str  # the codec's full name (tooltip)
    nbytes: int
    bpp: float
    psnr: float | None
    ms_ssim: float | None
    encode_s: float | None
    decode_s: float | None
    setting: str = ""  # "quality 30", "λ 0.0067"
    notes: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, codec: str, role: str, label: str, m: Measured, encode_s: float | None, decode_s: float | None,
           setting: str) -> Readout:
        return cls(codec, role, label, m.nbytes, m.bpp, m.psnr, m.ms_ssim, encode_s, decode_s, setting)

    @property
    def title(self) -> str:
        return f"{self.codec} {self.role}"


@dataclass
class Item:
    """An image the views can show, with the file that made it."""
    readout: Readout
    image: np.ndarray  # H x W x 3 uint8, decoded
    data: bytes  # the file itself (what "Save comparison files" writes)
    suffix: str  # its file type: ".msp", ".webp", ...
    decoded: DecodedImage | None = None  # mspview files: header and bit maps
    previews: list[Preview] = field(default_factory=list)  # mspview files: one per decoded scale

    @property
    def bitmaps(self) -> BitMaps | None:
        return self.decoded.bitmaps if self.decoded else None


@dataclass
class EqualQuality:
    """The comparison codec's size at mspview's PSNR: a real file within PSNR_TOLERANCE, or interpolated
    between the two files that bracket it (labelled so), or none when no setting reaches it."""
    codec: str
    nbytes: float | None
    interpolated: bool = False
    note: str = ""


@dataclass
class SameRate:
    """The comparison codec's PSNR at mspview's bpp: a real file within BPP_TOLERANCE, or interpolated
    (linearly in log bpp) between the two files that bracket it, labelled so; or only its closest file."""
    codec: str
    psnr: float
    bpp: float  # the rate that PSNR is at: ours, unless only the closest file could be had
    interpolated: bool = False
    note: str = ""

    @property
    def at_our_rate(self) -> bool:
        return self.interpolated or not self.note


@dataclass
class EncodeResult:
    items: list[Item]  # mspview's file first, then the comparison's (same bpp, equal PSNR)
    source: str = "encode"  # or "file": a .msp opened from disk
    profile: str = ""
    lam: float = 0.0
    lof_iterations: int = 0
    stopped: bool = False  # LOF stopped early (Stop): its best latent so far
    equal: EqualQuality | None = None
    same: SameRate | None = None
    request: "EncodeRequest | None" = None  # what made it (an identical request reuses it)
    notes: list[str] = field(default_factory=list)  # what the job wants the user to know

    @property
    def ours(self) -> Item:
        return self.items[0]


# ------------------------------------------------------------------------------------------ contenders
class Contender:
    """What a comparison codec offers the matching: a search at a bpp or a PSNR, whose tries carry
    their decoded images."""
    name: str
    label: str
    suffix: str

    def at_bpp(self, rgb: np.ndarray, target: float, should_stop) -> Search:
        raise NotImplementedError

    def at_psnr(self, rgb: np.ndarray, target: float, should_stop) -> Search:
        raise NotImplementedError

    def item(self, trial: Trial, rgb: np.ndarray, role: str, seconds: float) -> Item:
        raise NotImplementedError


class ClassicalContender(Contender):
    def __init__(self, codec: classical.Classical):
        self.codec, self.name, self.label, self.suffix = codec, codec.label.split(" (")[0], codec.label, codec.suffix

    def at_bpp(self, rgb, target, should_stop):
        return self.codec.at_bpp(rgb, target, BPP_TOLERANCE, should_stop)

    def at_psnr(self, rgb, target, should_stop):
        return self.codec.at_psnr(rgb, target, PSNR_TOLERANCE, should_stop)

    def item(self, trial, rgb, role, seconds):
        t = time.perf_counter()
        image = trial.extra.get("image")
        image = self.codec.decode(trial.data) if image is None else image
        dec_s = trial.extra.get("decode_s", time.perf_counter() - t)
        readout = Readout.of(self.name, role, self.label, measure(len(trial.data), image, rgb), seconds, dec_s,
                             f"{self.codec.knob} {trial.setting:g}")
        return Item(readout, image, trial.data, self.suffix)


_SECOND_MODELS: dict[tuple[str, str], LoadedModel] = {}  # per worker process: loaded once


class ModelContender(Contender):
    """A second mspview model (a weights file the user trained), encoded with `fast` at a lambda found
    by bisection: the check after a training run."""
    suffix = ".msp"

    def __init__(self, path: str, device):
        key = (str(path), str(device))
        if key not in _SECOND_MODELS:
            _SECOND_MODELS[key] = load_weights(path, device)
        self.lm = _SECOND_MODELS[key]
        self.name = f"mspview ({Path(path).name})"
        self.label = f"mspview {self.lm.model_id}, weights {Path(path).name} ({self.lm.sha256[:12]}), fast profile"

    def _search(self, rgb, target: Target, tolerance: float, should_stop) -> Search:
        image = LoadedImage(rgb, "RGB", "RGB")
        fast = profiles.get("fast")
        lo, hi = self.lm.model.gain.lambda_range()

        def measure(lam: float) -> Trial:
            res = run_profile(self.lm, image, self.lm.rate(lam), fast)
            value = target.measure(len(res.encoded.data), image.width * image.height, res.psnr)
            return Trial(lam, res.encoded.data, value, {"image": res.encoded.image})

        return bisect(measure, lo, hi, target.value, tolerance, log=True, should_stop=should_stop)

    def at_bpp(self, rgb, target, should_stop):
        return self._search(rgb, Target("bpp", target), BPP_TOLERANCE * target, should_stop)

    def at_psnr(self, rgb, target, should_stop):
        return self._search(rgb, Target("psnr", target), PSNR_TOLERANCE, should_stop)

    def item(self, trial, rgb, role, seconds):
        t = time.perf_counter()
        dec = decode(self.lm, trial.data)
        dec_s = time.perf_counter() - t
        readout = Readout.of(self.name, role, self.label, measure(len(trial.data), dec.image, rgb), seconds, dec_s,
                             f"λ {trial.setting:.5g}")
        return Item(readout, dec.image, trial.data, ".msp", dec)


def contender(compare: str | None, device) -> Contender | None:
    """'webp' (a classical codec's name), 'model:PATH' (a second weights file), 'compressai:ARCH:CKPT,...'
    (a CompressAI model, one checkpoint per rate point) or None."""
    if not compare:
        return None
    if compare.startswith("model:"):
        return ModelContender(compare[len("model:"):], device)
    if compare.startswith("compressai:"):
        return ClassicalContender(learned.from_spec(compare))
    return ClassicalContender(classical.get(compare))


# ------------------------------------------------------------------------------------------ jobs
def _decode_with_previews(lm: LoadedModel, data: bytes, emit: Emit, cancel, ref: np.ndarray | None = None):
    previews: list[Preview] = []

    def on_preview(p: Preview) -> None:
        if cancel.is_set():
            raise Cancelled("decode cancelled")
        previews.append(p)
        emit(PreviewEvent(p, psnr(p.image, ref) if ref is not None else None))
        emit(Stage(f"decoding: scale {p.scales_done} of {p.total_scales}", 0.8 + 0.1 * p.scales_done / p.total_scales))

    t = time.perf_counter()
    dec = decode(lm, data, on_preview=on_preview, should_stop=cancel.is_set)
    return dec, previews, time.perf_counter() - t


def decode_job(lm: LoadedModel, data: bytes, name: str, emit: Emit, cancel) -> EncodeResult:
    """A .msp file from disk, decoded scale by scale; a truncated file decodes the scales it holds."""
    emit(Stage(f"decoding {name} scale by scale", 0.05))
    try:
        dec, previews, dec_s = _decode_with_previews(lm, data, emit, cancel)
    except MSPError as e:
        if isinstance(e, Cancelled):
            raise
        raise type(e)(f"{name}: {e}") from None
    h = dec.header
    notes = [f"profile {h.profile}, λ {h.lam:.4g}"]
    if not dec.complete:
        notes.append(f"truncated: {dec.scales_decoded} of {h.num_scales + 1} scales decoded, the rest predicted; "
                     f"{dec.bytes_read:,} of the file's {len(data):,} bytes used")
    # bytes and bpp are what the picture shown was decoded from (all of a complete file)
    readout = Readout("mspview", "file", f"mspview file {name} ({h.model_id})", dec.bytes_read,
                      bits_per_pixel(dec.bytes_read, h.width, h.height), None, None, None, dec_s, f"λ {h.lam:.4g}", notes)
    emit(Stage("done", 1.0))
    return EncodeResult([Item(readout, dec.image, data, ".msp", dec, previews)], "file", h.profile, h.lam,
                        notes=notes[1:])


def percent_smaller(ours: int, theirs: float) -> str:
    """'12.3 % smaller' (or larger): our file against theirs, as every readout and headline says it."""
    saved = 100 * (1 - ours / theirs)
    return f"{abs(saved):.1f} % {'smaller' if saved >= 0 else 'larger'}"


def _same_rate(contender: Contender, search: Search, closest: Item, ref: np.ndarray) -> SameRate:
    """PSNR at exactly our bpp: the file within the tolerance, else interpolated between the bracketing
    files (each decoded and measured), else the closest file's, said to be at its own rate."""
    r = closest.readout
    if search.within:
        return SameRate(contender.name, r.psnr, r.bpp)
    pair = search.bracket()
    if pair is None:
        return SameRate(contender.name, r.psnr, r.bpp, note=f"closest it reaches: {r.bpp:.4f} bpp")
    a, b = (contender.item(t, ref, "bracket", 0.0).readout for t in pair)
    if a.bpp == b.bpp:
        return SameRate(contender.name, a.psnr, a.bpp)
    t = (math.log(search.target) - math.log(a.bpp)) / (math.log(b.bpp) - math.log(a.bpp))
    return SameRate(contender.name, a.psnr + t * (b.psnr - a.psnr), search.target, True,
                    f"interpolated between its files of {a.bpp:.4f} and {b.bpp:.4f} bpp")


def _match(contender: Contender, ours: Item, ref: np.ndarray, emit: Emit, cancel, result: EncodeResult) -> None:
    """The comparison codec at mspview's bpp (the closest file always shown) and at its PSNR."""
    o = ours.readout
    emit(Stage(f"matching {contender.name} to {o.bpp:.3f} bpp", 0.9))
    t = time.perf_counter()
    search = contender.at_bpp(ref, o.bpp, cancel.is_set)
    best = search.best
    near = abs(best.value - o.bpp) <= LABEL_BPP * o.bpp
    item = contender.item(best, ref, "same bpp" if near else "closest bpp", time.perf_counter() - t)
    result.same = _same_rate(contender, search, item, ref)
    if not search.within:
        item.readout.notes.append(f"no setting within {100 * BPP_TOLERANCE:g} % of {o.bpp:.4f} bpp: the nearest "
                                  f"file shown ({len(search.trials)} tries)")
    gap = f"mspview {o.psnr - result.same.psnr:+.2f} dB at "
    item.readout.notes.append(gap + ("the same bpp" if search.within else f"{o.bpp:.4f} bpp ({result.same.note})"
                                     if result.same.interpolated else f"its {item.readout.bpp:.4f} bpp"))
    result.items.append(item)
    emit(Stage(f"matching {contender.name} to {o.psnr:.2f} dB", 0.95))
    t = time.perf_counter()
    search = contender.at_psnr(ref, o.psnr, cancel.is_set)
    near = abs(search.best.value - o.psnr) <= LABEL_PSNR
    eq = contender.item(search.best, ref, "equal PSNR" if near else "closest PSNR", time.perf_counter() - t)
    result.items.append(eq)
    if search.within:
        result.equal = EqualQuality(contender.name, eq.readout.nbytes)
    elif (size := search.interpolated_bytes()) is not None:
        lo, hi = search.bracket()
        result.equal = EqualQuality(contender.name, size, True,
                                    f"interpolated between its files of {lo.value:.2f} and {hi.value:.2f} dB")
        eq.readout.notes.append(f"no setting within {PSNR_TOLERANCE:g} dB of {o.psnr:.2f} dB: the nearest file shown")
    else:
        reach = max(t.value for t in search.trials)
        result.equal = EqualQuality(contender.name, None, note=f"{contender.name} reaches at most {reach:.2f} dB here"
                                    if reach < o.psnr else f"{contender.name} goes no lower than "
                                    f"{min(t.value for t in search.trials):.2f} dB here")
        eq.readout.notes.append(result.equal.note)
    if result.equal.nbytes:
        how = "interpolated" if result.equal.interpolated else f"{result.equal.nbytes:,.0f} bytes"
        o.notes.append(f"{percent_smaller(o.nbytes, result.equal.nbytes)} than {contender.name} at equal PSNR ({how})")


class JobFlags:
    """How a job is told to end, in-process (the app's worker asks the same two questions of shared
    memory): `is_set()` after Cancel — end now, keep nothing new; `stopping()` also after Stop — LOF
    ends at its next iteration and its best latent so far is written and decoded."""

    def __init__(self):
        self.cancel, self.stop = threading.Event(), threading.Event()

    def is_set(self) -> bool:
        return self.cancel.is_set()

    def stopping(self) -> bool:
        return self.cancel.is_set() or self.stop.is_set()


@dataclass(frozen=True)
class EncodeRequest:
    profile: str = "fast"
    lam: float | None = None  # a lambda, or
    target: Target | None = None  # a target rate or quality
    compare: str | None = None  # see `contender`
    device: str = "cpu"


def encode_job(lm: LoadedModel, image: LoadedImage, request: EncodeRequest, emit: Emit, cancel) -> EncodeResult:
    profile = profiles.get(request.profile)
    emit(Stage(f"encoding ({profile.name})", 0.02))
    total = max(1, profile.iterations)

    def on_lof(ev: LOFEvent) -> None:
        emit(ev)
        emit(Stage(f"latent overfitting {ev.iteration}/{ev.total}", 0.05 + 0.7 * ev.iteration / total, ev.remaining))

    t = time.perf_counter()
    notes = []
    if request.target:
        def on_try(trial: Trial) -> None:
            emit(Stage(f"{request.target}: trying λ {trial.setting:.4g}", 0.05))
        found = encode_to_target(lm, image, request.target, profile.name, on_lof, cancel.stopping, on_try)
        res, lam = found.result, found.lam
        notes.append(found.summary(request.target))
    else:
        lam = request.lam
        res = run_profile(lm, image, lm.rate(lam), profile, on_event=on_lof, should_stop=cancel.stopping)
    if cancel.is_set():  # Cancel keeps nothing; Stop keeps LOF's best latent so far
        raise Cancelled("encode cancelled")
    enc_s = time.perf_counter() - t
    data = res.encoded.data
    emit(Stage("decoding the real file scale by scale", 0.8))
    ref = image.rgb
    # A stopped LOF's file is decoded to the end; a Cancel during this decode (minutes at 64 MP, one full
    # synthesis per scale) ends the job.
    dec, previews, dec_s = _decode_with_previews(lm, data, emit, cancel, ref)
    readout = Readout.of("mspview", res.encoded.header.profile, f"mspview {lm.model_id}, λ {lam:.5g}",
                         measure(len(data), dec.image, ref), enc_s, dec_s, f"λ {lam:.4g}")
    if res.cancelled:
        readout.notes.append(f"stopped after {res.iterations} LOF iterations: the best latent so far")
    result = EncodeResult([Item(readout, dec.image, data, ".msp", dec, previews)], "encode", profile.name, lam,
                          res.iterations, res.cancelled, request=None if res.cancelled else request, notes=notes)
    versus = contender(request.compare, lm.model.device)
    if versus and cancel.stopping():
        result.notes.append(f"{versus.name} comparison skipped: the encode was stopped")
    elif versus:
        try:
            _match(versus, result.ours, ref, emit, cancel, result)
        except Cancelled:  # the mspview file is done: keep it, say the comparison is missing
            result.notes.append(f"{versus.name} comparison cancelled")
        except MSPError as e:
            result.notes.append(f"{versus.name}: {e}")
    emit(Stage("done", 1.0))
    return result


@dataclass(frozen=True)
class SideRequest:
    """One side of the split encoded on its own (Squoosh's per-side settings): a classical codec at a
    setting of its knob. mspview's side is an EncodeRequest of the `fast` profile."""
    codec: str  # a classical codec's name (eval/classical.py)
    setting: float


def side_job(lm: LoadedModel, image: LoadedImage, request: SideRequest, emit: Emit, cancel) -> EncodeResult:
    """A classical codec's real file at one setting, decoded back and measured (about a second)."""
    versus = ClassicalContender(classical.get(request.codec))
    knob = f"{versus.codec.knob} {request.setting:g}"
    emit(Stage(f"{versus.name} at {knob}", 0.1))
    t = time.perf_counter()
    data = versus.codec.encode(image.rgb, request.setting)
    item = versus.item(Trial(request.setting, data, 0.0), image.rgb, knob, time.perf_counter() - t)
    emit(Stage("done", 1.0))
    return EncodeResult([item], "side", request=request)


@dataclass
class RDPoint:
    codec: str  # "mspview", or the comparison's name
    setting: float  # λ, or the classical codec's knob
    nbytes: int
    bpp: float
    psnr: float
    ms_ssim: float  # NaN where MS-SSIM is not defined (small or huge images)


@dataclass
class RDSweep:
    """This image's own rate-distortion curves: mspview (fast profile, every trained λ, real files
    decoded back) and the comparison's sweep, with BD-rates of mspview against it."""
    codec: str  # the comparison's name ("" when none was chosen)
    codec_label: str
    points: list[RDPoint]
    bd: dict[str, float | str]  # metric -> BD-rate in %, or why there is none

    def curve(self, codec: str) -> list[RDPoint]:
        return sorted((p for p in self.points if p.codec == codec), key=lambda p: p.bpp)


def _sweep_steps(lm: LoadedModel, versus: Contender | None) -> list[tuple[str, float]]:
    steps = [("mspview", lam) for lam in lm.model.config.lambdas]
    if isinstance(versus, ClassicalContender):
        steps += [(versus.name, s) for s in versus.codec.sweep]
    elif isinstance(versus, ModelContender):
        steps += [(versus.name, lam) for lam in versus.lm.model.config.lambdas]
    return steps


def rd_sweep_job(lm: LoadedModel, image: LoadedImage, compare: str | None, emit: Emit, cancel) -> RDSweep:
    versus = contender(compare, lm.model.device)
    fast = profiles.get("fast")
    steps = _sweep_steps(lm, versus)
    ref, points = image.rgb, []
    for i, (who, setting) in enumerate(steps):
        if cancel.is_set():
            raise Cancelled("RD sweep cancelled")
        emit(Stage(f"RD sweep: {who} {setting:g}", 0.02 + 0.96 * i / len(steps)))
        if isinstance(versus, ClassicalContender) and who == versus.name:
            data = versus.codec.encode(ref, setting)
            out = versus.codec.decode(data)
        else:
            model = versus.lm if isinstance(versus, ModelContender) and who == versus.name else lm
            data = run_profile(model, image, model.rate(setting), fast).encoded.data
            out = decode(model, data).image
        m = measure(len(data), out, ref)
        point = RDPoint(who, setting, m.nbytes, m.bpp, m.psnr, m.ms_ssim)
        points.append(point)
        emit(point)
    sweep = RDSweep(versus.name if versus else "", versus.label if versus else "", points, {})
    for metric in ("psnr", "ms_ssim"):
        if not versus:
            sweep.bd[metric] = "no comparison chosen"
            continue
        ours, theirs = ([[p.bpp for p in c], [getattr(p, metric) for p in c]]
                        for c in (sweep.curve("mspview"), sweep.curve(versus.name)))
        try:
            sweep.bd[metric] = bd_rate(theirs, ours, versus.label, "mspview", metric=metric).bd_rate
        except (MSPError, ValueError) as e:
            sweep.bd[metric] = str(e)
    emit(Stage("done", 1.0))
    return sweep
