"""Classical codecs through real libraries, each with its quality knob and a bisection to a target bpp.

JPEG, WebP, AVIF (4:4:4 and 4:2:0) and JPEG 2000 through Pillow; HEVC-intra in HEIF through
pillow-heif (libheif + x265); JPEG XL through imagecodecs (libjxl).
"""
from __future__ import annotations

import io
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image

from ..codec.errors import MSPError
from .metrics import bpp as bits_per_pixel
from .metrics import psnr
from .search import Search, Trial, bisect


@dataclass(frozen=True)
class Classical:
    name: str
    label: str
    knob: str  # what the setting means
    lo: float  # setting range; higher setting = more bits when `increasing`
    hi: float
    sweep: tuple[float, ...]  # settings used for RD curves
    _encode: Callable[[np.ndarray, float], bytes]
    _decode: Callable[[bytes], np.ndarray]
    integer: bool = True
    increasing: bool = True
    log_knob: bool = False  # bisect in log space (ratios, distances)
    suffix: str = ""  # the file type its bytes are saved as

    def encode(self, rgb: np.ndarray, setting: float) -> bytes:
        try:
            return self._encode(np.ascontiguousarray(rgb), int(round(setting)) if self.integer else float(setting))
        except (OSError, ValueError, RuntimeError, MemoryError) as e:  # e.g. WebP's 16383-pixel side limit
            h, w = rgb.shape[:2]
            raise MSPError(f"{self.label} cannot encode this {w}x{h} image: {e}") from None

    def decode(self, data: bytes) -> np.ndarray:
        try:
            return self._decode(data)
        except (OSError, ValueError, RuntimeError, MemoryError) as e:
            raise MSPError(f"{self.label} cannot decode its own file: {e}") from None

    def at_bpp(self, rgb: np.ndarray, target: float, tolerance: float = 0.05, should_stop=None) -> Search:
        """Bisection on the setting towards `target` bpp (within `tolerance`, relative): every file tried,
        the closest first among equals. Raises Cancelled when `should_stop()` turns true between tries."""
        h, w = rgb.shape[:2]

        def measure(setting: float) -> Trial:
            data = self.encode(rgb, setting)
            return Trial(setting, data, bits_per_pixel(len(data), w, h))

        return self._bisect(measure, target, tolerance * target, should_stop)

    def at_psnr(self, rgb: np.ndarray, target: float, tolerance: float = 0.05, should_stop=None) -> Search:
        """Bisection on the setting towards `target` PSNR (within `tolerance` dB); each try's decoded
        image is in its `extra`."""
        def measure(setting: float) -> Trial:
            data = self.encode(rgb, setting)
            t = time.perf_counter()
            image = self.decode(data)
            return Trial(setting, data, psnr(image, rgb), {"image": image, "decode_s": time.perf_counter() - t})

        return self._bisect(measure, target, tolerance, should_stop)

    def _bisect(self, measure, target: float, tolerance: float, should_stop) -> Search:
        return bisect(measure, self.lo, self.hi, target, tolerance, integer=self.integer, log=self.log_knob,
                      increasing=self.increasing, should_stop=should_stop)


def _pil_encode(fmt: str, **fixed):
    def enc(rgb: np.ndarray, q) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(rgb, "RGB").save(buf, format=fmt, quality=q, **fixed)
        return buf.getvalue()
    return enc


def _pil_decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def _j2k_encode(rgb: np.ndarray, ratio: float) -> bytes:
    buf = io.BytesIO()
    # Lossy J2K proper: the 9/7 wavelet and the colour transform (Pillow's defaults, 5/3 and none, are the
    # lossless setup: 2-4 dB worse on Kodak at equal rate).
    Image.fromarray(rgb, "RGB").save(buf, format="JPEG2000", quality_mode="rates", quality_layers=[ratio],
                                     irreversible=True, mct=1)
    return buf.getvalue()


def _heic_encode(rgb: np.ndarray, q) -> bytes:
    import pillow_heif

    buf = io.BytesIO()
    pillow_heif.from_bytes("RGB", (rgb.shape[1], rgb.shape[0]), rgb.tobytes()).save(buf, quality=q, chroma=444)
    return buf.getvalue()


def _heic_decode(data: bytes) -> np.ndarray:
    import pillow_heif

    f = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
    return np.asarray(f.to_pillow().convert("RGB"))


def _jxl_encode(rgb: np.ndarray, distance: float) -> bytes:
    import imagecodecs

    return bytes(imagecodecs.jpegxl_encode(rgb, distance=distance, effort=7))


def _jxl_decode(data: bytes) -> np.ndarray:
    import imagecodecs

    return np.asarray(imagecodecs.jpegxl_decode(data))[..., :3]


CODECS: dict[str, Classical] = {c.name: c for c in (
    Classical("jpeg", "JPEG (Pillow, 4:2:0)", "quality", 1, 95, (10, 20, 30, 40, 50, 60, 70, 80, 90, 95),
              _pil_encode("JPEG", optimize=True), _pil_decode, suffix=".jpg"),
    Classical("webp", "WebP (Pillow, method 6)", "quality", 0, 100, (0, 2, 5, 15, 25, 40, 55, 70, 80, 90, 95),
              _pil_encode("WEBP", method=6), _pil_decode, suffix=".webp"),
    Classical("avif", "AVIF 4:4:4 (Pillow, libaom)", "quality", 0, 100, (15, 25, 35, 45, 55, 65, 75, 85),
              _pil_encode("AVIF", subsampling="4:4:4", speed=6), _pil_decode, suffix=".avif"),
    Classical("avif420", "AVIF 4:2:0 (Pillow, libaom)", "quality", 0, 100, (15, 25, 35, 45, 55, 65, 75, 85),
              _pil_encode("AVIF", subsampling="4:2:0", speed=6), _pil_decode, suffix=".avif"),
    Classical("heic", "HEVC-intra 4:4:4 in HEIF (x265)", "quality", 0, 100, (10, 20, 30, 40, 50, 60, 70, 80, 90),
              _heic_encode, _heic_decode, suffix=".heic"),
    Classical("jxl", "JPEG XL (libjxl, effort 7)", "distance", 0.1, 15.0, (0.5, 0.8, 1.2, 1.8, 2.6, 3.6, 5.0, 7.0, 10.0),
              _jxl_encode, _jxl_decode, integer=False, increasing=False, log_knob=True, suffix=".jxl"),
    Classical("jpeg2000", "JPEG 2000 (Pillow, OpenJPEG 9/7 + ICT)", "compression ratio", 4.0, 400.0,
              (10, 16, 24, 32, 48, 64, 96, 128, 192), _j2k_encode, _pil_decode, integer=False, increasing=False,
              log_knob=True, suffix=".jp2"),
)}


def get(name: str) -> Classical:
    try:
        return CODECS[name]
    except KeyError:
        raise MSPError(f"unknown codec {name!r}; choose from {', '.join(CODECS)}") from None
