"""Training loop: one variable-rate model, CPU (bf16 autocast) or CUDA, torchrun/DDP for several GPUs.

Schedule: linear warm-up, then constant, then a cosine decay over the last `decay_frac` of the budget
("warmup-stable-decay"). The budget is wall-clock hours or steps, so a CPU session can plan its run
and still end on a decayed (better) model; the next session resumes from it with a short re-warm-up.
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import random
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from PIL import Image

from ..codec.metrics import PEAK, psnr
from ..codec.model import MSPCodecModel, ModelConfig, fast_bf16
from ..codec.transforms import SimplifiedGDN, pixels_tensor, seed_cross_terms
from ..codec.weights import load_weights, save_weights, upgraded
from ..resources import KODAK, TRAIN_DATA
from .data import PatchSampler, calibration_images
from .extend import extend_lambdas
from .preview import without_preview
from .widen import add_residual, widen, widen_latent



def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mspview train", description="Train the variable-rate MSP codec.")
    p.add_argument("--data", default=str(TRAIN_DATA), help="folder of training images")
    p.add_argument("--out", default="runs/train", help="folder for checkpoints and logs")
    p.add_argument("--resume", action="store_true", help="resume from OUT/last.pt if it exists")
    p.add_argument("--init", default=None, help="start from these weights (e.g. mspview/resources/msp_default.pt)")
    p.add_argument("--hours", type=float, default=None, help="wall-clock budget of this run")
    p.add_argument("--steps", type=int, default=None, help="step budget of this run (if no --hours)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--patch", type=int, default=128)
    p.add_argument("--jpeg-scale", default="0.5,0.9", metavar="LO,HI",
                   help="random downscale of JPEG sources (a folder already downscaled wants less, e.g. 0.85,1)")
    p.add_argument("--lr", type=float, default=4e-4)
    p.add_argument("--warmup", type=int, default=300)
    p.add_argument("--decay-frac", type=float, default=0.2)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="bf16 autocast for the transforms (likelihoods stay fp32); default: where it pays "
                        "(CUDA, CPUs with AVX512-BF16 or AMX)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ckpt-minutes", type=float, default=5.0)
    p.add_argument("--eval-minutes", type=float, default=20.0)
    p.add_argument("--kodak", default=str(KODAK))
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--widen-analysis", type=int, default=None, metavar="N",
                   help="with --init: widen the analysis transform to N channels (zero weights out of the new ones)")
    p.add_argument("--widen-synthesis", type=int, default=None, metavar="NS",
                   help="with --init: widen the synthesis transform to NS channels (zero weights out of the new ones)")
    p.add_argument("--widen-latent", type=int, default=None, metavar="M",
                   help="with --init: widen the latent to M channels (new channels start silent)")
    p.add_argument("--add-residual", type=int, default=None, metavar="R",
                   help="with --init: R residual blocks at each of the synthesis' 1/16 and 1/8 stages "
                        "(new blocks start as the identity)")
    p.add_argument("--gdn-cross", action=argparse.BooleanOptionalAction, default=True,
                   help="seed the GDN gamma weights that sit at exactly 0, else they never learn (all cross-channel ones "
                        "of weights trained before session 7)")
    p.add_argument("--lambdas", default=None, metavar="L1,L2,...",
                   help="with --init: train for this lambda set, a superset of the model's (new gains start "
                        "on the log-linear line through the nearest trained ones)")
    p.add_argument("--lambda-weights", default=None, metavar="W1,W2,...",
                   help="relative sampling weights of the lambdas, one per lambda (default: uniform)")
    p.add_argument("--train-only", choices=("all", "encoder"), default="all",
                   help="encoder: train g_a and the gains only; the decoder (synthesis, inverse gains, MSP model) "
                        "stays bit-identical (needs --init or --resume)")
    p.add_argument("--export", default=None, help="write the final weights here (state dict + card)")
    for name in ("N", "M", "hidden"):
        p.add_argument(f"--{name}", type=int, default=getattr(ModelConfig(), name))
    p.add_argument("--scales", type=int, default=ModelConfig().num_scales)
    p.add_argument("--groups", type=int, default=ModelConfig().groups)
    return p


class Schedule:
    def __init__(self, peak: float, warmup: int, decay_frac: float):
        self.peak, self.warmup, self.decay_frac = peak, warmup, decay_frac

    def lr(self, step_in_run: int, progress: float) -> float:
        warm = min(1.0, (step_in_run + 1) / max(1, self.warmup))
        start = 1.0 - self.decay_frac
        if progress <= start or self.decay_frac <= 0:
            return self.peak * warm
        t = min(1.0, (progress - start) / self.decay_frac)
        return self.peak * warm * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t)))


class RunClock:
    """Wall-clock seconds of training steps. A step the process was stopped in (SIGSTOP, to time something
    else on the machine; SIGCONT resumes it) counts nothing, so a paused run keeps its budget and schedule."""

    def __init__(self, now: float):
        self.prev, self.resumed, self.skipped = now, False, 0.0

    def on_resume(self, _signum=None, _frame=None):
        self.resumed = True

    def restart(self, now: float):
        """Time from here on counts (after an evaluation, which is not training)."""
        self.prev = now

    def step(self, now: float) -> float:
        """The seconds this step counts; `skipped` holds those it did not (a pause)."""
        seconds = 0.0 if self.resumed else now - self.prev
        self.skipped = now - self.prev - seconds
        self.prev, self.resumed = now, False
        return seconds


def image_batch(path: Path) -> torch.Tensor:
    """An image file as a 1x3xHxW float tensor in [0, 1]."""
    return pixels_tensor(Image.open(path).convert("RGB"))


def psnr_8bit(x_hat: torch.Tensor, x: torch.Tensor) -> float:
    """PSNR-RGB of a reconstruction clamped and rounded to 8 bits, as a decoder would write it."""
    return psnr(torch.mean((x_hat.clamp(0, 1) * PEAK).round().sub(x * PEAK).pow(2)).item())


@torch.no_grad()
def kodak_estimate(model: MSPCodecModel, folder: Path, lambda_indices=None, limit: int = 24) -> list[dict]:
    """Estimated bpp (hard rounding, model rate) and PSNR on Kodak; the real-file figures come from eval.

    Default lambdas: the lowest, one near the middle and the highest trained."""
    lambdas = model.config.lambdas
    if lambda_indices is None:
        lambda_indices = (0, (len(lambdas) - 1) // 2, len(lambdas) - 1)
    files = sorted(folder.glob("*.png"))[:limit]
    was_training = model.training
    model.eval()
    rows = []
    for li in lambda_indices:
        bpps, psnrs = [], []
        for f in files:
            x = image_batch(f).to(model.device)
            out = model(x, li)
            bpps.append(out["bpp"].item())
            psnrs.append(psnr_8bit(out["x_hat"], x))
        rows.append({"lambda": lambdas[li], "bpp": float(np.mean(bpps)), "psnr": float(np.mean(psnrs))})
    model.train(was_training)
    return rows


def fail(message: str) -> SystemExit:
    return SystemExit(f"mspview train: {message}")


def setup_device(args) -> tuple[int, int, torch.device]:
    """(world size, rank, device): torchrun's process group when launched by it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = torch.device(args.device)
    if world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed patch size: pick the fastest convolution once
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(args.seed + rank)
    random.seed(args.seed + rank)
    return world, rank, device


