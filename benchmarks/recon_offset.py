"""Decoder-side reconstruction offsets, measured before building: a nonzero residual k of a position
predicted N(mu, sigma) lies, on average, closer to mu than k (its bin's centroid). Moving each decoded
value there (y_hat = mu + k + offset(sigma, |k|), the symbols unchanged, so no bit more) would help
if the synthesis rendered a latent nearer the analysis' better. The offsets are measured on training
photos (the mean of sign(k) (r - k) per sigma band and |k| in 1, 2, >= 3), then applied to Kodak.
Float path, teacher-forced, the symbols `fast` rounds; PSNR against the same decode without offsets.

    python benchmarks/recon_offset.py [--images 8] [--train 10] [--lambdas 1,4,7] [--threads 1]
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mspview.codec.weights import load_weights
from mspview.resources import KODAK

TRAIN = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "train"
SIGMA_EDGES = torch.tensor([0.0, 0.15, 0.25, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0, 3.0, 5.0, math.inf])


def load(path: Path) -> torch.Tensor:
    a = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255
    h, w = a.shape[0] // 16 * 16, a.shape[1] // 16 * 16
    return torch.from_numpy(a[:h, :w].copy()).permute(2, 0, 1)[None]


def residuals(model, x: torch.Tensor, li: int):
    """The gained latent's parts as the MSP model codes them: (y_hat, {(key, part): (sigma, k, r)})."""
    gain, _ = model.gain.gain_at(torch.tensor(li))
    y = model.g_a(x) * gain
    parts_of = {}

    def resolve(key, parts):
        out = []
        for j, (mu, sigma, t) in enumerate(parts):
            r = t - mu
            parts_of[(key, j)] = (sigma, torch.round(r), r)
            out.append(torch.round(r) + mu)
        return out

    return model.msp.run(tuple(y.shape), resolve, target=y), parts_of


def offsets_table(model, paths: list[Path], li: int) -> torch.Tensor:
    """Mean of sign(k) (r - k) per sigma band (rows) and |k| = 1, 2, >= 3 (columns)."""
    sig, ks, err = [], [], []
    for p in paths:
        _, parts = residuals(model, load(p), li)
        for sigma, k, r in parts.values():
            sig.append(sigma.flatten()), ks.append(k.flatten()), err.append((r - k).flatten())
    s, k, e = torch.cat(sig), torch.cat(ks), torch.cat(err)
    band, col = torch.bucketize(s, SIGMA_EDGES) - 1, k.abs().clamp(max=3).long() - 1
    table = torch.zeros(len(SIGMA_EDGES) - 1, 3)
    for b in range(table.shape[0]):
        for c in range(3):
            sel = (band == b) & (col == c)
            if sel.sum() > 50:  # too few samples: no offset
                table[b, c] = (torch.sign(k[sel]) * e[sel]).mean()
    return table


def psnr_of(model, x: torch.Tensor, li: int, table: torch.Tensor | None) -> float:
    _, inv_gain = model.gain.gain_at(torch.tensor(li))
    y_hat, parts = residuals(model, x, li)
    if table is not None:
        def offsets(key, part_list):  # the same walk assembles the offsets where their positions are
            out = []
            for j, _ in enumerate(part_list):
                sigma, k, _ = parts[(key, j)]
                band = (torch.bucketize(sigma.contiguous(), SIGMA_EDGES) - 1).clamp(0, table.shape[0] - 1)
                v = table[band, (k.abs().clamp(max=3).long() - 1).clamp(min=0)]
                out.append(torch.sign(k) * v)
            return out
        y_hat = y_hat + model.msp.run(tuple(y_hat.shape), offsets, target=y_hat)
    x_hat = (model.g_s(y_hat * inv_gain).clamp(0, 1) * 255).round()
    mse = (x_hat - x * 255).pow(2).mean().item()
    return 10 * math.log10(255 ** 2 / mse)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=8, help="Kodak images (every 24/N-th)")
    p.add_argument("--train", type=int, default=10, help="training photos the offsets are measured on")
    p.add_argument("--lambdas", default="1,4,7", help="indices of the trained lambdas")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = load_weights().model.eval()
    train = sorted(TRAIN.glob("bsds500/*.jpg"))[: args.train // 2] + sorted(TRAIN.glob("urban100/*.png"))[: args.train - args.train // 2]
    kodak = sorted(Path(KODAK).glob("*.png"))[:: max(1, 24 // args.images)][: args.images]
    with torch.no_grad():
        for li in map(int, args.lambdas.split(",")):
            table = offsets_table(model, train, li)
            base = [psnr_of(model, load(k), li, None) for k in kodak]
            moved = [psnr_of(model, load(k), li, table) for k in kodak]
            print(f"lambda {model.config.lambdas[li]}: {np.mean(base):.3f} dB without offsets, "
                  f"{np.mean(moved) - np.mean(base):+.3f} dB with (|k|=1 offsets {table[:, 0].numpy().round(2)})",
                  flush=True)


if __name__ == "__main__":
    main()
