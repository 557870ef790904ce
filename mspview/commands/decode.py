"""`mspview decode IN.msp OUT.png [--scales K]`."""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from ..codec.coder import decode
from ..codec.errors import BitstreamError, MSPError
from .common import add_model_options, open_model, run_tool, write_new_file


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mspview decode", description="Decode a .msp file into an image.")
    p.add_argument("input")
    p.add_argument("output", help="output image (format from the suffix: .png, .ppm, .bmp, .tif)")
    p.add_argument("--scales", type=int, default=None, help="decode only the first K scales (base = 1)")
    p.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")
    p.add_argument("--save-latent", metavar="FILE.npy", default=None,
                   help="also save the decoded (gained) latent y_hat as a NumPy array")
    p.add_argument("--quiet", action="store_true")
    add_model_options(p)
    args = p.parse_args(argv)

    def body() -> int:
        src = Path(args.input)
        if not src.is_file():
            raise MSPError(f"no such file: {src}")
        fmt = Image.registered_extensions().get(Path(args.output).suffix.lower())
        if fmt is None:
            raise MSPError(f"unknown output image type {Path(args.output).suffix!r}")
        if Path(args.output).exists() and not args.force:
            raise MSPError(f"{args.output} exists; pass --force to overwrite it")
        data = src.read_bytes()
        lm = open_model(args)
        try:
            dec = decode(lm, data, max_scales=args.scales)
        except BitstreamError as e:
            raise BitstreamError(f"{src}: {e}") from None
        pixels = dec.output
        buf = io.BytesIO()
        Image.fromarray(pixels, "RGB" if pixels.ndim == 3 else "L").save(buf, format=fmt)
        write_new_file(args.output, buf.getvalue(), args.force)
        if args.save_latent:
            latent = io.BytesIO()
            np.save(latent, dec.y_hat[0].cpu().numpy())
            write_new_file(args.save_latent, latent.getvalue(), args.force)
        if not dec.complete:
            total = dec.header.num_scales + 1
            why = "file truncated" if dec.scales_decoded < (args.scales or total) else "as asked"
            print(f"warning: decoded {dec.scales_decoded} of {total} scales ({why})", file=sys.stderr)
        if not args.quiet:
            t = dec.timings
            print(f"{args.output}: {dec.header.width}x{dec.header.height} {dec.header.mode}, "
                  f"{dec.scales_decoded}/{dec.header.num_scales + 1} scales, {t['total_s']:.3f} s "
                  f"(MSP model {t['model_s']:.3f} s, entropy {t['entropy_s']:.3f} s, synthesis {t['synthesis_s']:.3f} s"
                  + (f", previews {t['preview_s']:.3f} s)" if t["preview_s"] else ")"))
        return 0

    return run_tool("decode", body)