def check_options(args) -> None:
    """Refuse option combinations that cannot work, before any weights are loaded."""
    widening = args.widen_analysis or args.widen_synthesis or args.widen_latent or args.add_residual
    if widening and not args.init:
        raise fail("widening needs --init (the trained weights to widen)")
    if args.lambdas and not args.init:
        raise fail("--lambdas needs --init (the trained weights to extend)")
    if args.train_only == "encoder" and (args.widen_synthesis or args.widen_latent or args.add_residual or args.lambdas):
        raise fail("--train-only encoder keeps the decoder as it is: no --widen-synthesis, --widen-latent, "
                   "--add-residual or --lambdas")
    if args.hours is None and args.steps is None:
        raise SystemExit("give --hours or --steps")


def jpeg_scale_option(args) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in args.jpeg_scale.split(","))
        if not 0 < lo <= hi <= 1:
            raise ValueError
    except ValueError:
        raise fail(f"--jpeg-scale wants LO,HI with 0 < LO <= HI <= 1, not {args.jpeg_scale!r}") from None
    return lo, hi


def lambda_weights_option(args, config: ModelConfig) -> list[float] | None:
    if not args.lambda_weights:
        return None
    try:
        weights = [float(v) for v in args.lambda_weights.split(",")]
        if len(weights) != len(config.lambdas) or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError
    except ValueError:
        raise fail(f"--lambda-weights wants {len(config.lambdas)} non-negative numbers (one per lambda, not all 0), "
                   f"not {args.lambda_weights!r}") from None
    return weights


