"""Mutation testing of the core modules against the fast tests (`pytest -m "not slow"`).

mutmut 2.5 (`pip install mutmut==2.5.1 coverage`) makes the mutants: every operator, comparison, number, keyword
and name it knows how to change, one at a time (string and f-string mutants, message wording, left
out). This script runs them: each module is mutated in its own copy of the work tree (the checkout is
never touched), a line no fast test executes (measured with coverage) counts as survived without a run,
every other mutant runs the fast test files that exercise the module, under a time limit (mutmut's own
runner hangs on these tests now and then). Results go to OUT/<module>.jsonl as they come, so a run that
stops resumes where it was; survivors' diffs go to OUT/survivors.txt. Prints the score per module.
Not for CI: 5-20 s per mutant on 2 cores.

    pip install mutmut==2.5.1 coverage
    python benchmarks/mutation.py [--out runs/mutation] [--only lof,bdrate] [--hours 2] [--report] [--retry]
    python benchmarks/mutation.py --named      # the mutants issues named (LOF's sign flip, a zero step)
"""
from __future__ import annotations

import argparse
import ast
import difflib
import importlib
import importlib.util
import json
import os
import signal
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
# What every test run imports before it reaches mspview (1-2 s a run), imported once.
PRELOAD = ("hypothesis", "numpy", "PIL.Image", "pytest", "pytestqt.plugin", "torch")
THREADS = 1  # torch threads of each test run (--threads)
FAST = ["-x", "-q", "-p", "no:cacheprovider", "--tb=line", "-m", "not slow"]
# module -> the fast test files that exercise it, its own test file first: pytest stops at the first
# failure (-x), so most mutants die early.
MODULES = {  # the most consequential first: a --hours budget cuts the end of the list
    "codec/lof.py": "tests/test_lof.py tests/test_units.py",
    "codec/exact.py": "tests/test_exact.py tests/test_units.py",
    "codec/coder.py": "tests/test_bitstream.py tests/test_exact.py tests/test_units.py tests/test_large.py tests/test_preview.py",
    "codec/msp.py": "tests/test_bitstream.py tests/test_exact.py tests/test_units.py",
    "codec/entropy.py": "tests/test_bitstream.py tests/test_units.py tests/test_exact.py",
    "codec/bitstream.py": "tests/test_bitstream.py tests/test_units.py",
    "codec/rate.py": "tests/test_units.py",
    "eval/bdrate.py": "tests/test_units.py",
    "eval/search.py": "tests/test_units.py",
    "eval/targets.py": "tests/test_units.py",
    "codec/transforms.py": "tests/test_units.py tests/test_exact.py tests/test_bitstream.py",
    "codec/imageio.py": "tests/test_units.py tests/test_bitstream.py tests/test_damage.py",
    "codec/metrics.py": "tests/test_units.py",
    "codec/gain.py": "tests/test_units.py",
    "codec/layout.py": "tests/test_bitstream.py tests/test_units.py",
    "codec/preview.py": "tests/test_preview.py",
    "codec/weights.py": "tests/test_units.py tests/test_bitstream.py",
}
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


def pytest(tree: Path, tests: str, timeout: float | None = None):
    """Run the fast tests in `tree`: (passed, the first failure's line, seconds); passed None on a timeout.

    In a fork of this process, which imported PRELOAD once (2 s saved per mutant); the child
    imports mspview from `tree` afresh and runs no torch work before the fork, so no thread pool is copied.
    """
    t0 = time.time()
    with tempfile.TemporaryFile("w+") as log:
        pid = os.fork()
        if pid == 0:  # the child: pytest in the copy, its output to `log`
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            os.chdir(tree)
            os.environ["PYTHONPATH"] = str(tree)
            sys.path.insert(0, str(tree))
            code = 1
            try:
                import pytest as runner
                import torch
                torch.set_num_threads(THREADS)  # one core per run: a 2-core machine also trains or runs another
                code = int(runner.main([*FAST, *tests.split()]))
            finally:
                sys.stdout.flush()
                os._exit(code)
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if timeout is not None and time.time() - t0 > timeout:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return None, "timeout", time.time() - t0
            time.sleep(0.05)
        log.seek(0)
        lines = log.read().splitlines()
    failed = [line for line in lines if line.startswith("FAILED") or line.startswith("ERROR")]
    return os.waitstatus_to_exitcode(status) == 0, (failed[0][:200] if failed else ""), time.time() - t0


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
        passed, failed, _ = pytest(tree, MODULES[module])
        alive += bool(passed)
        print(f"{name}: {'SURVIVED' if passed else 'killed by ' + failed}", flush=True)
        shutil.rmtree(tree, ignore_errors=True)
    return 1 if alive else 0


