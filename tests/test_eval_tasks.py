"""mspview eval as tasks: the same rows serially and on a real Dask LocalCluster, a killed worker's task
run elsewhere, a stopped run resumed without recomputing its rows, bad input as a row-level error."""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from PIL import Image

from conftest import KODAK, SAMPLE
from mspview.codec.weights import load_weights
from mspview.eval import classical, tasks
from mspview.eval.sweep import evaluate

pytestmark = pytest.mark.slow

LAMBDAS = [0.0018, 0.0483]
MEASURED = ("bytes", "bpp", "psnr-rgb", "ms-ssim-rgb")


@pytest.fixture(scope="module")
def two_images(tmp_path_factory) -> list[Path]:
    """Two Kodak images (crops, so that the test stays short), or crops of the bundled sample."""
    folder = tmp_path_factory.mktemp("imgs")
    sources = sorted(KODAK.glob("*.png"))[:2] if KODAK.is_dir() else [SAMPLE, SAMPLE]
    for i, src in enumerate(sources):
        Image.open(src).convert("RGB").crop((64 * i, 32, 64 * i + 256, 32 + 192)).save(folder / f"k{i}.png")
    return sorted(folder.glob("*.png"))


def run_eval(files, out, cluster=tasks.Cluster(), **kw):
    from mspview.codec.profiles import get
    lm = load_weights()
    return evaluate(files, lm, LAMBDAS, get("fast"), [classical.get("webp")], out, {}, (0.1, 1.0), cluster, **kw)


def by_key(rows):
    return {(r["image"], r["codec"], r["setting"]): {k: r[k] for k in MEASURED} for r in rows}


def test_serial_and_local_cluster_give_the_same_rows(tmp_path, two_images):
    serial = run_eval(two_images, tmp_path / "serial")
    dask = run_eval(two_images, tmp_path / "dask", tasks.Cluster(workers=2))
    assert len(serial.rows) == 2 * len(LAMBDAS) + 2 * len(classical.get("webp").sweep)
    assert by_key(serial.rows) == by_key(dask.rows)
    assert serial.ours["mspview-fast"]["results"]["bpp"] == dask.ours["mspview-fast"]["results"]["bpp"]


def test_a_killed_worker_loses_no_row(tmp_path, two_images):
    """After 3 rows are written a worker process is killed while tasks are in flight; its tasks run on
    the other worker (or a new one) and every row is there exactly once."""
    seen = {"client": None, "killed": None}

    def on_client(client):
        seen["client"] = client

    def progress(row, done, failed, total):
        if done == 3 and seen["killed"] is None:
            pids = seen["client"].run(os.getpid)
            busy = [addr for addr, n in seen["client"].processing().items() if n]
            victim = busy[0] if busy else next(iter(pids))
            seen["killed"] = pids[victim]
            os.kill(pids[victim], signal.SIGKILL)

    out = tmp_path / "out"
    report = run_eval(two_images, out, tasks.Cluster(workers=2), progress=progress, on_client=on_client)
    assert seen["killed"]
    expected = 2 * len(LAMBDAS) + 2 * len(classical.get("webp").sweep)
    assert len(report.rows) == expected and not report.errors, [e["error"] for e in report.errors][:3]
    lines = [json.loads(line) for line in (out / tasks.ROWS).read_text().splitlines()]
    keys = [tasks.row_key(r) for r in lines]
    assert len(keys) == len(set(keys)) == expected  # each row written exactly once


def test_a_stopped_run_resumes_without_recomputing(tmp_path, two_images):
    out = tmp_path / "out"

    class Stop(Exception):
        pass

    def stop_after_five(row, done, failed, total):
        if done == 5:
            raise Stop

    with pytest.raises(Stop):
        run_eval(two_images, out, progress=stop_after_five)
    first = (out / tasks.ROWS).read_text().splitlines()
    assert len(first) == 5
    ran = []
    report = run_eval(two_images, out, progress=lambda row, *_: ran.append(row))
    total = 2 * len(LAMBDAS) + 2 * len(classical.get("webp").sweep)
    assert len(ran) == total - 5  # the five finished rows were not computed again
    assert (out / tasks.ROWS).read_text().splitlines()[:5] == first
    assert len(report.rows) == total


def test_bad_input_is_a_row_level_error_and_is_retried(tmp_path, two_images):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for f in two_images:
        (folder / f.name).write_bytes(f.read_bytes())
    (folder / "z.png").write_bytes(b"not a png")
    from mspview.eval.sweep import image_files
    out = tmp_path / "out"
    report = run_eval(image_files(folder), out)
    assert {e["image"] for e in report.errors} == {"z.png"}
    assert all("z.png" not in r["image"] for r in report.rows)
    assert "z.png" in (out / "bd_rate.md").read_text() if (out / "bd_rate.md").exists() else True
    again = run_eval(image_files(folder), out)
    assert len(again.errors) == len(report.errors)  # tried again, failed again: still a row-level error


def test_without_dask_the_cluster_options_say_how_to_get_it(monkeypatch):
    import builtins
    real = builtins.__import__

    def no_dask(name, *a, **kw):
        if name.startswith("distributed"):
            raise ImportError(name)
        return real(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_dask)
    from mspview.codec.errors import MSPError
    with pytest.raises(MSPError, match=r"pip install 'mspview\[dask\]'"):
        tasks.dask_client(tasks.Cluster(workers=2))
