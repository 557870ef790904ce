"""`mspview info FILE.msp`: header, bytes per scale (one entropy-coded stream each), bpp per scale.
`mspview info --model [PATH]`: what a weights file is (its card): architecture, trained lambdas with
their Kodak figures, training steps, CPU-hours and GPU-hours."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..codec import bitstream
from ..codec.errors import MSPError
from ..codec.layout import schedule
from ..resources import DEFAULT_WEIGHTS
from .common import run_tool


def describe(data: bytes) -> dict:
    header, start, truncated = bitstream.read(data)
    px = header.width * header.height
    return {
        "model_id": header.model_id, "weight_hash": header.weight_hash.hex(),
        "width": header.width, "height": header.height, "mode": header.mode,
        "lambda": header.lam, "profile": header.profile,
        "scales": header.num_scales, "groups": header.groups, "channels": header.channels,
        "header_bytes": start, "file_bytes": len(data), "truncated": truncated,
        "bpp": 8 * len(data) / px,
        "scale_streams": [{"scale": r.scale, "chunks": [str(k) for k in schedule(header.num_scales, header.groups)
                                                         if k.scale == r.scale],
                           "bytes": r.nbytes, "symbols": [r.sym_min, r.sym_max], "crc32": f"{r.crc:08x}"}
                          for r in header.scales],
        "bpp_per_scale": {str(r.scale): 8 * r.nbytes / px for r in header.scales},
    }


def describe_weights(path: Path) -> dict:
    from ..codec.weights import file_sha256, read_card  # torch: only for weights, not for a .msp header
    card, config = read_card(path)
    kodak = {round(p["lambda"], 8): p for p in card.get("kodak_fast", [])}
    return {
        "path": str(path), "model_id": config.model_id, "sha256": file_sha256(path),
        "config": config.to_dict(), "steps": card.get("steps"), "cpu_hours": card.get("cpu_hours"),
        "gpu_hours": card.get("gpu_hours", 0.0), "data": card.get("data"),
        "lambdas": [{"lambda": lam, **{k: kodak[round(lam, 8)][k] for k in ("bpp", "psnr") if round(lam, 8) in kodak}}
                    for lam in config.lambdas],
    }


def print_weights(d: dict) -> None:
    print(f"{d['path']}: {d['model_id']}  sha256 {d['sha256'][:16]}  "
          f"{d['steps'] or '?'} steps, {d['cpu_hours'] or '?'} CPU-hours"
          + (f" + {d['gpu_hours']} GPU-hours" if d["gpu_hours"] else ""))
    if d["data"]:
        print(f"trained on {d['data']}")
    print(f"{'quality':>7} {'lambda':>8} {'Kodak bpp':>10} {'PSNR dB':>8}   (fast profile, real files, from the card)")
    for q, r in enumerate(d["lambdas"], 1):
        figures = f"{r['bpp']:>10.3f} {r['psnr']:>8.2f}" if "bpp" in r else f"{'-':>10} {'-':>8}"
        print(f"{q:>7} {r['lambda']:>8g} {figures}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mspview info", description="Describe a .msp file or a weights file.")
    p.add_argument("input", nargs="?", help=".msp file")
    p.add_argument("--model", nargs="?", const=str(DEFAULT_WEIGHTS), default=None, metavar="PATH",
                   help="describe a weights file instead (default: the shipped weights)")
    p.add_argument("--json", action="store_true", help="print JSON")
    args = p.parse_args(argv)

    def body() -> int:
        if args.model is not None:
            if args.input:
                raise MSPError("give a .msp file or --model, not both")
            d = describe_weights(Path(args.model))
            if args.json:
                print(json.dumps(d, indent=2))
            else:
                print_weights(d)
            return 0
        if not args.input:
            raise MSPError("give a .msp file (or --model to describe weights)")
        path = Path(args.input)
        if not path.is_file():
            raise MSPError(f"no such file: {path}")
        d = describe(path.read_bytes())
        if args.json:
            print(json.dumps(d, indent=2))
            return 0
        print(f"{path.name}: {d['width']}x{d['height']} {d['mode']}, {d['file_bytes']} bytes, {d['bpp']:.4f} bpp"
              + ("  (TRUNCATED)" if d["truncated"] else ""))
        print(f"model {d['model_id']} weights {d['weight_hash']}  lambda {d['lambda']:.5g}  profile {d['profile']}")
        print(f"S={d['scales']} G={d['groups']} M={d['channels']}  header {d['header_bytes']} bytes")
        print(f"{'scale':<6} {'chunks':>6} {'bytes':>9} {'bpp':>7} {'symbols':>14} {'CRC-32':>9}")
        for c in d["scale_streams"]:
            bpp = d["bpp_per_scale"][str(c["scale"])]
            print(f"s{c['scale']:<5} {len(c['chunks']):>6} {c['bytes']:>9} {bpp:>7.4f} {str(c['symbols']):>14} {c['crc32']:>9}")
        return 0

    return run_tool("info", body)
