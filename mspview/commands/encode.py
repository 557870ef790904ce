"""`mspview encode IN OUT.msp --lambda L | --quality Q [--profile P]`."""
from __future__ import annotations

import argparse
import sys
import time

from ..codec import profiles
from ..codec.errors import MSPError
from ..codec.imageio import load_image
from ..codec.lof import run_profile
from ..codec.rate import RatePoint
from ..eval.targets import Target, encode_to_target, parse_size
from .common import add_model_options, open_model, run_tool, write_new_file


def rate_from_args(args: argparse.Namespace, lm) -> RatePoint:
    """--lambda, or --quality Q (the Q-th trained lambda), or the model's default lambda."""
    config = lm.model.config
    if args.quality is not None:
        if not 1 <= args.quality <= len(config.lambdas):
            raise MSPError(f"--quality must be 1..{len(config.lambdas)} for this model")
        return lm.rate(config.lambdas[args.quality - 1])
    return lm.rate(config.default_lambda if args.lam is None else args.lam)


def progress_bar(total: int):
    """A terminal progress line for LOF iterations."""
    def show(ev) -> None:
        done = int(30 * ev.iteration / max(1, total))
        sys.stderr.write(f"\r  LOF [{'#' * done}{'.' * (30 - done)}] it {ev.iteration:>4}/{total}  "
                         f"{ev.bpp:.4f} bpp {ev.psnr:6.2f} dB  best J {ev.best_cost:.4f}  "
                         f"{ev.elapsed:5.1f}s, ~{ev.remaining:4.0f}s left ")
        sys.stderr.flush()
    return show


def target_from_args(args: argparse.Namespace) -> Target | None:
    if args.target_bpp is not None:
        if not args.target_bpp > 0:
            raise MSPError("--target-bpp must be positive")
        return Target("bpp", args.target_bpp)
    if args.target_size is not None:
        return Target("bytes", parse_size(args.target_size))
    if args.target_psnr is not None:
        return Target("psnr", args.target_psnr)
    return None


def add_rate_options(p: argparse.ArgumentParser) -> None:
    rate_opts = p.add_mutually_exclusive_group()
    rate_opts.add_argument("--lambda", dest="lam", type=float, default=None,
                           help="rate-distortion trade-off within the model's trained range (see `mspview info --model`; "
                                "default: the middle trained lambda)")
    rate_opts.add_argument("--quality", type=int, default=None,
                           help="1..K: the K trained lambdas of the model, lowest rate first")
    rate_opts.add_argument("--target-bpp", type=float, default=None, metavar="BPP",
                           help="the lambda whose file has this many bits per pixel (within 2 %%)")
    rate_opts.add_argument("--target-size", default=None, metavar="SIZE",
                           help="the largest file of at most SIZE bytes (20000, 20KB, 1.5MB; K = 1000)")
    rate_opts.add_argument("--target-psnr", type=float, default=None, metavar="DB",
                           help="the lambda whose file decodes to this PSNR (within 0.1 dB)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mspview encode", description="Encode an image into a .msp file.",
                                epilog="With a target, lambda is found by bisection on real files (fast profile; a LOF "
                                       "profile then encodes once at the lambda found, with one correction if needed).")
    p.add_argument("input", nargs="?")
    p.add_argument("output", nargs="?")
    add_rate_options(p)
    p.add_argument("--profile", default="fast", help="encode profile (see --list-profiles)")
    p.add_argument("--list-profiles", action="store_true", help="list the profiles with their measured cost and gain")
    p.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")
    p.add_argument("--quiet", action="store_true")
    add_model_options(p)
    args = p.parse_args(argv)

    def body() -> int:
        if args.list_profiles:
            print(profiles.describe_all())
            return 0
        if not args.input or not args.output:
            raise MSPError("give INPUT and OUTPUT (or --list-profiles)")
        profile = profiles.get(args.profile)
        target = target_from_args(args)
        lm = open_model(args)
        rate = None if target else rate_from_args(args, lm)
        image = load_image(args.input)
        t0 = time.perf_counter()
        on_event = None if args.quiet or not profile.iterations else progress_bar(profile.iterations)
        if target:
            found = encode_to_target(lm, image, target, profile.name, on_event=on_event)
            result, lam = found.result, found.lam
        else:
            result, lam = run_profile(lm, image, rate, profile, on_event=on_event), rate.lam
        if on_event:
            sys.stderr.write("\n")
        enc = result.encoded
        write_new_file(args.output, enc.data, args.force)
        if not args.quiet:
            for note in image.notes:
                print(f"note: {note}")
            if target:
                print(found.summary(target))
            print(f"{args.output}: {len(enc.data)} bytes, {enc.bpp:.4f} bpp, PSNR {result.psnr:.2f} dB, "
                  f"lambda {lam:.5g}, profile {enc.header.profile}, {time.perf_counter() - t0:.2f} s on {lm.model.device}")
        return 0 if not target or found.met else 3

    return run_tool("encode", body)
