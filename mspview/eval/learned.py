"""CompressAI models (the library most learned-compression research builds on) as comparison codecs,
behind the classical codecs' interface: real `compress()` bitstreams, `decompress()` to pixels, each
checkpoint one rate point. Optional: `pip install 'mspview[compressai]'`; nothing is downloaded, the
user names checkpoint files (a state dict, as CompressAI's training script writes it under
"state_dict", or the zoo's plain layout).

A file here is the model's strings in a small container (every byte counted in the rate): magic, the
checkpoint's index, the image size, the latent shape, then each string with its length.
"""
from __future__ import annotations

import hashlib
import io
import struct
from pathlib import Path

import numpy as np
import torch

from ..codec.errors import Cancelled, MSPError
from ..codec.transforms import pixels_tensor
from .search import Search, Trial

MAGIC = b"CAI1"
INSTALL = ("CompressAI is not installed: pip install 'mspview[compressai]' (on a CPU-only torch from PyPI, "
           "install compressai with --no-deps beside einops, tqdm, requests, pandas and torch_geometric)")
STRIDE = 64  # the hyperprior models' total downsampling: images are padded to a multiple of it


def architectures() -> dict:
    try:
        from compressai.zoo.image import model_architectures
    except ImportError:
        raise MSPError(INSTALL) from None
    return model_architectures


