"""A pixel-serial autoregressive context model (Minnen et al. 2018 style), for decode-time comparison.

The per-position work of CompressAI's `mbt2018` (JointAutoregressiveHierarchicalPriors) at our
latent size M: a 5x5 masked convolution (M -> 2M) over the already decoded latent, concatenated with
the hyperprior's parameters at that position (2M), and the entropy-parameter network of 1x1
convolutions 4M -> 10M/3 -> 8M/3 -> 2M, giving a Gaussian (mu, sigma) per element. Decoding visits
the latent positions one by one in raster order, because each position's distribution depends on
its decoded neighbours: O(h * w) sequential network calls, against the MSP model's fixed 1 + 2*S*G.
Symbols go through the same range coder and scale table as mspview. Encoder and decoder run the same
per-position computation, so the file decodes exactly (checked by `roundtrip`). The weights and the
hyperprior parameters are random (the hyper-synthesis would run once, in parallel, before the loop):
decode time does not depend on their values.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import constriction

from ..codec.entropy import SCALE_TABLE, quantize, sigma_index
from ..codec.errors import BitstreamError


class SerialContextModel(nn.Module):
    def __init__(self, channels: int, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        m = channels
        w = torch.randn(2 * m, m, 5, 5, generator=g) * (1.0 / (m * 12) ** 0.5)
        mask = torch.ones(5, 5)
        mask[2, 2:] = 0  # type A: the centre and everything after it in raster order are unknown
        mask[3:, :] = 0
        self.register_buffer("weight", w * mask)
        self.register_buffer("bias", torch.zeros(2 * m))
        self.params = nn.Sequential(nn.Conv2d(4 * m, 10 * m // 3, 1), nn.LeakyReLU(), nn.Conv2d(10 * m // 3, 8 * m // 3, 1),
                                    nn.LeakyReLU(), nn.Conv2d(8 * m // 3, 2 * m, 1))
        self.M = m
        self.seed = seed

    def hyper_params(self, h: int, w: int) -> torch.Tensor:
        """Stand-in for the hyper-synthesis output (2M channels per latent position)."""
        g = torch.Generator().manual_seed(self.seed + 1)
        return torch.randn(1, 2 * self.M, h, w, generator=g) * 0.1

    def _dist(self, window: torch.Tensor, hyper: torch.Tensor) -> tuple[torch.Tensor, np.ndarray]:
        """mu (M,) and sigma indices (M,) for the position at the centre of a 5x5 window."""
        ctx = F.conv2d(window, self.weight, self.bias)
        out = self.params(torch.cat([hyper, ctx], 1))[0, :, 0, 0]
        mu, raw = out.chunk(2)
        return mu, sigma_index(F.softplus(raw) + 0.11).numpy()

    @torch.no_grad()
    def compress(self, y: torch.Tensor) -> tuple[bytes, int, int, torch.Tensor]:
        _, m, h, w = y.shape
        y_hat = torch.zeros(1, m, h + 4, w + 4)
        hyper = self.hyper_params(h, w)
        syms, idxs = [], []
        for i in range(h):
            for j in range(w):
                mu, idx = self._dist(y_hat[:, :, i:i + 5, j:j + 5], hyper[:, :, i:i + 1, j:j + 1])
                s = quantize(y[0, :, i, j] - mu)
                y_hat[0, :, i + 2, j + 2] = s + mu
                syms.append(s.to(torch.int32).numpy())
                idxs.append(idx)
        sym = np.concatenate(syms)
        lo, hi = int(sym.min()), int(sym.max())
        enc = constriction.stream.queue.RangeEncoder()
        enc.encode(sym, constriction.stream.model.QuantizedGaussian(lo, hi), np.zeros(sym.size),
                   SCALE_TABLE[np.concatenate(idxs)])
        return enc.get_compressed().tobytes(), lo, hi, y_hat[..., 2:-2, 2:-2]

    @torch.no_grad()
    def decompress(self, data: bytes, lo: int, hi: int, h: int, w: int) -> torch.Tensor:
        m = self.M
        dec = constriction.stream.queue.RangeDecoder(np.frombuffer(data, dtype=np.uint32).copy())
        model = constriction.stream.model.QuantizedGaussian(lo, hi)
        zeros = np.zeros(m)
        y_hat = torch.zeros(1, m, h + 4, w + 4)
        hyper = self.hyper_params(h, w)
        for i in range(h):  # the O(n) loop: one network call and one decode per latent position
            for j in range(w):
                mu, idx = self._dist(y_hat[:, :, i:i + 5, j:j + 5], hyper[:, :, i:i + 1, j:j + 1])
                s = dec.decode(model, zeros, SCALE_TABLE[idx])
                y_hat[0, :, i + 2, j + 2] = torch.from_numpy(np.asarray(s, dtype=np.float32)) + mu
        return y_hat[..., 2:-2, 2:-2]


def roundtrip(model: SerialContextModel, y: torch.Tensor) -> tuple[bytes, float]:
    """Compress and decompress; returns (bytes, decode seconds) after checking the decode is exact."""
    import time

    data, lo, hi, y_enc = model.compress(y)
    t = time.perf_counter()
    y_dec = model.decompress(data, lo, hi, y.shape[2], y.shape[3])
    seconds = time.perf_counter() - t
    if not torch.equal(y_dec, y_enc):
        raise BitstreamError("serial context model: decoded latent differs from the encoder's")
    return data, seconds
