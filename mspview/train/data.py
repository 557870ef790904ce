"""Training patches from a folder of photos, decoded once into RAM.

Decoding and resizing JPEGs per step would cost as much CPU as a training step, so every image is
downscaled once (random factor, about 0.5-0.9 for JPEG sources, which removes most block artefacts)
and kept as uint8; a slice of the cache is re-downscaled with new factors every few thousand steps.
Patches are random crops with random flips.
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image

JPEG_SUFFIXES = {".jpg", ".jpeg"}  # lossy sources: downscaled more, to remove block artefacts
IMAGE_SUFFIXES = JPEG_SUFFIXES | {".png", ".webp", ".bmp", ".ppm"}


def list_images(root: str | Path) -> list[Path]:
    files = sorted(p for p in Path(root).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no training images under {root}")
    return files


class PatchSampler:
    def __init__(self, root: str | Path, patch: int = 128, seed: int = 0, rank: int = 0, world: int = 1,
                 jpeg_scale: tuple[float, float] = (0.5, 0.9), lossless_scale: tuple[float, float] = (0.7, 1.0)):
        self.files = list_images(root)[rank::world]
        self.patch = patch
        self.rng = random.Random(seed * 1000 + rank)
        self.jpeg_scale, self.lossless_scale = jpeg_scale, lossless_scale
        self.cache: list[np.ndarray] = [self._load(f) for f in self.files]

    def _load(self, path: Path) -> np.ndarray:
        with Image.open(path) as im:
            im = im.convert("RGB")
            lo, hi = self.jpeg_scale if path.suffix.lower() in JPEG_SUFFIXES else self.lossless_scale
            f = self.rng.uniform(lo, hi)
            f = max(f, (self.patch + 1) / min(im.size))  # a patch must fit
            size = (max(self.patch, round(im.width * f)), max(self.patch, round(im.height * f)))
            return np.asarray(im.resize(size, Image.Resampling.LANCZOS if f < 1 else Image.Resampling.BICUBIC))

    def refresh(self, fraction: float = 0.1) -> None:
        """Re-downscale a random slice of the cache with new factors."""
        for i in self.rng.sample(range(len(self.files)), max(1, int(len(self.files) * fraction))):
            self.cache[i] = self._load(self.files[i])

    def batch(self, n: int) -> torch.Tensor:
        """n random patches, uint8 NCHW (converted to float on the training device: 4x less to copy)."""
        p = self.patch
        out = np.empty((n, p, p, 3), dtype=np.uint8)
        for k in range(n):
            img = self.cache[self.rng.randrange(len(self.cache))]
            y = self.rng.randrange(img.shape[0] - p + 1)
            x = self.rng.randrange(img.shape[1] - p + 1)
            crop = img[y:y + p, x:x + p]
            if self.rng.random() < 0.5:
                crop = crop[:, ::-1]
            if self.rng.random() < 0.5:
                crop = crop[::-1]
            out[k] = crop
        return torch.from_numpy(out).permute(0, 3, 1, 2)


CALIBRATION_IMAGES = 24  # training photos whose latents set the integer entropy model's ranges
CALIBRATION_SIDE = 384


def calibration_images(root: str | Path, count: int = CALIBRATION_IMAGES, side: int = CALIBRATION_SIDE,
                       seed: int = 0) -> list[np.ndarray]:
    """`count` training photos chosen with a fixed seed, the largest centred square of each resized to
    side x side (LANCZOS: JPEG blocks fade as in training): what exact_export.quantize_from_float measures."""
    files = list_images(root)
    picks = random.Random(seed).sample(files, min(count, len(files)))
    out = []
    for path in picks:
        with Image.open(path) as im:
            im = im.convert("RGB")
            s = min(im.size)
            box = ((im.width - s) // 2, (im.height - s) // 2, (im.width + s) // 2, (im.height + s) // 2)
            out.append(np.asarray(im.resize((side, side), Image.Resampling.LANCZOS, box=box)))
    return out
