"""Files decode alike under any arithmetic: encode images under one arithmetic, decode them under
others, each in its own process, and compare the decoded latent (hence every symbol) with the
encoder's; print failures and the largest pixel difference of the reconstructions (the synthesis runs
in float and may differ in a last bit between devices; the symbols may not).

With a CUDA GPU (default): encode on CUDA (TF32 allowed for the transforms, torch's default there),
decode on the CPU, and the reverse. Without one, or with --cpu-only: encode with 2 threads, decode
with 1 thread, with oneDNN off, with ATEN_CPU_CAPABILITY=default, and with the other exact matmul
backend (float32 vs int8).

--encodes: also encode under each of the other arithmetics and count the files whose bytes differ from
the first encoder's. Not failures: the analysis transform runs in float, so a latent value within float
error of a rounding boundary may round the other way (another valid file).

    python benchmarks/cross_device.py [--limit N] [--lambda 0.0067[,0.025...]] [--cpu-only] [--encodes]
                                      [--model PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# name -> (device, environment, torch settings applied in the child before anything runs)
ARITHMETICS = {
    "cpu-2-threads": ("cpu", {}, {"threads": 2}),
    "cpu-1-thread": ("cpu", {}, {"threads": 1}),
    "cpu-no-onednn": ("cpu", {}, {"threads": 2, "mkldnn": False}),
    "cpu-default-capability": ("cpu", {"ATEN_CPU_CAPABILITY": "default"}, {"threads": 2}),
    "cpu-float32-backend": ("cpu", {"MSPVIEW_EXACT_BACKEND": "float32"}, {"threads": 2}),
    "cuda": ("cuda", {}, {"tf32": True}),
}


def child(args) -> int:
    """Encode (--role encode) or decode and compare (--role decode) every file, under one arithmetic."""
    import torch

    settings = json.loads(args.settings)
    if "threads" in settings:
        torch.set_num_threads(settings["threads"])
    if settings.get("mkldnn") is False:
        torch.backends.mkldnn.enabled = False
    if settings.get("tf32"):
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    from mspview.codec.coder import decode, encode
    from mspview.codec.errors import MSPError
    from mspview.codec.exact import backend
    from mspview.codec.imageio import load_image
    from mspview.codec.weights import load_weights

    lm = load_weights(args.model, args.device)
    work = Path(args.work)
    rows = []
    for f, lam in [(f, lam) for f in sorted(work.glob("*.src")) for lam in lambdas(args.lam)]:
        stem = f"{f.stem}@{lam:g}"
        if args.role == "encode":
            t = time.perf_counter()
            enc = encode(lm, load_image(f.read_text()), lm.rate(lam))
            (work / f"{stem}.msp").write_bytes(enc.data)
            np.savez(work / f"{stem}.npz", y_hat=enc.y_hat.cpu().numpy(), image=enc.image)
            rows.append({"image": stem, "bytes": len(enc.data), "seconds": time.perf_counter() - t})
            continue
        ref = np.load(work / f"{stem}.npz")
        try:
            dec = decode(lm, (work / f"{stem}.msp").read_bytes())
            same = bool(np.array_equal(dec.y_hat.cpu().numpy(), ref["y_hat"]))
            diff = int(np.abs(dec.image.astype(int) - ref["image"].astype(int)).max())
            rows.append({"image": stem, "ok": same, "max_pixel_diff": diff})
        except MSPError as e:
            rows.append({"image": stem, "ok": False, "error": str(e)})
    print(json.dumps({"backend": backend(lm.model.device), "rows": rows}))
    return 0


def lambdas(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


def run_child(role: str, name: str, work: Path, lam: str, model: str | None) -> dict:
    device, env, settings = ARITHMETICS[name]
    cmd = [sys.executable, __file__, "--role", role, "--work", str(work), "--lambda", lam,
           "--device", device, "--settings", json.dumps(settings)] + (["--model", model] if model else [])
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env})
    if out.returncode:
        raise SystemExit(f"{role} under {name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def files_differing(work: Path, name: str, args) -> list[str]:
    """Encode the sources in `work` again under `name`; the files whose bytes differ."""
    with tempfile.TemporaryDirectory() as tmp:
        other = Path(tmp)
        for f in work.glob("*.src"):
            (other / f.name).write_text(f.read_text())
        run_child("encode", name, other, args.lam, args.model)
        return [f.stem for f in sorted(work.glob("*.msp")) if f.read_bytes() != (other / f.name).read_bytes()]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", default=None, help="folder of images (default: Kodak)")
    p.add_argument("--limit", type=int, default=None, help="first N images only")
    p.add_argument("--lambda", dest="lam", default="0.0067", help="one lambda or a comma-separated list")
    p.add_argument("--cpu-only", action="store_true", help="CPU arithmetics only, even with a GPU")
    p.add_argument("--encodes", action="store_true",
                   help="also encode under the other arithmetics and count the files written differently")
    p.add_argument("--model", default=None)
    p.add_argument("--role", default=None, help=argparse.SUPPRESS)
    p.add_argument("--work", default=None, help=argparse.SUPPRESS)
    p.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    p.add_argument("--settings", default="{}", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.role:
        return child(args)

    import torch

    from mspview.resources import KODAK

    files = sorted(Path(args.images or KODAK).glob("*.png"))[: args.limit]
    if not files:
        raise SystemExit(f"no images in {args.images or KODAK}")
    if torch.cuda.is_available() and not args.cpu_only:
        pairs = [("cuda", "cpu-2-threads"), ("cpu-2-threads", "cuda")]
    else:
        pairs = [("cpu-2-threads", d) for d in ("cpu-1-thread", "cpu-no-onednn", "cpu-default-capability",
                                                 "cpu-float32-backend")]
    print(f"{len(files)} images, lambda {args.lam}; torch {torch.__version__}")
    failures = 0
    t0 = time.perf_counter()
    for enc_name in dict.fromkeys(e for e, _ in pairs):
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            for f in files:
                (work / f"{f.stem}.src").write_text(str(f))
            enc = run_child("encode", enc_name, work, args.lam, args.model)
            print(f"encoded under {enc_name} ({enc['backend']} matmul): "
                  f"{sum(r['bytes'] for r in enc['rows'])} bytes in {len(enc['rows'])} files")
            for dec_name in [d for e, d in pairs if e == enc_name]:
                res = run_child("decode", dec_name, work, args.lam, args.model)
                bad = [r for r in res["rows"] if not r["ok"]]
                failures += len(bad)
                diffs = [r["max_pixel_diff"] for r in res["rows"] if "max_pixel_diff" in r]
                print(f"  decoded under {dec_name:<24} ({res['backend']} matmul): {len(bad)} of {len(res['rows'])} "
                      f"differ; largest pixel difference {max(diffs, default=0)}")
                for r in bad:
                    print(f"    {r['image']}: {r.get('error', 'decoded latent differs')}")
                if args.encodes:
                    print(f"  encoded under {dec_name:<24}: {len(files_differing(work, dec_name, args))} of "
                          f"{len(res['rows'])} files differ from {enc_name}'s")
    print(f"{failures} failures in {time.perf_counter() - t0:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
