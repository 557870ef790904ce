"""`mspview report IMAGE OUT.html`: encode an image, match one or more comparison codecs to it, and write
the interactive HTML report (app/html_report.py) that the app's File → Export interactive report… writes."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..app.html_report import estimated_bytes, write_html
from ..app.jobs import EncodeRequest, JobFlags, Stage, encode_job, rd_sweep_job
from ..app.report import provenance, versions
from ..app.session import Session
from ..codec.errors import MSPError
from ..codec.imageio import load_image
from ..eval import classical
from .common import add_model_options, open_model, run_tool
from .encode import add_rate_options, rate_from_args, target_from_args


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mspview report", description=__doc__.splitlines()[0])
    p.add_argument("input", help="image to encode")
    p.add_argument("output", help="the HTML file to write")
    add_rate_options(p)
    p.add_argument("--profile", default="fast", help="encode profile")
    p.add_argument("--compare", default="webp",
                   help="comma-separated comparison codecs, each matched at the same bpp and at equal PSNR "
                        f"({', '.join(classical.CODECS)}, or model:WEIGHTS.pt); '' for none")
    p.add_argument("--rd", action="store_true", help="also measure this image's RD curves (every trained λ)")
    p.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")
    add_model_options(p)
    args = p.parse_args(argv)

    def body() -> int:
        out = Path(args.output)
        if out.exists() and not args.force:
            raise MSPError(f"{out} exists; pass --force to overwrite it")
        if not out.parent.is_dir():
            raise MSPError(f"no such folder: {out.parent}")
        image = load_image(args.input)
        lm = open_model(args)
        target = target_from_args(args)
        lam = None if target else rate_from_args(args, lm).lam
        compares = [c.strip() for c in args.compare.split(",") if c.strip()] or [None]
        for c in compares:
            if c and not c.startswith("model:"):
                classical.get(c)  # refuse an unknown codec before any work
        session = Session()
        session.open_image(image, Path(args.input))
        cancel = JobFlags()

        def say(ev) -> None:
            if isinstance(ev, Stage):
                print(f"\r{ev.text[:70]:<70}", end="", file=sys.stderr, flush=True)

        for c in compares:
            request = EncodeRequest(args.profile, lam, target, c, str(lm.model.device))
            session.add(encode_job(lm, image, request, say, cancel))
        if args.rd:
            session.rd = rd_sweep_job(lm, image, compares[0], say, cancel)
        print(file=sys.stderr)
        result = session.current
        settings, weights = provenance(result, lm.model_id, lm.sha256, str(lm.path), compare=compares,
                                       target=str(target or ""))
        print(f"writing about {estimated_bytes(session) / 1e6:.1f} MB", file=sys.stderr)
        write_html(out, session, result, settings, weights)
        print(f"{out}: {out.stat().st_size:,} bytes; {len(session.views())} images; mspview "
              f"{versions()['mspview']}")
        return 0

    return run_tool("report", body)