def mutants(source: str, filename: str) -> list:
    """mutmut's mutants of one source file, string mutants left out: (id, mutated source) pairs."""
    from mutmut import ALL, Context, list_mutations, mutate, mutations_by_type
    config = SimpleNamespace(covered_lines_by_filename=None,
                             mutation_types_to_apply=set(mutations_by_type) - {"string", "fstring"})
    ids = list_mutations(Context(source=source, mutation_id=ALL, filename=filename, config=config))
    return [(mid, mutate(Context(source=source, mutation_id=mid, filename=filename, config=config))[0])
            for mid in ids]


def baseline(tree: Path, module: str, tests: str) -> tuple[bool, str, float, set[int]]:
    """The fast tests on the unmutated tree, under coverage: (passed, the first failure's line, seconds,
    the module's lines they execute, 1-based, every line of an executed statement included: coverage
    names a statement that spans lines by its first line, mutmut names the line it changed)."""
    data, out = tree / ".coverage-mutation", tree / "coverage.json"
    t0 = time.time()
    run = subprocess.run([sys.executable, "-m", "coverage", "run", f"--data-file={data}", f"--include=mspview/{module}",
                          "-m", "pytest", *FAST, *tests.split()], cwd=tree, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": str(THREADS)})
    seconds = time.time() - t0
    failed = [line for line in run.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    subprocess.run([sys.executable, "-m", "coverage", "json", f"--data-file={data}", "-o", str(out)], cwd=tree,
                   capture_output=True)
    files = json.loads(out.read_text())["files"] if out.exists() else {}
    executed = set(next(iter(files.values()))["executed_lines"]) if files else set()
    starts = statement_starts((tree / "mspview" / module).read_text())
    ran = {starts[line] for line in executed if line in starts}  # coverage may name any line of a statement
    lines = {line for line, first in starts.items() if first in ran}
    return run.returncode == 0, (failed[0][:200] if failed else run.stdout[-200:]), seconds, lines


def statement_starts(source: str) -> dict[int, int]:
    """Line -> the first line (decorators included) of the innermost statement that holds it (a compound
    statement's body lines belong to their own statements)."""
    starts: dict[int, int] = {}
    for node in ast.walk(ast.parse(source)):  # outer statements come before the ones they hold
        if isinstance(node, ast.stmt):
            first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", ()))])
            for line in range(first, (node.end_lineno or node.lineno) + 1):
                starts[line] = first
    return starts


def key(mid, source_lines: list[str]) -> str:
    """A mutant's name that survives edits elsewhere in the module: its line's text, which of the lines
    with that text, the mutation's index on the line."""
    text = mid.line.strip()
    nth = sum(line.strip() == text for line in source_lines[:mid.line_number + 1])
    return f"{text}|{nth}|{mid.index}"


def results_of(results: Path, source: str) -> dict:
    """Key -> the latest result of that mutant (a retried one has two lines). Results named the earlier
    way ("line:index:text") are renamed to the line with that text nearest their line in `source`."""
    lines = source.splitlines()
    out = {}
    for r in map(json.loads, results.read_text().splitlines()) if results.exists() else ():
        line, index, text = r["key"].split(":", 2) if r["key"].split(":", 1)[0].isdigit() else (None, None, None)
        if line is not None:
            same = [i for i, other in enumerate(lines) if other.strip() == text]
            if not same:
                continue  # the line is gone: its mutants are new ones
            nearest = min(same, key=lambda i: abs(i - (int(line) - 1)))
            r["key"] = f"{text}|{same.index(nearest) + 1}|{index}"
        out[r["key"]] = r
    return out


def run_module(module: str, tests: str, out: Path, deadline: float, retry: bool = False) -> None:
    results = out / f"{Path(module).stem}.jsonl"
    tree = copy_tree()
    path = tree / "mspview" / module
    original = path.read_text()
    lines = original.splitlines()
    done = {k: r for k, r in results_of(results, original).items() if not (retry and r["state"] == "survived")}
    todo = [(m, s) for m, s in mutants(original, str(path)) if key(m, lines) not in done]
    if not todo:
        return shutil.rmtree(tree, ignore_errors=True)
    passed, failed, base, covered = baseline(tree, module, tests)
    if not passed:
        print(f"{module}: the fast tests fail without a mutant ({failed}); not run", flush=True)
        return shutil.rmtree(tree, ignore_errors=True)
    with open(results, "a") as log:
        for mid, source in todo:
            if time.time() > deadline:
                break
            if mid.line_number + 1 not in covered:
                state, why, seconds = "survived", "line not executed by the fast tests", 0.0
            else:
                path.write_text(source)
                passed, why, seconds = pytest(tree, tests, timeout=3 * base + 30)
                path.write_text(original)
                state = "timeout" if passed is None else "survived" if passed else "killed"
            diff = "".join(difflib.unified_diff(original.splitlines(True), source.splitlines(True),
                                                f"mspview/{module}", f"mspview/{module}", n=0))
            log.write(json.dumps({"key": key(mid, lines), "state": state, "by": why, "s": round(seconds, 1),
                                  "diff": diff}) + "\n")
            log.flush()
    shutil.rmtree(tree, ignore_errors=True)


def report(out: Path, modules: dict) -> None:
    print(f"{'module':<20} {'mutants':>7} {'run':>5} {'killed':>6} {'timeout':>7} {'survived':>8} "
          f"{'not executed':>12} {'score':>6}")
    with open(out / "survivors.txt", "w") as survivors:
        for module in modules:
            results = out / f"{Path(module).stem}.jsonl"
            if not results.exists():
                print(f"{module:<20} not run")
                continue
            source = (ROOT / "mspview" / module).read_text()
            current = {key(m, source.splitlines()) for m, _ in mutants(source, module)}
            # the mutants of the module as it is now (a line edited since has new ones)
            rows = [r for k, r in results_of(results, source).items() if k in current]
            n = {s: sum(r["state"] == s for r in rows) for s in ("killed", "timeout", "survived")}
            dark = sum(r["by"].startswith("line not executed") for r in rows)
            total = len(current)
            print(f"{module:<20} {total:>7} {len(rows):>5} {n['killed']:>6} {n['timeout']:>7} {n['survived']:>8} "
                  f"{dark:>12} {100 * (n['killed'] + n['timeout']) / max(1, len(rows)):>5.1f}%")
            for r in rows:
                if r["state"] == "survived":
                    survivors.write(f"# {module} {r['key']} ({r['by'] or 'the tests passed'})\n{r['diff']}\n")
    print(f"survivors' diffs: {out / 'survivors.txt'}")


def main() -> int:
    global THREADS
    missing = [name for name in ("mutmut", "coverage") if importlib.util.find_spec(name) is None]
    if missing:
        raise SystemExit(f"mutation.py needs {' and '.join(missing)}: pip install mutmut==2.5.1 coverage")
    for name in PRELOAD:  # once, for every forked test run (see pytest())
        importlib.import_module(name)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/mutation")
    p.add_argument("--only", default=None, help="comma-separated module stems (e.g. lof,bdrate)")
    p.add_argument("--hours", type=float, default=2.0, help="stop after this (a later run resumes)")
    p.add_argument("--retry", action="store_true", help="run the survivors again (after tests were added)")
    p.add_argument("--threads", type=int, default=THREADS, help="torch threads of each test run")
    p.add_argument("--report", action="store_true", help="only print the scores of the results so far")
    p.add_argument("--named", action="store_true", help="only the mutants issues named (NAMED), by hand")
    args = p.parse_args()
    THREADS = args.threads
    if args.named:
        return named()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    wanted = args.only.split(",") if args.only else None
    modules = {m: t for m, t in MODULES.items() if wanted is None or Path(m).stem in wanted}
    if not args.report:
        deadline = time.time() + args.hours * 3600
        for module, tests in modules.items():
            if time.time() < deadline:
                run_module(module, tests, out, deadline, args.retry)
    report(out, modules)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
