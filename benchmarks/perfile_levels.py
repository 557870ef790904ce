"""Per-file sigma levels, measured before building (they would need format v6): how much of a real
file's rate a header field that adapts the shipped levels to the file would save. The symbols are
those `fast` codes; each variant's side information is charged (4 bits per field):

- base, per channel: each base channel coded with the level that fits this file's symbols best;
- base, one shift: all base levels moved by the one offset (-6..6) that fits best;
- steps, one shift: every non-base step's levels moved by one offset;
- steps, a shift each: an offset per step.

Share of the whole file's bits, per lambda, on every third Kodak image and the first held-out photos.

    python benchmarks/perfile_levels.py [--heldout /work/data/heldout] [--photos 8] [--threads 1]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from mspview.codec.cdf_tables import SIGMA_LEVELS
from mspview.codec.coder import analyse, quantize_latent
from mspview.codec.entropy import symbol_bits
from mspview.codec.imageio import load_image
from mspview.codec.layout import BASE
from mspview.codec.weights import load_weights
from mspview.resources import KODAK

LAMBDAS = (0.00085, 0.0035, 0.013, 0.0483, 0.11)
SHIFTS = range(-6, 7)
FIELD_BITS = 4


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--heldout", type=Path, help="folder of held-out photos (PNG)")
    p.add_argument("--photos", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    lm = load_weights()
    m = lm.model.config.M

    def bits(sym: np.ndarray, idx: np.ndarray) -> float:  # shifted levels stop at the table's ends
        return float(symbol_bits(sym, np.clip(idx, 0, SIGMA_LEVELS - 1)).sum())

    def best_shift(sym: np.ndarray, idx: np.ndarray) -> float:
        return bits(sym, idx) - min(bits(sym, idx + k) for k in SHIFTS) - FIELD_BITS

    sets = {"kodak": sorted(KODAK.glob("*.png"))[::3]}
    if args.heldout:
        sets["held-out"] = sorted(args.heldout.glob("*.png"))[: args.photos]
    print("set       lambda   base per channel  base one shift  steps one shift  steps a shift each")
    for name, paths in sets.items():
        for lam in LAMBDAS:
            total, saved, rate = 0.0, np.zeros(4), lm.rate(lam)
            for path in paths:
                q = quantize_latent(lm, analyse(lm, load_image(path).rgb, rate), rate)
                rest_sym, rest_idx = [], []
                for key, sym, idx in q.steps:
                    idx = idx.astype(np.int64)
                    b = bits(sym, idx)
                    total += b
                    if key.step == BASE:  # channel-major
                        s, n = sym.reshape(m, -1), sym.size // m
                        best = sum(min(bits(s[c], np.full(n, j)) for j in range(SIGMA_LEVELS)) for c in range(m))
                        saved[0] += b - best - m * FIELD_BITS
                        saved[1] += best_shift(sym, idx)
                    else:
                        rest_sym.append(sym)
                        rest_idx.append(idx)
                        saved[3] += best_shift(sym, idx)
                saved[2] += best_shift(np.concatenate(rest_sym), np.concatenate(rest_idx))
            print(f"{name:<9} {lam:<8g} " + "  ".join(f"{-100 * v / total:+15.2f} %" for v in saved), flush=True)


if __name__ == "__main__":
    main()
