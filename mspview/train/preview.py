"""`mspview train-preview WEIGHTS OUT.pt`: train the preview decoder (codec/preview.py) of a weights file,
the codec frozen, and write the weights with it (a new file: the previews are covered by its SHA-256).

The codec's part is computed once: random crops of the training photos, each at a random trained λ,
analysed and quantized by the exact model as a file would be (latents divided by the gain, as the
synthesis gets them), held in RAM; then the decoder learns, for every scale a prefix of a file can end
on, the picture from that scale's latent (MSE). Cheap on a CPU: it runs at 1/16 of the synthesis' cost.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ..codec.coder import quantize_latent
from ..codec.errors import MSPError
from ..codec.model import MSPCodecModel, fast_bf16
from ..codec.preview import PreviewDecoder
from ..codec.weights import card_path, load_weights, save_weights
from ..resources import TRAIN_DATA
from .data import PatchSampler


def without_preview(model: MSPCodecModel) -> MSPCodecModel:
    """A copy of `model` without its preview decoder."""
    bare = MSPCodecModel(dataclasses.replace(model.config, preview=0))
    bare.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("preview.")})
    return bare


def scale_latent(y_hat: torch.Tensor, scale: int) -> torch.Tensor:
    """The latent of scale s: every 2^s-th position (what the file's first streams hold)."""
    return y_hat[..., ::2 ** scale, ::2 ** scale]


def preview_losses(preview: PreviewDecoder, y: torch.Tensor, x: torch.Tensor) -> list[torch.Tensor]:
    """Per scale (1 .. S) the MSE of the preview from that scale's latent against the crops x in [0, 1]."""
    out = []
    for s in range(1, len(preview.lift) + 1):
        x_hat = preview(scale_latent(y, s), s)[..., :x.shape[-2], :x.shape[-1]].float()
        out.append(F.mse_loss(x_hat, x))
    return out


@torch.no_grad()
def codec_samples(lm, sampler: PatchSampler, count: int, rng: random.Random, log=print) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` (latent / gain as fp16, crop as uint8) pairs, one random trained λ each."""
    model = lm.model
    latents, crops = [], []
    t0 = time.time()
    for i in range(count):
        x8 = sampler.batch(1)
        lam = rng.choice(model.config.lambdas)
        rate = lm.rate(lam)
        y = model.g_a(x8.float() / 255.0) * rate.gain
        latents.append((quantize_latent(lm, y, rate).y_hat * rate.inverse_gain).half())
        crops.append(x8)
        if (i + 1) % 100 == 0:
            log(f"  codec samples {i + 1}/{count} ({time.time() - t0:.0f} s)")
    return torch.cat(latents), torch.cat(crops)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mspview train-preview", description=__doc__.splitlines()[0])
    p.add_argument("weights", help="the codec's weights file (its card beside it)")
    p.add_argument("output", help="weights file to write: the codec's weights with the preview decoder")
    p.add_argument("--data", default=str(TRAIN_DATA), help="folder of training photos (never the test set)")
    p.add_argument("--width", type=int, default=96, help="preview decoder width (channels on the latent grid)")
    p.add_argument("--init", default=None,
                   help="start from this weights file's preview decoder (its width); with --hours 0, only attach it")
    p.add_argument("--samples", type=int, default=1200, help="crops computed through the codec once")
    p.add_argument("--crop", type=int, default=512, help="crop side (a multiple of 16 * 2^scales)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--hours", type=float, default=0.5, help="training time (the samples not counted; 0: none)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")
    args = p.parse_args(argv)
    try:
        return train(args)
    except (MSPError, FileNotFoundError, ValueError) as e:
        print(f"mspview train-preview: error: {e}", file=sys.stderr)
        return 2


def train(args) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.output)
    if out.exists() and out.resolve() == Path(args.weights).resolve():
        raise MSPError("write the new weights to another file than the source")
    if out.exists() and not args.force:
        raise MSPError(f"{out} exists; pass --force to overwrite it")
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    lm = load_weights(args.weights, precision="fp32")
    model: MSPCodecModel = lm.model
    S = model.config.num_scales
    if args.crop % (16 * 2 ** S):
        raise MSPError(f"--crop must be a multiple of {16 * 2 ** S}")
    start = load_weights(args.init).model if args.init else None
    if start is not None and start.preview is None:
        raise MSPError(f"{args.init} has no preview decoder to start from")
    config = dataclasses.replace(model.config, preview=start.config.preview if start else args.width)
    preview = PreviewDecoder(config.M, S, config.preview)
    if start is not None:
        preview.load_state_dict(start.preview.state_dict())
    if args.hours > 0:
        sampler = PatchSampler(args.data, args.crop, seed=args.seed)
        print(f"{len(sampler.files)} photos; computing {args.samples} codec samples of {args.crop}x{args.crop}",
              flush=True)
        latents, crops = codec_samples(lm, sampler, args.samples, rng)

    opt = torch.optim.Adam(preview.parameters(), lr=args.lr)
    t0, step, log = time.time(), 0, []
    budget = args.hours * 3600
    print(f"{'step':>7} {'PSNR per scale (dB)':>30} {'lr':>9} {'elapsed':>8}", flush=True)
    while time.time() - t0 < budget:
        frac = (time.time() - t0) / budget
        lr = args.lr * (0.5 * (1 + math.cos(math.pi * frac)) if frac > 0.5 else 1.0)  # cosine over the second half
        for g in opt.param_groups:
            g["lr"] = lr
        pick = torch.randint(len(latents), (args.batch,))
        x = crops[pick].float() / 255.0
        y = latents[pick].float()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=fast_bf16(model.device)):
            losses = preview_losses(preview, y, x)
        loss = sum(losses)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        log.append([v.item() for v in losses])
        if step % 100 == 0:
            recent = torch.tensor(log[-100:]).mean(0)
            db = " ".join(f"{-10 * math.log10(v):6.2f}" for v in recent.tolist())
            print(f"{step:>7} {db:>30} {lr:>9.2e} {(time.time() - t0) / 60:>7.1f}m", flush=True)

    full = MSPCodecModel(config)
    state = model.state_dict()
    state.update({f"preview.{k}": v for k, v in preview.state_dict().items()})
    full.load_state_dict(state)
    keep = {k: v for k, v in lm.card.items() if k not in ("model_id", "config", "sha256")}
    keep["preview_training"] = {"steps": step, "samples": args.samples, "crop": args.crop, "batch": args.batch,
                                "cpu_hours": round((time.time() - t0) / 3600, 3), "weights": Path(args.weights).name}
    card = save_weights(full, out, keep)
    print(f"{out}: {card['model_id']} sha256 {card['sha256'][:16]}; preview decoder after {step} steps; card "
          f"{card_path(out)}")
    return 0
