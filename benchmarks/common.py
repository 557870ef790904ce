"""What the 2K timing benchmarks share: the test picture and the CPU flags printed beside each figure."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from mspview.resources import KODAK, SAMPLE

SIZE_2K = (1920, 1280)


def image_2k(source: Path | None = None) -> np.ndarray:
    """`source` (default: kodim23 where the Kodak set is, else the bundled sample) resized to 1920x1280 RGB."""
    if source is None:
        source = KODAK / "kodim23.png" if (KODAK / "kodim23.png").is_file() else SAMPLE
    return np.asarray(Image.open(source).convert("RGB").resize(SIZE_2K, Image.Resampling.BICUBIC))


def cpu_flags() -> str:
    """The flags that choose the arithmetic and the speed: AMX, AVX512-BF16/VNNI, AVX2."""
    flags = next((line for line in open("/proc/cpuinfo") if line.startswith("flags")), "").split()
    return " ".join(f for f in flags if f.startswith(("amx", "avx512_bf16", "avx512_vnni", "avx2"))) or "?"
