"""Quality metrics on decoded 8-bit images: PSNR (RGB) and MS-SSIM (pytorch-msssim)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from pytorch_msssim import ms_ssim as _ms_ssim

from ..codec.metrics import psnr_uint8 as psnr  # noqa: F401 - one PSNR for the codec and the evaluation

MS_SSIM_MIN_SIDE = 161  # five scales with an 11-tap window need at least this many pixels a side
MS_SSIM_MAX_PIXELS = 16_000_000  # pytorch-msssim holds about ten float64 copies: ~4 GB at this size


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """MS-SSIM on RGB 8-bit images; NaN for images too small for five scales or over 16 megapixels."""
    if min(a.shape[:2]) < MS_SSIM_MIN_SIDE or a.shape[0] * a.shape[1] > MS_SSIM_MAX_PIXELS:
        return float("nan")

    def t(x: np.ndarray) -> torch.Tensor:
        x = x if x.ndim == 3 else np.repeat(x[..., None], 3, axis=2)
        return torch.from_numpy(np.array(x, dtype=np.float64)).permute(2, 0, 1)[None]

    with torch.no_grad():
        return float(_ms_ssim(t(a), t(b), data_range=255.0))


def bpp(nbytes: int, width: int, height: int) -> float:
    return 8.0 * nbytes / (width * height)


@dataclass(frozen=True)
class Measured:
    """One rate-distortion point: a file's size and its decoded picture against the original."""
    nbytes: int
    bpp: float
    psnr: float
    ms_ssim: float  # NaN where MS-SSIM is not defined (small or huge images)

    def row(self) -> dict:
        """The point in the results format's keys (CompressAI's)."""
        return {"bytes": self.nbytes, "bpp": self.bpp, "psnr-rgb": self.psnr, "ms-ssim-rgb": self.ms_ssim}


def measure(nbytes: int, decoded: np.ndarray, original: np.ndarray) -> Measured:
    """The one place a file of nbytes decoded to `decoded` is measured (CLI, evaluation and app alike)."""
    h, w = original.shape[:2]
    return Measured(nbytes, bpp(nbytes, w, h), psnr(decoded, original), ms_ssim(decoded, original))
