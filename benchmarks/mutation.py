"""Mutation testing of the core modules against the fast tests (`pytest -m "not slow"`), with mutmut 2.

Each module is mutated in a fresh copy of the work tree (the checkout is never touched), one at a time,
with the fast test files that exercise it as the runner; string and f-string mutants (message wording)
are left out. Prints the survival rate per module and writes every survivor's diff to OUT/survivors.txt.
Not for CI: about 8 s per mutant on 2 cores (an hour or two for the whole list).

    pip install mutmut==2.5.1
    python benchmarks/mutation.py [--out runs/mutation] [--only lof,bdrate] [--hours 2]
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAST = "-x -q -p no:cacheprovider -m 'not slow'"
# module -> the fast test files that exercise it (the runner mutmut calls for each mutant)
MODULES = {  # the most consequential first: a --hours budget cuts the end of the list
    "codec/lof.py": "tests/test_units.py tests/test_lof.py",
    "codec/bitstream.py": "tests/test_units.py tests/test_bitstream.py",
    "codec/entropy.py": "tests/test_units.py tests/test_bitstream.py",
    "codec/exact.py": "tests/test_units.py tests/test_exact.py",
    "codec/msp.py": "tests/test_units.py tests/test_exact.py tests/test_bitstream.py",
    "codec/coder.py": "tests/test_units.py tests/test_exact.py tests/test_bitstream.py",
    "codec/rate.py": "tests/test_units.py",
    "eval/bdrate.py": "tests/test_units.py",
    "eval/search.py": "tests/test_units.py",
    "eval/targets.py": "tests/test_units.py",
}
STATES = ("killed", "survived", "timeout", "suspicious", "skipped")


def mutmut(tree: Path, *args: str) -> str:
    return subprocess.run([sys.executable, "-m", "mutmut", *args], cwd=tree, capture_output=True, text=True).stdout


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/mutation")
    p.add_argument("--only", default=None, help="comma-separated module stems (e.g. lof,bdrate)")
    p.add_argument("--hours", type=float, default=2.0, help="stop starting new modules after this")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    wanted = args.only.split(",") if args.only else None
    modules = {m: t for m, t in MODULES.items() if wanted is None or Path(m).stem in wanted}
    shared = ROOT.parent / "shared"
    t0, rows = time.time(), []
    survivors = open(out / "survivors.txt", "w")
    print(f"{'module':<22} {'mutants':>7} {'killed':>7} {'survived':>8} {'timeout':>7} {'suspicious':>10} {'score':>6}")
    for module, tests in modules.items():
        if time.time() - t0 > args.hours * 3600:
            print(f"{module:<22} not run: the --hours budget is spent")
            continue
        tree = Path(tempfile.mkdtemp(prefix="mspview-mutation-"))  # the work tree as it is now, per module
        shutil.copytree(ROOT, tree, dirs_exist_ok=True, symlinks=True,
                        ignore=shutil.ignore_patterns(".git", ".venv", "runs", "build", "dist", "*.egg-info",
                                                      "__pycache__", ".mutmut-cache"))
        if shared.is_dir() and not (tree.parent / "shared").exists():
            (tree.parent / "shared").symlink_to(shared)  # tests read ../shared/data
        subprocess.run([sys.executable, "-m", "mutmut", "run", "--paths-to-mutate", f"mspview/{module}",
                        "--runner", f"{sys.executable} -m pytest {FAST} {tests}",
                        "--disable-mutation-types", "string,fstring", "--no-progress"],
                       cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ids = {s: mutmut(tree, "result-ids", s).split() for s in STATES}
        total = sum(len(v) for v in ids.values())
        caught = len(ids["killed"]) + len(ids["timeout"])
        score = 100.0 * caught / max(1, total - len(ids["skipped"]))
        rows.append((module, total, ids, score))
        print(f"{module:<22} {total:>7} {len(ids['killed']):>7} {len(ids['survived']):>8} {len(ids['timeout']):>7} "
              f"{len(ids['suspicious']):>10} {score:>5.1f}%", flush=True)
        for i in ids["survived"] + ids["suspicious"]:
            survivors.write(f"# {module} #{i}\n{mutmut(tree, 'show', i)}\n")
        survivors.flush()
        shutil.rmtree(tree, ignore_errors=True)
    print(f"survivors' diffs: {out / 'survivors.txt'}; {(time.time() - t0) / 60:.0f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
