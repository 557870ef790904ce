"""Mutation testing of the core modules against the fast tests (`pytest -m "not slow"`), with mutmut 2.

Each module is mutated in a fresh copy of the work tree (the checkout is never touched), one at a time,
with the fast test files that exercise it as the runner; string and f-string mutants (message wording)
are left out. Prints the survival rate per module and writes every survivor's diff to OUT/survivors.txt.
Not for CI: about 8 s per mutant on 2 cores (an hour or two for the whole list).

    pip install mutmut==2.5.1
    python benchmarks/mutation.py [--out runs/mutation] [--only lof,bdrate] [--hours 2]
    python benchmarks/mutation.py --named      # the mutants issues named (LOF's sign flip, a zero step)
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAST = "-x -q -p no:cacheprovider --tb=no -m 'not slow'"  # --tb=no: mutmut 2.5 can hang on a long failure report
# module -> the fast test files that exercise it (the runner mutmut calls for each mutant)
# The module's own test file first: pytest stops at the first failure (-x), so most mutants die early.
MODULES = {  # the most consequential first: a --hours budget cuts the end of the list
    "codec/lof.py": "tests/test_units.py tests/test_lof.py",
    "codec/bitstream.py": "tests/test_bitstream.py tests/test_units.py",
    "codec/entropy.py": "tests/test_bitstream.py tests/test_units.py",
    "codec/exact.py": "tests/test_exact.py tests/test_units.py",
    "codec/msp.py": "tests/test_bitstream.py tests/test_exact.py tests/test_units.py",
    "codec/coder.py": "tests/test_bitstream.py tests/test_exact.py tests/test_units.py",
    "codec/rate.py": "tests/test_units.py",
    "eval/bdrate.py": "tests/test_units.py",
    "eval/search.py": "tests/test_units.py",
    "eval/targets.py": "tests/test_units.py",
}
STATES = ("killed", "survived", "timeout", "suspicious", "skipped")
# Mutants an issue named, applied by hand (--named): each must fail the fast tests of its module.
NAMED = {
    "LOF sign flip (gradient ascent)": ("codec/lof.py", "self.p.sub_(lr * m_hat", "self.p.add_(lr * m_hat"),
    "LOF zero step": ("codec/lof.py", "self.p.sub_(lr * m_hat", "self.p.sub_(0 * m_hat"),
}


def copy_tree() -> Path:
    """The work tree as it is now, in a temporary folder (the checkout is never touched)."""
    tree = Path(tempfile.mkdtemp(prefix="mspview-mutation-"))
    shutil.copytree(ROOT, tree, dirs_exist_ok=True, symlinks=True,
                    ignore=shutil.ignore_patterns(".git", ".venv", "runs", "build", "dist", "*.egg-info",
                                                  "__pycache__", ".mutmut-cache"))
    shared = ROOT.parent / "shared"
    if shared.is_dir() and not (tree.parent / "shared").exists():
        (tree.parent / "shared").symlink_to(shared)  # tests read ../shared/data
    return tree


def named() -> int:
    """Apply each named mutant to a fresh copy and run its module's fast tests: killed or survived."""
    alive = 0
    for name, (module, old, new) in NAMED.items():
        tree = copy_tree()
        source = tree / "mspview" / module
        text = source.read_text()
        if text.count(old) != 1:
            print(f"{name}: the line to mutate is no longer in mspview/{module} (update NAMED)")
            return 2
        source.write_text(text.replace(old, new))
        r = subprocess.run(f"{sys.executable} -m pytest {FAST} {MODULES[module]}", shell=True, cwd=tree,
                           capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(tree)})
        failed = [line.split()[1] for line in r.stdout.splitlines() if line.startswith("FAILED")]
        alive += r.returncode == 0
        print(f"{name}: {'SURVIVED' if r.returncode == 0 else 'killed by ' + ', '.join(failed)}", flush=True)
        shutil.rmtree(tree, ignore_errors=True)
    return 1 if alive else 0


def mutmut(tree: Path, *args: str) -> str:
    return subprocess.run([sys.executable, "-m", "mutmut", *args], cwd=tree, capture_output=True, text=True).stdout


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/mutation")
    p.add_argument("--only", default=None, help="comma-separated module stems (e.g. lof,bdrate)")
    p.add_argument("--hours", type=float, default=2.0, help="stop starting new modules after this")
    p.add_argument("--named", action="store_true", help="only the mutants issues named (NAMED), by hand")
    args = p.parse_args()
    if args.named:
        return named()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    wanted = args.only.split(",") if args.only else None
    modules = {m: t for m, t in MODULES.items() if wanted is None or Path(m).stem in wanted}
    t0, rows = time.time(), []
    survivors = open(out / "survivors.txt", "w")
    print(f"{'module':<22} {'mutants':>7} {'killed':>7} {'survived':>8} {'timeout':>7} {'suspicious':>10} {'score':>6}")
    for module, tests in modules.items():
        if time.time() - t0 > args.hours * 3600:
            print(f"{module:<22} not run: the --hours budget is spent")
            continue
        tree = copy_tree()  # per module
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
