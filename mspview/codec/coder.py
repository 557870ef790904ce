"""Encoding images to .msp bytes and decoding them back, with progressive previews.

Both directions walk the same MSP schedule (`MSPModel.run`); the encoder quantizes against the
predicted means and records symbols, the decoder reads them back chunk by chunk (one entropy-coded
stream per scale). Decoding reports one preview per scale through a callback, and a truncated file
decodes to the scales it holds.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from . import bitstream
from .bitstream import Header, ScaleRecord
from .entropy import StreamDecoder, StreamEncoder, quantize, symbol_bits, symbol_range, symbols_crc
from .errors import BitstreamError, Cancelled, ModelError
from .exact import MU_FRAC_BITS, to_float, verify_arithmetic
from .imageio import LoadedImage, check_size, to_output
from .layout import StepKey, part_grid, schedule
from .msp import interleave
from .transforms import activation_bytes_per_row, channels_last, pixels_tensor, row_bands, with_halo
from .rate import RatePoint
from .weights import LoadedModel

STRIDE = bitstream.LATENT_STRIDE


@dataclass
class BitMaps:
    """Estimated bits per latent position (h x w) in all and per scale, per channel and per chunk, from
    the coded symbols."""
    spatial: np.ndarray
    channels: np.ndarray
    chunks: dict[StepKey, float] = field(default_factory=dict)  # schedule order
    scales: dict[int, np.ndarray] = field(default_factory=dict)  # scale -> bits at the positions it codes

    @classmethod
    def empty(cls, h: int, w: int, m: int) -> "BitMaps":
        return cls(np.zeros((h, w), np.float64), np.zeros(m, np.float64))

    def add(self, key: StepKey, part: int, bits: np.ndarray, num_scales: int, group_slice: slice) -> None:
        """bits: C x h x w, one part of a step."""
        r0, c0, stride = part_grid(key, part, num_scales)
        b = bits
        self.chunks[key] = self.chunks.get(key, 0.0) + float(b.sum())
        if b.size == 0:
            return
        per_position = b.sum(0)
        self.spatial[r0::stride, c0::stride][: b.shape[1], : b.shape[2]] += per_position
        scale_map = self.scales.setdefault(key.scale, np.zeros_like(self.spatial))
        scale_map[r0::stride, c0::stride][: b.shape[1], : b.shape[2]] += per_position
        self.channels[group_slice] += b.sum((1, 2))

    def blocks(self, block: int = 2) -> np.ndarray:
        """Where the bits go in the picture: every position's bits summed over blocks of block x block
        latent positions (32 x 32 pixels), spread evenly over the block. A 2 x 2 block holds one position
        of each polyphase component, so the sampling lattice (a position coded at the coarser scales
        costs a fifth of one at scale 0) does not show as a plaid."""
        h, w = self.spatial.shape
        ph, pw = -(-h // block) * block, -(-w // block) * block
        padded = np.zeros((ph, pw))
        padded[:h, :w] = self.spatial
        sums = padded.reshape(ph // block, block, pw // block, block).sum((1, 3))
        counts = np.zeros((ph, pw))
        counts[:h, :w] = 1
        cells_ = counts.reshape(ph // block, block, pw // block, block).sum((1, 3))
        per = sums / np.maximum(cells_, 1)
        return np.repeat(np.repeat(per, block, 0), block, 1)[:h, :w]

    def density(self, scale: int | None = None) -> np.ndarray:
        """Bits per latent position with each coded position's bits spread over the block of the image
        it stands for (2^s x 2^s positions at scale s, the base's 2^S x 2^S): one scale, or all summed.
        Unlike `spatial` (where the base's sparse positions stand out as a grid of bright dots), it
        shows where each scale spends its bits; its total is the same."""
        h, w = self.spatial.shape
        out = np.zeros((h, w), np.float64)
        for s, raw in self.scales.items():
            if scale is not None and s != scale:
                continue
            unit = 2 ** s
            # over the block's positions inside the latent (a block at the right or bottom edge may be cut)
            cells = np.outer(np.minimum(unit, h - np.arange(0, h, unit)), np.minimum(unit, w - np.arange(0, w, unit)))
            grid = raw[::unit, ::unit] / cells
            out += np.repeat(np.repeat(grid, unit, 0), unit, 1)[:h, :w]
        return out


@dataclass
class Preview:
    scales_done: int
    total_scales: int
    image: np.ndarray  # H x W x 3 uint8
    bytes_read: int
    bpp: float
    made_by: str  # WHOLE_LATENT, PREVIEW_DECODER or PREDICTED_MEANS


# How a preview was made (said where it is shown)
WHOLE_LATENT = "the synthesis, from the whole latent"
PREVIEW_DECODER = "the weights' preview decoder, from the scales read"
PREDICTED_MEANS = ("the synthesis at the resolution the scales read support, every finer position at the "
                   "model's predicted mean")


@dataclass
class EncodedImage:
    data: bytes
    header: Header
    y_hat: torch.Tensor
    image: np.ndarray  # reconstruction, H x W x 3 uint8, what the decoder will return
    bitmaps: BitMaps
    timings: dict  # seconds per phase

    @property
    def bpp(self) -> float:
        return 8 * len(self.data) / (self.header.width * self.header.height)


@dataclass
class DecodedImage:
    header: Header
    image: np.ndarray  # H x W x 3 uint8 (RGB); `output` gives the header's mode
    y_hat: torch.Tensor
    scales_decoded: int
    complete: bool
    bitmaps: BitMaps
    timings: dict  # seconds per phase
    bytes_read: int  # the header and the scales decoded (a truncated file: less than the file)

    @property
    def output(self) -> np.ndarray:
        return to_output(self.image, self.header.mode)


def padded_pixels(rgb: np.ndarray) -> np.ndarray:
    """H x W x 3 uint8 padded at the bottom and right to a multiple of 16 (edges replicated; zeros
    for an image one pixel wide or high)."""
    h, w = rgb.shape[:2]
    pad = ((0, (-h) % STRIDE), (0, (-w) % STRIDE), (0, 0))
    return np.pad(rgb, pad, mode="edge" if min(h, w) > 1 else "constant")


def _check(should_stop: Callable[[], bool] | None) -> None:
    """Between bands: a job asked to stop ends here (a 64 MP image's network runs for minutes)."""
    if should_stop is not None and should_stop():
        raise Cancelled("stopped")


@torch.no_grad()
def analyse(lm: LoadedModel, rgb: np.ndarray, rate: RatePoint,
            should_stop: Callable[[], bool] | None = None) -> torch.Tensor:
    """The gained latent y of an image (what LOF optimises and what gets quantized), band by band;
    `should_stop` is asked before each band (Cancelled)."""
    model = lm.model
    px = padded_pixels(rgb)
    h, w = px.shape[0] // STRIDE, px.shape[1] // STRIDE
    y = torch.empty(1, model.config.M, h, w, device=model.device)
    for a, b in row_bands(h, activation_bytes_per_row(w, model.config.N)):
        _check(should_stop)
        a0, b0 = with_halo(a, b, h)
        band = model.g_a(channels_last(pixels_tensor(px[STRIDE * a0: STRIDE * b0], model.device)))
        y[..., a:b, :] = band[..., a - a0: b - a0, :]
    return y * rate.gain.to(y.device)


@torch.no_grad()
def synthesize(lm: LoadedModel, y_hat: torch.Tensor, rate: RatePoint, h: int, w: int,
               should_stop: Callable[[], bool] | None = None) -> np.ndarray:
    """The 8-bit reconstruction (H x W x 3) of a quantized latent, band by band, in the model's
    synthesis precision (the symbols never depend on it); `should_stop` is asked before each band."""
    bands = lm.model.g_s.decode_bands(y_hat * rate.inverse_gain.to(y_hat.device), bf16=lm.precision == "bf16")
    return _assemble(bands, h, w, should_stop)


@torch.no_grad()
def render_preview(lm: LoadedModel, y_s: torch.Tensor, scale: int, rate: RatePoint, h: int, w: int,
                   should_stop: Callable[[], bool] | None = None) -> np.ndarray:
    """The preview decoder's 8-bit picture (H x W x 3) from the latent of `scale` (float, its own grid)."""
    bands = lm.model.preview.decode_bands(y_s * rate.inverse_gain.to(y_s.device), scale, bf16=lm.precision == "bf16")
    return _assemble(bands, h, w, should_stop)


def preview_factor(scale: int) -> int:
    """A preview of the scales down to `scale` (samples every 2^scale latent positions) is synthesized at
    1/2^(scale-1) of the resolution and upsampled: its picture holds little finer than that, and the
    coarsest preview costs 1/16 of a full synthesis. README: what it costs in PSNR on Kodak."""
    return 2 ** (scale - 1)


def whole_latent(y1: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """The whole latent (rows x cols) from its samples every 2 positions (scale 1): each position between
    them the mean of its nearest samples (edges replicated). For a coarse preview, which averages 2 x 2 or
    4 x 4 positions, instead of the MSP model's predictions of the finest scale (most of a fill's cost)."""
    p = F.pad(y1, (0, 1, 0, 1), mode="replicate")
    a, right, down, diag = p[..., :-1, :-1], p[..., :-1, 1:], p[..., 1:, :-1], p[..., 1:, 1:]
    h1, w1 = y1.shape[-2:]
    y = interleave(a, (a + right) / 2, (a + down) / 2, (a + right + down + diag) / 4, 2 * h1, 2 * w1)
    return y[..., :rows, :cols]


def coarse_latent(y1: torch.Tensor, rows: int, cols: int, factor: int) -> torch.Tensor:
    """What a coarse preview synthesizes: the whole latent (rows x cols) interpolated from its samples
    every 2 positions (`whole_latent`), averaged over factor x factor positions (edges replicated)."""
    y = whole_latent(y1, rows, cols)
    return F.avg_pool2d(F.pad(y, (0, (-cols) % factor, 0, (-rows) % factor), mode="replicate"), factor)


@torch.no_grad()
def coarse_picture(lm: LoadedModel, y1: torch.Tensor, rate: RatePoint, h: int, w: int, factor: int,
                   should_stop: Callable[[], bool] | None = None) -> np.ndarray:
    """The 8-bit picture (h x w x 3) at 1/`factor` of the resolution from the latent's samples every 2
    positions (`y1`, float): `coarse_latent` synthesized, then upsampled bicubically."""
    y = coarse_latent(y1, -(-h // STRIDE), -(-w // STRIDE), factor)
    small = synthesize(lm, y, rate, STRIDE * y.shape[-2], STRIDE * y.shape[-1], should_stop)
    size = (factor * small.shape[1], factor * small.shape[0])  # the small picture's own grid, scaled exactly
    up = Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)
    return np.asarray(up)[:h, :w].copy()


def _assemble(bands, h: int, w: int, should_stop: Callable[[], bool] | None) -> np.ndarray:
    out = np.empty((h, w, 3), np.uint8)
    for r0, x in bands:
        _check(should_stop)
        rows = min(x.shape[0], h - r0)
        if rows > 0:
            out[r0: r0 + rows] = x[:rows, :w].cpu().numpy()
    return out


@dataclass
class Quantized:
    y_hat: torch.Tensor
    steps: list  # per step: (key, symbols, sigma indices), in schedule order
    bitmaps: BitMaps
    mu: torch.Tensor  # the predicted mean of every element (LOF's greedy rounding pass needs it)

    @property
    def bits(self) -> float:
        return float(self.bitmaps.spatial.sum())


def add_bits(maps: BitMaps, key: StepKey, part: int, symbols: np.ndarray, index: np.ndarray, shape, msp) -> None:
    maps.add(key, part, symbol_bits(symbols, index).reshape(shape), msp.S, group_slice(key, msp))


@torch.no_grad()
def quantize_latent(lm: LoadedModel, y: torch.Tensor, rate: RatePoint) -> Quantized:
    """Walk the schedule on y (gained at `rate`) with the exact model: quantize each step against its
    predicted means."""
    msp = exact_model(lm)
    _, m, h, w = y.shape
    steps: list[tuple[StepKey, np.ndarray, np.ndarray]] = []
    maps = BitMaps.empty(h, w, m)
    mu_full = torch.zeros_like(y)

    def resolve(key, parts):
        out, syms, idxs = [], [], []
        gs = group_slice(key, msp)
        for i, (mu_fx, idx, target) in enumerate(parts):
            mu = to_float(mu_fx)
            sym = quantize(target - mu).to(torch.int64)
            sym_np = sym.flatten().cpu().numpy().astype(np.int32)
            idx_np = idx.flatten().cpu().numpy()
            add_bits(maps, key, i, sym_np, idx_np, mu.shape[1:], msp)
            r0, c0, stride = part_grid(key, i, msp.S)
            mu_full[:, gs, r0::stride, c0::stride] = mu
            out.append((sym << MU_FRAC_BITS) + mu_fx)
            syms.append(sym_np)
            idxs.append(idx_np)
        steps.append((key, np.concatenate(syms), np.concatenate(idxs)))
        return out

    y_fx = msp.run(tuple(y.shape), resolve, target=y, row=rate.row)
    return Quantized(to_float(y_fx), steps, maps, mu_full)


def exact_model(lm: LoadedModel):
    if not int(lm.model.exact.ready):
        raise ModelError(f"the weights {lm.path.name} have no integer entropy model, which .msp files are coded "
                         f"with; make one: mspview export {lm.path} NEW.pt")
    return lm.model.exact


def group_slice(key: StepKey, msp) -> slice:
    if key.step == 0:
        return slice(0, msp.M)
    return slice(key.group * msp.C, (key.group + 1) * msp.C)


def encode(lm: LoadedModel, image: LoadedImage, rate: RatePoint, profile: str = "fast",
           latent: torch.Tensor | None = None, should_stop: Callable[[], bool] | None = None) -> EncodedImage:
    """Encode an image (or an already optimised latent of it, from LOF) into .msp bytes; `should_stop`
    is asked between the network's bands (Cancelled)."""
    check_size(image.width, image.height)
    t0 = time.perf_counter()
    y = latent if latent is not None else analyse(lm, image.rgb, rate, should_stop)
    t1 = time.perf_counter()
    q = quantize_latent(lm, y, rate)
    verify_arithmetic(lm.model.device)  # never write a file whose distributions this machine got wrong
    t2 = time.perf_counter()
    records, payloads = [], []
    for scale in range(lm.model.config.num_scales, -1, -1):
        steps = [(sym, idx) for key, sym, idx in q.steps if key.scale == scale]
        lo, hi = symbol_range([sym for sym, _ in steps])
        stream, crc = StreamEncoder(lo, hi), 0
        for sym, idx in steps:
            stream.encode(sym, idx)
            crc = symbols_crc(sym, crc)
        payload = stream.finish()
        records.append(ScaleRecord(scale, len(payload), lo, hi, crc))
        payloads.append(payload)
    t3 = time.perf_counter()
    cfg = lm.model.config
    header = Header(lm.model_id, lm.hash_prefix, image.width, image.height, image.mode, rate.lam,
                    profile, cfg.num_scales, cfg.groups, cfg.M, records)
    data = bitstream.write(header, payloads)
    recon = synthesize(lm, q.y_hat, rate, image.height, image.width, should_stop)
    t4 = time.perf_counter()
    return EncodedImage(data, header, q.y_hat, recon, q.bitmaps,
                        {"analysis_s": t1 - t0, "model_s": t2 - t1, "entropy_s": t3 - t2, "synthesis_s": t4 - t3})


def check_model(lm: LoadedModel, header: Header) -> RatePoint:
    """Refuse a file made for other weights; the file's rate point."""
    cfg = lm.model.config
    if header.model_id != lm.model_id or header.weight_hash != lm.hash_prefix:
        raise ModelError(f"this file needs model {header.model_id} (weights {header.weight_hash.hex()}), "
                         f"but the loaded model is {lm.model_id} (weights {lm.hash_prefix.hex()}); "
                         f"pass the right weights with --model")
    if (header.num_scales, header.groups, header.channels) != (cfg.num_scales, cfg.groups, cfg.M):
        raise ModelError("file structure (S, G, M) does not match the loaded model")
    return lm.rate(header.lam)


class _Truncated(Exception):
    pass


class _ScaleStreams:
    """The file's scale streams, opened one after another as the schedule reaches each scale; checks
    each scale's CRC when its last chunk is read. A scale the (truncated) file lacks raises _Truncated."""

    def __init__(self, data: bytes, header: Header, start: int, device: torch.device):
        self.data, self.header, self.device = data, header, device
        self.slices = bitstream.payload_slices(header, start, len(data))
        keys = schedule(header.num_scales, header.groups)
        self.last_of_scale = {k for k, last in zip(keys, bitstream.closes_scale(keys)) if last}
        self.stream, self.decoder, self.crc = -1, None, 0
        self.bytes_read = start  # the header, then each scale once it is read whole

    def read(self, key: StepKey, index: np.ndarray) -> np.ndarray:
        if self.decoder is None:  # the first chunk of a scale opens its stream
            self.stream += 1
            rec = self.header.scales[self.stream]
            if self.slices[self.stream] is None:
                raise _Truncated
            b, e = self.slices[self.stream]
            self.decoder, self.crc = self._guard(key, lambda: StreamDecoder(self.data[b:e], rec.sym_min, rec.sym_max)), 0
        rec = self.header.scales[self.stream]
        symbols = self._guard(key, lambda: self.decoder.decode(index))
        self.crc = symbols_crc(symbols, self.crc)
        if key in self.last_of_scale:
            if self.crc != rec.crc:
                verify_arithmetic(self.device)  # bad arithmetic here, not a bad file, says so
                raise BitstreamError(f"{self._where(key)} is damaged: its symbols fail their CRC")
            self.decoder = None
            self.bytes_read += rec.nbytes
        return symbols

    def _where(self, key: StepKey) -> str:
        return f"scale {key.scale} (stream {self.stream + 1} of {len(self.header.scales)})"

    def _guard(self, key: StepKey, fn):
        try:
            return fn()
        except BitstreamError as e:  # the weights were checked by hash: what the coder cannot read is damage
            raise BitstreamError(f"{self._where(key)} is damaged: {e}") from None


@torch.no_grad()
def decode(lm: LoadedModel, data: bytes, max_scales: int | None = None,
           on_preview: Callable[[Preview], None] | None = None,
           should_stop: Callable[[], bool] | None = None) -> DecodedImage:
    """Decode .msp bytes. `max_scales` decodes only the first K scales (base = 1); a truncated file
    decodes the scales it holds. `on_preview` gets a preview per decoded scale (it may raise `Cancelled`
    to stop): the preview decoder's picture of the scales read where the weights have one, else the
    synthesis of the latent with every position not read at its predicted mean, scale by scale, at the
    resolution those scales support (`preview_factor`; a coarse one predicts down to scale 1 only,
    `coarse_picture`); a partial decode ends on that picture, its latent the whole latent so predicted.
    `should_stop` is asked between bands."""
    header, start, truncated = bitstream.read(data)
    rate = check_model(lm, header)
    msp = exact_model(lm)
    S = header.num_scales
    h, w = header.latent_size
    H, W = header.height, header.width
    shape = (1, header.channels, h, w)
    want = S + 1 if max_scales is None else max(1, min(S + 1, max_scales))
    maps = BitMaps.empty(h, w, header.channels)
    streams = _ScaleStreams(data, header, start, lm.model.device)
    timing = {"entropy_s": 0.0, "preview_s": 0.0}
    done: list[tuple[int, torch.Tensor]] = []  # (scale, y_hat_fx at that scale), coarse to fine
    t_start = time.perf_counter()

    def resolve(key, parts):
        index = [ix.flatten().cpu().numpy() for _, ix, _ in parts]
        t = time.perf_counter()
        sym = streams.read(key, np.concatenate(index))
        timing["entropy_s"] += time.perf_counter() - t
        out, pos = [], 0
        for j, ((mu_fx, _, _), ix) in enumerate(zip(parts, index)):
            n = ix.size
            add_bits(maps, key, j, sym[pos:pos + n], ix, mu_fx.shape[1:], msp)
            s = torch.from_numpy(sym[pos:pos + n].astype(np.int64)).to(mu_fx.device).view(mu_fx.shape)
            out.append((s << MU_FRAC_BITS) + mu_fx)
            pos += n
        return out

    made_by = PREVIEW_DECODER if lm.model.preview is not None else PREDICTED_MEANS

    def preview(s: int, y_s: torch.Tensor, filled: torch.Tensor | None = None):
        """The picture of the scales down to s: the preview decoder's where the weights have one, else
        the synthesis of the latent filled with predicted means at the resolution s supports (a coarse
        one filled down to scale 1 only, `filled` sampled where it is known); and the whole latent filled
        where the picture needed it, else None."""
        if made_by == PREVIEW_DECODER:
            return render_preview(lm, to_float(y_s), s, rate, H, W, should_stop), None
        factor = preview_factor(s)
        if factor > 1:
            y1 = msp.fill(shape, s, y_s, stop=1) if filled is None else filled[..., ::2, ::2]
            return coarse_picture(lm, to_float(y1), rate, H, W, factor, should_stop), None
        filled = msp.fill(shape, s, y_s) if filled is None else filled
        return synthesize(lm, to_float(filled), rate, H, W, should_stop), filled

    shown: dict = {}  # the last preview: its scale, image and whole latent (where it filled one)

    def on_scale(s, y_s):
        done.append((s, y_s))
        if on_preview and s > 0:
            t = time.perf_counter()
            image, filled = preview(s, y_s)
            shown.update(scale=s, y_fx=filled, image=image)
            on_preview(Preview(len(done), S + 1, shown["image"], streams.bytes_read, 8 * streams.bytes_read / (H * W),
                               made_by))
            timing["preview_s"] += time.perf_counter() - t
        if s > 0 and len(done) >= want:
            raise _Truncated

    last: dict = {}  # a partial decode's last preview, when it was made
    try:
        y_fx = msp.run(shape, resolve, on_scale=on_scale, row=rate.row)
    except _Truncated:
        if not done:
            raise BitstreamError("file truncated before its first scale") from None
        last = shown if shown.get("scale") == done[-1][0] else {}
        # the best estimate of the whole latent (the preview's own fill where it made one)
        y_fx = last["y_fx"] if last.get("y_fx") is not None else msp.fill(shape, *done[-1])
    t = time.perf_counter()
    if len(done) == S + 1:
        image = synthesize(lm, to_float(y_fx), rate, H, W, should_stop)
    else:
        image = last["image"] if last else preview(*done[-1], y_fx)[0]
    timing["synthesis_s"] = time.perf_counter() - t
    timing["total_s"] = time.perf_counter() - t_start
    # the MSP model's networks: what is left once decoding symbols, previews and synthesis are counted
    timing["model_s"] = timing["total_s"] - timing["entropy_s"] - timing["preview_s"] - timing["synthesis_s"]
    if on_preview and len(done) == S + 1:
        on_preview(Preview(S + 1, S + 1, image, streams.bytes_read, 8 * streams.bytes_read / (H * W), WHOLE_LATENT))
    return DecodedImage(header, image, to_float(y_fx), len(done), len(done) == S + 1 and not truncated, maps, timing,
                        streams.bytes_read)