def new_state() -> dict:
    return {"step": 0, "cpu_hours": 0.0, "gpu_hours": 0.0, "run_elapsed": 0.0, "run_step": 0, "history": [],
            "data": ""}


def trained_on(before: str, folder, photos: int) -> str:
    """The card's record of the training data: this run's folder after those of the runs it continues."""
    where = os.path.relpath(folder)  # the same folder reads the same from the repository, however it was given
    if where.startswith(os.path.join(os.pardir, os.pardir)):
        where = str(Path(folder).resolve())
    now = f"{where} ({photos:,} photos)"
    return before if before.endswith(now) else f"{before}, then {now}" if before else now


def load_model(args, checkpoint: dict | None, lead: bool) -> tuple[MSPCodecModel, dict]:
    """The model to train and its training state: resumed from a checkpoint, or started from --init
    (widened, its lambda set extended), or new; GDN's dead gamma weights seeded; an encoder-only run
    trains g_a and the gains only."""
    encoder_only = args.train_only == "encoder"
    state = new_state()
    if checkpoint is not None:
        model = MSPCodecModel(ModelConfig.from_dict(checkpoint["config"]))
        model.load_state_dict(upgraded(checkpoint["model"], model))
        state.update(checkpoint["state"])
    elif args.init:
        loaded = load_weights(args.init)
        model, card = loaded.model, loaded.card
        state.update(step=int(card.get("steps", 0)), cpu_hours=float(card.get("cpu_hours", 0.0)),
                     gpu_hours=float(card.get("gpu_hours", 0.0)), history=list(card.get("history", [])),
                     data=str(card.get("data", "")))
        if model.preview is not None:  # fitted to this codec's latents: stale once they change
            model = without_preview(model)
            if lead:
                print("the preview decoder is left out: train one for the new weights with mspview train-preview")
        try:
            if args.widen_analysis or args.widen_synthesis:
                model = widen(model, analysis=args.widen_analysis, synthesis=args.widen_synthesis)
            if args.widen_latent:
                model = widen_latent(model, args.widen_latent)
            if args.add_residual:
                model = add_residual(model, args.add_residual)
            if args.lambdas:
                model = extend_lambdas(model, [float(v) for v in args.lambdas.split(",")])
        except ValueError as e:
            raise fail(str(e)) from None
    elif encoder_only:
        raise fail("--train-only encoder needs trained weights (--init, or --resume)")
    else:
        model = MSPCodecModel(ModelConfig(N=args.N, M=args.M, num_scales=args.scales, groups=args.groups,
                                          hidden=args.hidden))
    if args.gdn_cross and checkpoint is None:
        seeded = seed_cross_terms(model.g_a if encoder_only else model)
        if seeded and lead:
            print(f"GDN: {seeded} gamma weights at 0 seeded with {SimplifiedGDN.CROSS_SEED:g}", flush=True)
    if encoder_only:  # what the decoder never sees: the analysis and the gains before quantization
        for name, param in model.named_parameters():
            param.requires_grad_(name.startswith("g_a.") or name == "gain.log_gain")
    return model, state


