"""Compare training checkpoints or weight files on all 24 Kodak images, without writing files.

For each model: bpp (model rate, hard rounding) and PSNR at every trained lambda, the CPU- and
GPU-hours it had, and its BD-rate against measured anchor curves (default: our WebP measurement; repeat
`--anchor` for more, e.g. docs/results/kodak/jpeg2000.json for issue 3's second half). This is
the steering estimate for architecture and schedule choices (an A/B at equal CPU time); the
figures that count come from `mspview eval` on real files (format v4: about 0.5 % BD-rate behind
the estimate, the header and the coder overhead).

    python benchmarks/checkpoint_rd.py runs/s4a/last.pt runs/s4b/last.pt mspview/resources/msp_default.pt

`--ceiling` also prints the auto-encoder's own PSNR at the top lambda with no quantization at all,
g_s(g_a(x) * gain * inverse gain): no rate buys more than that (session 6: 34.3 dB, where JPEG 2000
reaches 36.0 dB at 1 bpp). `--latent-ceiling ITERS` asks the synthesis alone: the latent of every
third image optimised by Adam for ITERS steps for distortion only (no rate, no quantization), against
g_a's latent on the same images. Its gap to `--ceiling` is what a better analysis (or LOF) could win;
what it leaves below JPEG 2000 only a better synthesis can (session 10: 34.28 -> 35.54 dB on 8 images,
JPEG 2000 35.48 dB at 1 bpp on them).

Models with different lambda sets: `--lambdas` keeps the ones they share, so that the BD-rates are
taken over the same span.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mspview.codec.model import MSPCodecModel, ModelConfig  # noqa: E402
from mspview.codec.weights import load_weights  # noqa: E402
from mspview.eval.bdrate import bd_rate, span_gap  # noqa: E402
from mspview.resources import KODAK  # noqa: E402
from mspview.train.loop import image_batch, kodak_estimate, psnr_8bit  # noqa: E402


def load_any(path: Path) -> tuple[MSPCodecModel, float, int]:
    """A training checkpoint (runs/X/last.pt) or exported weights; returns model, (CPU-hours, GPU-hours), steps."""
    ck = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(ck, dict) and "state" in ck and "config" in ck:
        model = MSPCodecModel(ModelConfig.from_dict(ck["config"]))
        model.load_state_dict(ck["model"])
        st = ck["state"]
        return model, (float(st["cpu_hours"]), float(st.get("gpu_hours", 0.0))), int(st["step"])
    lm = load_weights(path)
    hours = (float(lm.card.get("cpu_hours", 0.0)), float(lm.card.get("gpu_hours", 0.0)))
    return lm.model, hours, int(lm.card.get("steps", 0))


@torch.no_grad()
def ae_ceiling(model: MSPCodecModel, folder: Path) -> float:
    """Mean PSNR-RGB over Kodak of the unquantized auto-encoder at the top lambda, output rounded to 8 bits."""
    model.eval()
    gain, inv_gain = model.gain.gain_at(torch.tensor(len(model.config.lambdas) - 1))
    psnrs = []
    for f in sorted(folder.glob("*.png")):
        x = image_batch(f)
        psnrs.append(psnr_8bit(model.g_s(model.g_a(x) * gain * inv_gain), x))
    return float(np.mean(psnrs))


def latent_ceiling(model: MSPCodecModel, folder: Path, iters: int, stride: int = 3) -> tuple[float, float, int]:
    """Mean PSNR-RGB of g_s(y) with y = g_a's latent (top lambda), and with y optimised for MSE alone
    (Adam, lr 0.02, cosine over `iters`), over every `stride`-th Kodak image; and the image count."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    gain, inv_gain = model.gain.gain_at(torch.tensor(len(model.config.lambdas) - 1))
    start, end = [], []
    for f in sorted(folder.glob("*.png"))[::stride]:
        x = image_batch(f)
        with torch.no_grad():
            y = model.g_a(x) * gain * inv_gain
            start.append(psnr_8bit(model.g_s(y), x))
        y.requires_grad_(True)
        opt = torch.optim.Adam([y], lr=0.02)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, iters)
        for _ in range(iters):
            opt.zero_grad()
            torch.mean((model.g_s(y) - x) ** 2).backward()
            opt.step()
            sched.step()
        with torch.no_grad():
            end.append(psnr_8bit(model.g_s(y), x))
    return float(np.mean(start)), float(np.mean(end)), len(start)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+", type=Path)
    p.add_argument("--kodak", type=Path, default=KODAK)
    p.add_argument("--anchor", type=Path, action="append", default=None,
                   help="a results JSON to compare with (repeatable; default docs/results/kodak/webp.json)")
    p.add_argument("--lambdas", default=None, help="comma-separated: only these trained lambdas")
    p.add_argument("--span", default="0.1,1.0", help="LO,HI bpp: also print the worst PSNR difference to the anchor there")
    p.add_argument("--ceiling", action="store_true", help="also print the unquantized auto-encoder's PSNR (top lambda)")
    p.add_argument("--latent-ceiling", type=int, default=0, metavar="ITERS",
                   help="also the synthesis' ceiling with the latent optimised for ITERS steps (every third image)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    anchors = [json.loads(a.read_text()) for a in (args.anchor or [REPO / "docs" / "results" / "kodak" / "webp.json"])]
    span = tuple(float(v) for v in args.span.split(","))
    for path in args.models:
        model, (cpu_h, gpu_h), steps = load_any(path)
        trained = model.config.lambdas
        wanted = [float(v) for v in args.lambdas.split(",")] if args.lambdas else trained
        indices = [i for i, lam in enumerate(trained) if any(math.isclose(lam, w, rel_tol=1e-6) for w in wanted)]
        if len(indices) < 4:  # what a BD-rate needs
            print(f"{path}: fewer than four of the wanted lambdas are trained ({', '.join(map(str, trained))})")
            return 1
        rows = kodak_estimate(model, args.kodak, lambda_indices=indices)
        curve = ([r["bpp"] for r in rows], [r["psnr"] for r in rows])
        points = "  ".join(f"{r['bpp']:.3f}/{r['psnr']:.2f}" for r in rows)
        print(f"{str(path):<28} {model.config.model_id:<30} step {steps:>7} {cpu_h:6.2f} CPU-h {gpu_h:5.2f} GPU-h  "
              f"{points}", flush=True)
        if args.ceiling:
            print(f"  auto-encoder ceiling (top lambda, no quantization): {ae_ceiling(model, args.kodak):.2f} dB", flush=True)
        if args.latent_ceiling:
            a, b, n = latent_ceiling(model, args.kodak, args.latent_ceiling)
            print(f"  synthesis ceiling ({n} images, top lambda, no rate): g_a's latent {a:.2f} dB, "
                  f"optimised for {args.latent_ceiling} steps {b:.2f} dB", flush=True)
        for anchor in anchors:
            a_curve = (anchor["results"]["bpp"], anchor["results"]["psnr-rgb"])
            name = anchor.get("name", "anchor")
            bd = bd_rate(a_curve, curve, name)
            gap = span_gap(a_curve, curve, span)
            worst = (f"worst {gap.worst:+.2f} dB at {gap.worst_at:.3f} bpp over {gap.covered[0]:.3f}-{gap.covered[1]:.3f}"
                     if gap.covered else "no common rates")
            print(f"  vs {name:<42} BD {bd.bd_rate:+6.2f} % ({bd.overlap[0]:.2f}-{bd.overlap[1]:.2f} dB)  {worst}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