def _load(arch: str, path: Path) -> torch.nn.Module:
    archs = architectures()
    if arch not in archs:
        raise MSPError(f"unknown CompressAI architecture {arch!r}; choose from {', '.join(archs)}")
    if not path.is_file():
        raise MSPError(f"no such checkpoint: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means a bad file
        raise MSPError(f"unreadable checkpoint {path.name}: {e}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    state = {k.removeprefix("module."): v for k, v in state.items()}
    try:
        from compressai.zoo.pretrained import load_pretrained
        net = archs[arch].from_state_dict(load_pretrained(state))
    except (RuntimeError, KeyError, ValueError, AttributeError) as e:
        raise MSPError(f"{path.name} is not a {arch} checkpoint: {e}") from None
    net.update(force=True)
    return net.eval()


class CompressAICodec:
    """One architecture and its checkpoints (one per rate point), as a comparison codec: `encode(rgb,
    index)` / `decode(data)` on real bitstreams; matching tries every checkpoint, so the closest file and
    the two that bracket a target are real files."""
    knob = "checkpoint"
    integer = True
    suffix = ".cai"  # its own container: the strings and shape CompressAI's decompress takes

    def __init__(self, arch: str, checkpoints: list[str | Path]):
        if not checkpoints:
            raise MSPError(f"compressai:{arch}: name at least one checkpoint file")
        self.arch, self.paths = arch, [Path(p) for p in checkpoints]
        self.models = [_load(arch, p) for p in self.paths]
        self.name = f"compressai-{arch}"
        self.label = f"CompressAI {arch} ({len(self.paths)} checkpoints: {', '.join(p.name for p in self.paths)})"
        self.sweep = tuple(range(len(self.paths)))
        h = hashlib.sha256()
        for p in self.paths:
            h.update(p.read_bytes())
        self.sha256 = h.hexdigest()

    @property
    def spec(self) -> str:
        return f"compressai:{self.arch}:{','.join(str(p) for p in self.paths)}"

    # ------------------------------------------------------------------ files
    @torch.no_grad()
    def encode(self, rgb: np.ndarray, setting: float) -> bytes:
        i = int(round(setting))
        h, w = rgb.shape[:2]
        x = _padded(rgb)
        out = self.models[i].compress(x)
        buf = io.BytesIO()
        buf.write(MAGIC + struct.pack("<BII", i, w, h))
        shape = tuple(out["shape"])
        buf.write(struct.pack("<BB", len(shape), len(out["strings"])) + struct.pack(f"<{len(shape)}H", *shape))
        for strings in out["strings"]:
            (s,) = strings  # one image
            buf.write(struct.pack("<I", len(s)) + s)
        return buf.getvalue()

    @torch.no_grad()
    def decode(self, data: bytes) -> np.ndarray:
        try:
            if data[:4] != MAGIC:
                raise ValueError("not a CompressAI file of mspview")
            i, w, h = struct.unpack_from("<BII", data, 4)
            pos = 13
            ndim, nstrings = struct.unpack_from("<BB", data, pos)
            pos += 2
            shape = struct.unpack_from(f"<{ndim}H", data, pos)
            pos += 2 * ndim
            strings = []
            for _ in range(nstrings):
                (n,) = struct.unpack_from("<I", data, pos)
                strings.append([data[pos + 4: pos + 4 + n]])
                pos += 4 + n
            x = self.models[i].decompress(strings, list(shape))["x_hat"]
        except (ValueError, struct.error, IndexError, RuntimeError) as e:
            raise MSPError(f"{self.name}: cannot decode its own file: {e}") from None
        return (x[0, :, :h, :w].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()

    @torch.no_grad()
    def bits_map(self, rgb: np.ndarray, setting: float) -> np.ndarray:
        """Estimated bits per latent position (1/16 of the image each way) from the model's likelihoods."""
        out = self.models[int(round(setting))](_padded(rgb))
        bits = -torch.log2(out["likelihoods"]["y"].clamp_min(1e-9)).sum(1)[0]
        h, w = rgb.shape[:2]
        return bits[: -(-h // 16), : -(-w // 16)].numpy().astype(np.float64)

    # ------------------------------------------------------------------ matching, as classical.Classical does
    def at_bpp(self, rgb: np.ndarray, target: float, tolerance: float = 0.05, should_stop=None) -> Search:
        from .metrics import bpp
        h, w = rgb.shape[:2]
        return self._all(rgb, lambda data: bpp(len(data), w, h), target, tolerance * target, should_stop)

    def at_psnr(self, rgb: np.ndarray, target: float, tolerance: float = 0.05, should_stop=None) -> Search:
        from .metrics import psnr

        def measure(data):
            return psnr(self.decode(data), rgb)

        return self._all(rgb, measure, target, tolerance, should_stop)

    def _all(self, rgb, measure, target, tolerance, should_stop) -> Search:
        """Every checkpoint's file: a model's rate points are its checkpoints, there is nothing to bisect."""
        search = Search(target, tolerance, [])
        for i in self.sweep:
            if should_stop and should_stop():
                raise Cancelled("search cancelled")
            data = self.encode(rgb, i)
            search.trials.append(Trial(i, data, measure(data)))
        return search


def _padded(rgb: np.ndarray) -> torch.Tensor:
    h, w = rgb.shape[:2]
    x = pixels_tensor(rgb)
    ph, pw = -(-h // STRIDE) * STRIDE - h, -(-w // STRIDE) * STRIDE - w
    return torch.nn.functional.pad(x, (0, pw, 0, ph), mode="replicate")


_CODECS: dict[str, CompressAICodec] = {}


def from_spec(spec: str) -> CompressAICodec:
    """'compressai:ARCH:CKPT[,CKPT...]' -> the codec (loaded once per process)."""
    try:
        _, arch, paths = spec.split(":", 2)
    except ValueError:
        raise MSPError(f"a CompressAI codec is compressai:ARCH:CKPT[,CKPT...], not {spec!r}") from None
    if spec not in _CODECS:
        _CODECS[spec] = CompressAICodec(arch, [p for p in paths.split(",") if p])
    return _CODECS[spec]


def split_codecs(text: str) -> list[str]:
    """--codecs 'msp,webp,compressai:mbt2018-mean:a.pth,b.pth,jpeg': the checkpoints after a compressai
    entry belong to it (a word that is not a codec's name)."""
    from . import classical
    out: list[str] = []
    for word in (w.strip() for w in text.split(",")):
        if not word:
            continue
        if out and out[-1].startswith("compressai:") and word != "msp" and word not in classical.CODECS \
                and not word.startswith("compressai:"):
            out[-1] += "," + word
        else:
            out.append(word)
    return out