class Log:
    """Means of the training figures over each --log-every steps, to log.csv and the terminal."""
    FIELDS = ["step", "cpu_hours", "gpu_hours", "lambda", "bpp", "psnr", "loss", "lr", "steps_per_s"]

    def __init__(self, path: Path, lead: bool):
        self.lead, fields = lead, self.FIELDS
        if lead and path.is_file() and path.stat().st_size:
            with open(path, newline="") as fh:
                fields = next(csv.reader(fh))  # a resumed run keeps the columns of the log it appends to
        self.file = open(path, "a", newline="") if lead else None
        self.writer = csv.DictWriter(self.file, fieldnames=fields, extrasaction="ignore") if lead else None
        if self.writer and self.file.tell() == 0:
            self.writer.writeheader()
        self.reset(time.time())

    def reset(self, now: float) -> None:
        self.acc, self.n, self.t0 = {"bpp": 0.0, "psnr": 0.0, "loss": 0.0}, 0, now

    def add(self, rd: dict) -> None:
        for k in self.acc:  # summed on the device, read at log time only
            self.acc[k] = self.acc[k] + rd[k].detach()
        self.n += 1

    def write(self, state: dict, lam: float, lr: float, now: float, seconds_left: float | None) -> None:
        mean = {k: float(v) / self.n for k, v in self.acc.items()}
        rate = self.n / max(1e-9, now - self.t0)
        self.writer.writerow({"step": state["step"], "cpu_hours": round(state["cpu_hours"], 4),
                              "gpu_hours": round(state["gpu_hours"], 4), "lambda": lam, "bpp": round(mean["bpp"], 4),
                              "psnr": round(mean["psnr"], 3), "loss": round(mean["loss"], 4), "lr": f"{lr:.2e}",
                              "steps_per_s": round(rate, 3)})
        self.file.flush()
        eta = seconds_left if seconds_left is not None else 0.0
        print(f"{state['step']:>8} {'mixed':>7} {mean['bpp']:>6.3f} {mean['psnr']:>6.2f} {mean['loss']:>7.3f} "
              f"{lr:>8.2e} {rate:>5.2f} {time.strftime('%H:%M:%S', time.gmtime(max(0, eta))):>8}", flush=True)
        self.reset(now)

    def close(self) -> None:
        if self.file:
            self.file.close()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_options(args)
    world, rank, device = setup_device(args)
    lead = rank == 0
    out_dir = Path(args.out)
    if lead:
        out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / "last.pt"
    checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True) if args.resume and ckpt_path.is_file() else None
    model, state = load_model(args, checkpoint, lead)
    config = model.config
    model.to(device).train()
    optim = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    if checkpoint is not None and "optim" in checkpoint:
        optim.load_state_dict(checkpoint["optim"])
    if world > 1:  # the integer entropy model is not trained (and gloo cannot broadcast int16)
        torch.nn.parallel.DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
            model, [name for name, _ in model.named_buffers() if name.startswith("exact.")])
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    amp = fast_bf16(device) if args.amp is None else args.amp
    lambda_weights = lambda_weights_option(args, config)
    try:
        sampler = PatchSampler(args.data, args.patch, seed=args.seed + state["step"], rank=rank, world=world,
                               jpeg_scale=jpeg_scale_option(args))
    except FileNotFoundError as e:
        raise fail(str(e)) from None
    state["data"] = trained_on(state["data"], args.data, len(sampler.files))
    sched = Schedule(args.lr, args.warmup, args.decay_frac)
    budget_s = args.hours * 3600 if args.hours else None

    def progress() -> float:
        return state["run_elapsed"] / budget_s if budget_s else state["run_step"] / args.steps

    def save_checkpoint():
        if lead:
            tmp = ckpt_path.with_suffix(".tmp")
            torch.save({"config": config.to_dict(), "model": model.state_dict(), "optim": optim.state_dict(),
                        "state": state}, tmp)
            os.replace(tmp, ckpt_path)

    stop = {"now": False}
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _signum, _frame: stop.update(now=True))
    log = Log(out_dir / "log.csv", lead)
    if lead:
        print(f"model {config.model_id}  params {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M  "
              f"device {device}  amp {amp}  world {world}  images {len(sampler.files)}  from step {state['step']}",
              flush=True)
        print(f"{'step':>8} {'lambda':>7} {'bpp':>6} {'PSNR':>6} {'loss':>7} {'lr':>8} {'it/s':>5} {'ETA':>8}",
              flush=True)

    t_last_ckpt = t_last_eval = time.time()
    clock = RunClock(t_last_eval)
    signal.signal(signal.SIGCONT, clock.on_resume)
    cpu_prev = time.process_time()  # CPU time of all our threads: a paused or starved run is not billed
    while progress() < 1.0 and not stop["now"]:
        lr = sched.lr(state["run_step"], progress())
        for group in optim.param_groups:
            group["lr"] = lr
        li = random.choices(range(len(config.lambdas)), lambda_weights)[0]
        x = sampler.batch(args.batch).to(device, non_blocking=True).float().div_(255.0)
        rd = model.rd_loss(net(x, li, amp), x, config.lambdas[li])
        optim.zero_grad(set_to_none=True)
        rd["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        optim.step()

        now, cpu_now = time.time(), time.process_time()
        state["step"] += 1
        state["run_step"] += 1
        step_s = clock.step(now)
        log.t0 += clock.skipped  # the logged steps/s leave a pause out too
        state["run_elapsed"] += step_s
        if device.type == "cpu":
            state["cpu_hours"] += (cpu_now - cpu_prev) * world / 3600
        else:  # one GPU-hour per GPU busy for an hour
            state["gpu_hours"] += step_s * world / 3600
        cpu_prev = cpu_now
        log.add(rd)
        if state["step"] % 2000 == 0:
            sampler.refresh()
        if lead and state["step"] % args.log_every == 0:
            steps_per_s = log.n / max(1e-9, now - log.t0)
            left = budget_s - state["run_elapsed"] if budget_s else (args.steps - state["run_step"]) / steps_per_s
            log.write(state, config.lambdas[li], lr, now, left)
        if lead and now - t_last_ckpt > args.ckpt_minutes * 60:
            save_checkpoint()
            t_last_ckpt = now
        if lead and args.eval_minutes and now - t_last_eval > args.eval_minutes * 60 and Path(args.kodak).is_dir():
            rows = kodak_estimate(model, Path(args.kodak), limit=8)
            state["history"].append({"step": state["step"], "cpu_hours": round(state["cpu_hours"], 3), "kodak8": rows})
            print("  kodak(8, estimated): " + "  ".join(f"λ={r['lambda']}: {r['bpp']:.3f} bpp {r['psnr']:.2f} dB"
                                                     for r in rows), flush=True)
            t_last_eval = time.time()  # evaluation time is not training time
            clock.restart(t_last_eval)
            cpu_prev = time.process_time()
            log.reset(t_last_eval)

    save_checkpoint()
    if lead and args.export:
        # the integer entropy model follows the float one; an encoder-only run keeps the decoder as it was
        calibration = None if args.train_only == "encoder" else calibration_images(args.data)
        card = save_weights(model, args.export, {"steps": state["step"], "cpu_hours": round(state["cpu_hours"], 3),
                                                 "gpu_hours": round(state["gpu_hours"], 3),
                                                 "data": state["data"], "history": state["history"]},
                            calibration=calibration)
        print(f"exported {args.export} sha256 {card['sha256'][:16]}", flush=True)
    log.close()
    if world > 1:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
