"""Reading input images into 8-bit RGB, by stated rules.

- EXIF orientation is applied.
- Grayscale (1-bit, 8-bit, 16-bit, 32-bit int) is coded as RGB with three equal channels; the .msp
  header records mode L and the decoder returns a grayscale image.
- 16-bit samples are reduced to 8 bits by round(v / 257); RGB images with more than 8 bits per
  sample are reduced by Pillow.
- Alpha is discarded (the colour channels are coded as they are) and a note says so.
- Palette images are expanded; CMYK, YCbCr, LAB and HSV are converted to RGB by Pillow.
- An embedded ICC profile (a Display-P3 phone photo, Adobe RGB) is applied on load: the pixels are
  converted to sRGB (LittleCMS, perceptual intent) and a note says so, so that what is shown, coded,
  compared and exported is sRGB, which is what a .msp file holds and every decoder writes.
- Pillow's decompression-bomb guard stays on; images over the codec's pixel limit are refused.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from .errors import ImageError
from .limits import MAX_PIXELS, MAX_SIDE


@dataclass
class LoadedImage:
    rgb: np.ndarray  # H x W x 3 uint8
    mode: str  # "RGB" or "L": what the decoder returns
    source_mode: str
    notes: list[str] = field(default_factory=list)

    @property
    def width(self) -> int:
        return self.rgb.shape[1]

    @property
    def height(self) -> int:
        return self.rgb.shape[0]


def check_size(width: int, height: int) -> None:
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise ImageError(f"image {width}x{height} is larger than the supported "
                         f"{MAX_PIXELS / 1e6:g} megapixels (or {MAX_SIDE} pixels a side)")
    if width < 1 or height < 1:
        raise ImageError("image has no pixels")


def to_srgb(im: Image.Image, notes: list[str]) -> Image.Image:
    """The image converted from its embedded ICC profile to sRGB (unchanged without one)."""
    icc = im.info.get("icc_profile")
    if not icc or im.mode not in ("RGB", "RGBA", "L", "LA", "CMYK"):
        return im
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        name = ImageCms.getProfileDescription(src).strip() or "embedded profile"
    except (OSError, ImageCms.PyCMSError):
        notes.append("embedded ICC profile unreadable: colours taken as sRGB")
        return im
    if "srgb" in name.lower().replace(" ", ""):
        return im  # already sRGB: nothing to convert
    mode = {"RGBA": "RGBA", "LA": "LA", "L": "L"}.get(im.mode, "RGB")
    try:
        out = ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode=mode)
    except ImageCms.PyCMSError as e:
        notes.append(f"embedded ICC profile ({name}) could not be applied ({e}): colours taken as sRGB")
        return im
    notes.append(f"converted from its ICC profile ({name}) to sRGB")
    return out


def from_pil(im: Image.Image) -> LoadedImage:
    notes: list[str] = []
    source_mode = im.mode
    im = ImageOps.exif_transpose(im)
    check_size(im.width, im.height)
    im = to_srgb(im, notes)
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        notes.append("alpha channel discarded")
        im = im.convert("RGB" if im.mode in ("RGBA", "RGBa", "PA") else "L")
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        a = np.asarray(im, dtype=np.float64)
        hi = 65535.0 if im.mode.startswith("I;16") or a.max(initial=0) > 255 else 255.0
        if hi > 255:
            notes.append("16-bit samples reduced to 8 bits (round(v / 257))")
        gray = np.clip(np.round(a * 255.0 / hi), 0, 255).astype(np.uint8)
        return LoadedImage(np.repeat(gray[..., None], 3, axis=2), "L", source_mode, notes)
    if im.mode == "F":
        gray = np.clip(np.round(np.asarray(im, dtype=np.float64)), 0, 255).astype(np.uint8)
        return LoadedImage(np.repeat(gray[..., None], 3, axis=2), "L", source_mode, notes)
    if im.mode in ("1", "L"):
        gray = np.asarray(im.convert("L"))
        return LoadedImage(np.repeat(gray[..., None], 3, axis=2), "L", source_mode, notes)
    if im.mode != "RGB":
        im = im.convert("RGB")
    return LoadedImage(np.ascontiguousarray(np.asarray(im, dtype=np.uint8)), "RGB", source_mode, notes)


def load_image(path: str | Path) -> LoadedImage:
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"no such image file: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                check_size(im.width, im.height)
                im.load()
                return from_pil(im)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{path.name}: refused by the decompression-bomb guard (too many pixels)") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path.name}: not an image format this program can read") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{path.name}: cannot read image ({e})") from None


def to_output(rgb: np.ndarray, mode: str) -> np.ndarray:
    """The decoder's RGB in the header's mode: grayscale sources come back as the channel mean."""
    if mode == "L":
        return np.round(rgb.astype(np.float32).mean(axis=2)).astype(np.uint8)
    return rgb


def save_image(pixels: np.ndarray, path: str | Path) -> None:
    """Save an H x W x 3 (RGB) or H x W (grayscale) uint8 array; the format follows the suffix."""
    Image.fromarray(pixels, "RGB" if pixels.ndim == 3 else "L").save(path)
