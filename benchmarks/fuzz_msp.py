"""Fuzz the .msp reader and `mspview decode` with atheris (coverage-guided), or with a plain random
mutator where atheris is not installed. Prints the inputs tried and the failures found (0 expected).

    python benchmarks/fuzz_msp.py [--seconds 600] [--engine atheris|random]

A failure is anything but a decoded image or our own error (MSPError): another exception, an input
slower than --max-input-s, or the CLI exiting with a traceback or a code other than 0/2. Inputs are
mutations of real .msp files from a small random model; one input in three gets its header CRC
repaired, so that the field checks, the scale table and the decoder are reached, not only the CRC.
Each input is decoded in-process; every 25th also goes through the CLI's decode (`decode.main`).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import random
import re
import resource
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PREFIX = struct.Struct("<4sBH")  # magic, version, header length (bitstream._PREFIX)


def repair_crc(data: bytes) -> bytes:
    """Give a mutated file a valid header CRC, when its prefix still says where the header ends."""
    if len(data) < PREFIX.size:
        return data
    _, _, hlen = PREFIX.unpack_from(data)
    end = PREFIX.size + hlen
    if len(data) < end + 4:
        return data
    return data[:end] + struct.pack("<I", zlib.crc32(data[:end])) + data[end + 4:]


def make_model(workdir: Path):
    from mspview.codec.model import MSPCodecModel, ModelConfig
    from mspview.codec.weights import load_weights, save_weights

    torch.manual_seed(7)
    model = MSPCodecModel(ModelConfig(N=16, M=32, num_scales=3, groups=2, hidden=24))
    with torch.no_grad():  # untrained analysis gives tiny latents: scale them so symbols vary
        model.gain.log_gain += math.log(30.0)
        model.gain.log_inv_gain -= math.log(30.0)
    path = workdir / "fuzz_model.pt"
    rng = np.random.default_rng(7)
    calibration = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(2)]
    save_weights(model, path, {"note": "random init, seed 7, for fuzzing"}, calibration=calibration)
    return path, load_weights(path)


def seed_files(lm) -> list[bytes]:
    from mspview.codec.coder import encode
    from mspview.codec.imageio import LoadedImage

    rng = np.random.default_rng(3)
    out = []
    for h, w, mode in ((48, 64, "RGB"), (17, 31, "RGB"), (1, 1, "RGB"), (40, 24, "L")):
        yy, xx = np.mgrid[0:h, 0:w]
        img = np.clip(np.stack([np.sin(xx / 5 + c) * np.cos(yy / 4) * 90 + 128 for c in range(3)], -1)
                      + rng.normal(0, 10, (h, w, 3)), 0, 255).astype(np.uint8)
        for lam in (0.0018, 0.0483):
            out.append(encode(lm, LoadedImage(img, mode, mode), lm.rate(lam)).data)
    return out


class Harness:
    def __init__(self, weights: Path, lm, workdir: Path, max_input_s: float, stats_path: Path):
        from mspview.codec.coder import decode
        from mspview.codec.errors import MSPError
        from mspview.commands import decode as decode_cmd

        self.decode, self.MSPError, self.cli = decode, MSPError, decode_cmd.main
        self.weights, self.lm, self.workdir, self.max_input_s = weights, lm, workdir, max_input_s
        self.stats_path = stats_path
        self.stats = {"inputs": 0, "decoded": 0, "refused": 0, "cli_runs": 0, "failures": 0, "slowest_s": 0.0}
        self.errors: dict[str, int] = {}
        self.t_flush = time.time()

    def __call__(self, data: bytes) -> None:
        mode = data[0] % 3 if data else 0
        data = repair_crc(data[1:]) if mode else data[1:]
        t = time.perf_counter()
        try:
            self.decode(self.lm, data)
            self.stats["decoded"] += 1
        except self.MSPError as e:
            self.stats["refused"] += 1
            key = re.sub(r"-?\d+", "N", str(e))[:70]  # one row per kind of refusal
            self.errors[key] = self.errors.get(key, 0) + 1
        dt = time.perf_counter() - t
        self.stats["slowest_s"] = max(self.stats["slowest_s"], dt)
        if dt > self.max_input_s:
            self.fail(f"input took {dt:.1f} s (> {self.max_input_s} s)", data)
        self.stats["inputs"] += 1
        if self.stats["inputs"] % 25 == 0:
            self.run_cli(data)
        if time.time() - self.t_flush > 1.0:
            self.flush()

    def run_cli(self, data: bytes) -> None:
        src, dst = self.workdir / "in.msp", self.workdir / "out.png"
        src.write_bytes(data)
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = self.cli([str(src), str(dst), "--model", str(self.weights), "--force", "--quiet"])
        self.stats["cli_runs"] += 1
        if code not in (0, 2) or "Traceback" in err.getvalue() or (code == 2 and not err.getvalue().strip()):
            self.fail(f"CLI exit {code}: {err.getvalue()[-300:]}", data)

    def fail(self, why: str, data: bytes) -> None:
        self.stats["failures"] += 1
        crash = self.workdir / f"failure-{self.stats['failures']}.msp"
        crash.write_bytes(data)
        raise RuntimeError(f"{why} (input saved to {crash})")

    def flush(self) -> None:
        self.stats["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self.stats["refusals"] = dict(sorted(self.errors.items(), key=lambda kv: -kv[1])[:8])
        self.stats_path.write_text(json.dumps(self.stats))
        self.t_flush = time.time()


def mutate(rng: random.Random, seeds: list[bytes]) -> bytes:
    data = bytearray(rng.choice(seeds))
    for _ in range(rng.choice((1, 1, 2, 3, 8))):
        op = rng.randrange(5)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[pos % len(data)] = rng.randrange(256)
        elif op == 1 and data:
            data[pos % len(data)] ^= 1 << rng.randrange(8)
        elif op == 2:
            data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))
        elif op == 3:
            del data[pos:pos + rng.randrange(1, 17)]
        else:
            del data[pos:]
    return bytes([rng.randrange(256)]) + bytes(data)


def child(args) -> int:
    """Runs in a subprocess: libFuzzer exits the process when done, so the parent reads the stats file."""
    torch.set_num_threads(1)
    workdir = Path(args.workdir)
    if args.engine == "atheris":
        import atheris

        with atheris.instrument_imports(include=["mspview"]):  # coverage feedback from our code only
            import mspview.codec.coder  # noqa: F401
            import mspview.commands.decode  # noqa: F401
    weights, lm = make_model(workdir)
    seeds = seed_files(lm)
    harness = Harness(weights, lm, workdir, args.max_input_s, workdir / "stats.json")
    if args.engine == "atheris":
        corpus = workdir / "corpus"
        corpus.mkdir(exist_ok=True)
        for i, s in enumerate(seeds):
            for mode in range(3):
                (corpus / f"seed{i}-{mode}").write_bytes(bytes([mode]) + s)
        runs = [f"-runs={args.runs}"] if args.runs else []
        atheris.Setup([sys.argv[0], str(corpus), f"-max_total_time={int(args.seconds)}", "-timeout=60",
                       "-rss_limit_mb=6144", f"-artifact_prefix={workdir}/", *runs], harness)
        atheris.Fuzz()  # exits the process (the last second of stats may be lost: see "Done N runs")
    rng = random.Random(args.seed)
    end = time.time() + args.seconds
    for _ in range(args.runs) if args.runs else iter(int, 1):
        if time.time() >= end:
            break
        harness(mutate(rng, seeds))
    harness.flush()
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=600)
    p.add_argument("--runs", type=int, default=None, help="stop after this many inputs (tests: a count, not a time)")
    p.add_argument("--engine", choices=("atheris", "random"), default=None, help="default: atheris if installed")
    p.add_argument("--max-input-s", type=float, default=10.0, help="an input slower than this is a failure")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", default=None)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.engine is None:
        try:
            import atheris  # noqa: F401
            args.engine = "atheris"
        except ImportError:
            args.engine = "random"
    if args.child:
        return child(args)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, __file__, "--child", "--engine", args.engine, "--seconds", str(args.seconds),
               "--max-input-s", str(args.max_input_s), "--seed", str(args.seed), "--workdir", str(workdir)]
        cmd += ["--runs", str(args.runs)] if args.runs else []
        t = time.time()
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        wall = time.time() - t
        stats_file = workdir / "stats.json"
        stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
        done = re.search(r"Done (\d+) runs", proc.stderr)  # libFuzzer's own count, when it finished
        if done:
            stats["inputs"] = max(stats.get("inputs", 0), int(done.group(1)))
        crashed = proc.returncode != 0
        if crashed:
            print(proc.stderr[-3000:], file=sys.stderr)
        print(f"engine {args.engine}, {wall:.0f} s: {stats.get('inputs', 0)} inputs tried "
              f"({stats.get('decoded', 0)} decoded, {stats.get('refused', 0)} refused with our error, "
              f"{stats.get('cli_runs', 0)} through the CLI); slowest input {stats.get('slowest_s', 0):.3f} s; "
              f"peak RSS {stats.get('peak_rss_mib', 0):.0f} MiB")
        for why, n in stats.get("refusals", {}).items():
            print(f"  {n:>7}  {why}")
        failures = stats.get("failures", 0) + (1 if crashed and not stats.get("failures") else 0)
        print(f"failures found: {failures}")
        return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
