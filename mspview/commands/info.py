"""`mspview info FILE.msp`: header, per-chunk bytes, bpp per scale."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..codec import bitstream
from ..codec.errors import MSPError
from ..codec.msp import BASE
from .common import run_tool


def describe(data: bytes) -> dict:
    header, start, truncated = bitstream.read(data)
    px = header.width * header.height
    scales: dict[int, int] = {}
    for rec in header.chunks:
        scales[rec.key.scale] = scales.get(rec.key.scale, 0) + rec.nbytes
    return {
        "model_id": header.model_id, "weight_hash": header.weight_hash.hex(),
        "width": header.width, "height": header.height, "mode": header.mode,
        "lambda": header.lam, "profile": header.profile,
        "scales": header.num_scales, "groups": header.groups, "channels": header.channels,
        "header_bytes": start, "file_bytes": len(data), "truncated": truncated,
        "bpp": 8 * len(data) / px,
        "chunks": [{"chunk": str(r.key), "scale": r.key.scale, "step": "base" if r.key.step == BASE else
                    ("A" if r.key.step == 1 else "B"), "group": r.key.group, "bytes": r.nbytes,
                    "symbols": [r.sym_min, r.sym_max], "scale_crc32": None if r.crc is None else f"{r.crc:08x}"} for r in header.chunks],
        "bpp_per_scale": {str(s): 8 * b / px for s, b in sorted(scales.items(), reverse=True)},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mspview info", description="Describe a .msp file.")
    p.add_argument("input")
    p.add_argument("--json", action="store_true", help="print JSON")
    args = p.parse_args(argv)

    def body() -> int:
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
        print(f"{'chunk':<10} {'bytes':>9} {'symbols':>14} {'scale CRC':>9}")
        for c in d["chunks"]:
            print(f"{c['chunk']:<10} {c['bytes']:>9} {str(c['symbols']):>14} {c['scale_crc32'] or '':>9}")
        print("bpp per scale: " + "  ".join(f"s{s}: {v:.4f}" for s, v in d["bpp_per_scale"].items()))
        return 0

    return run_tool("info", body)
