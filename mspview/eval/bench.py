"""Speed of one image size: encode/decode time, sequential steps, peak memory, and the decode time of a
pixel-serial context model of the same latent size (serial_context.py), for `mspview bench`
(commands/bench.py). Images are kodim23 resized to each size; times are the best of `repeat` runs."""
from __future__ import annotations

import resource
import time

import numpy as np
import torch
from PIL import Image

from ..codec.coder import analyse, decode, encode
from ..codec.imageio import LoadedImage
from ..codec.device import pick_device
from ..codec.weights import load_weights
from ..resources import SAMPLE
from .serial_context import SerialContextModel, roundtrip

SIZES = {"0.25MP": (576, 432), "1MP": (1152, 864), "2K": (1920, 1080), "4MP": (2304, 1728)}


def measure_size(name: str, model: str | None, device: str, repeat: int, serial: bool, threads: int | None) -> dict:
    """One image size, run in a fresh process so that its peak memory is its own."""
    if threads:
        torch.set_num_threads(threads)
    lm = load_weights(model, pick_device(device))
    rate = lm.rate(lm.model.config.default_lambda)
    w, h = SIZES[name]
    src = Image.open(SAMPLE).convert("RGB")
    img = LoadedImage(np.asarray(src.resize((w, h), Image.Resampling.BICUBIC)), "RGB", "RGB")
    enc_t, runs = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        data = encode(lm, img, rate).data
        enc_t.append(time.perf_counter() - t)
        runs.append(decode(lm, data).timings)
    best = min(runs, key=lambda r: r["total_s"])
    y = analyse(lm, img.rgb, rate).cpu()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    s_lat = roundtrip(SerialContextModel(lm.model.config.M), y)[1] if serial else float("nan")
    return {"name": name, "w": w, "h": h, "latent": (y.shape[3], y.shape[2]), "enc": min(enc_t),
            "steps": lm.model.msp.num_steps, "full": best["total_s"], "synth": best["synthesis_s"],
            "serial_steps": y.shape[2] * y.shape[3], "serial_latent": s_lat, "peak_gib": peak}
