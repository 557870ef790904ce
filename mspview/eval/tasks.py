"""An evaluation as independent tasks: one (image, codec, setting) each, one result row from a real file.

The same tasks run serially in this process or on a Dask cluster (a LocalCluster started here, or an
existing scheduler); rows are appended to OUT/rows.jsonl as they finish, so a stopped run resumes where
it was: a task whose row exists for the same image bytes, codec, setting and weights is not run again.
A task that fails on its input gives a row with an `error` instead of ending the run (and is tried again
by the next run). Images travel to workers as bytes; msp tasks name a weights file every worker can
read and the SHA-256 it must have (a worker with other weights there refuses the task).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..codec.errors import MSPError

ROWS = "rows.jsonl"


@dataclass(frozen=True)
class Task:
    image: str  # file name (the report's key)
    image_sha256: str
    codec: str  # "msp-<profile>" or a classical codec's name
    setting: float  # lambda, or the classical codec's knob
    weights: str = ""  # msp: the weights file on the worker; CompressAI: its spec (architecture, checkpoints) ...
    weights_sha256: str = ""  # ... and the SHA-256 they must have

    @property
    def key(self) -> tuple:
        return self.image, self.image_sha256, self.codec, float(self.setting), self.weights_sha256


def row_key(row: dict) -> tuple:
    return row["image"], row["image_sha256"], row["codec"], float(row["setting"]), row.get("weights_sha256", "")


def plan(files: list[Path], codecs, lambdas: list[float], profile_name: str | None, weights: tuple[str, str] | None
         ) -> tuple[list[Task], dict[str, bytes]]:
    """Every task of an evaluation (mspview first, when `weights` = (path, sha256) is given) and the
    images' bytes by name."""
    images = {f.name: f.read_bytes() for f in files}
    sha = {name: hashlib.sha256(data).hexdigest() for name, data in images.items()}
    tasks = []
    if weights:
        tasks += [Task(f.name, sha[f.name], f"msp-{profile_name}", lam, *weights) for lam in lambdas for f in files]
    for c in codecs:
        learned = (c.spec, c.sha256) if hasattr(c, "spec") else ()
        tasks += [Task(f.name, sha[f.name], c.name, s, *learned) for s in c.sweep for f in files]
    return tasks, images


class RowStore:
    """OUT/rows.jsonl: one JSON row per line, appended and flushed as each task finishes."""

    def __init__(self, out: Path):
        self.path = Path(out) / ROWS
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def load(self) -> dict[tuple, dict]:
        """The finished rows (errors excluded: they are tried again), the last of each key."""
        rows = {}
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:  # a line cut short by a kill mid-write
                    continue
                if "error" not in row:
                    rows[row_key(row)] = row
        return rows

    def append(self, row: dict) -> None:
        with open(self.path, "a") as fh:
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


# ------------------------------------------------------------------------------------- on a worker
_MODELS: dict[str, object] = {}


def _model(path: str, sha256: str):
    """The weights, loaded once per worker process, refused unless they are the client's."""
    from ..codec.weights import load_weights
    if path not in _MODELS:
        _MODELS[path] = load_weights(path or None)
    lm = _MODELS[path]
    if lm.sha256 != sha256:
        raise MSPError(f"the weights at {path or 'the default path'} on this worker are {lm.sha256[:12]}, "
                       f"not the client's {sha256[:12]}")
    return lm


def run_task(task: Task, image: bytes, threads: int | None = None) -> dict:
    """One row from a real file; our errors become a row with `error`."""
    import torch
    from PIL import Image

    from ..codec.coder import decode
    from ..codec.imageio import from_pil
    from ..codec.lof import run_profile
    from ..codec.profiles import get as get_profile
    from . import classical, learned
    from .metrics import measure

    if threads:
        torch.set_num_threads(threads)
    row = asdict(task)
    try:
        with Image.open(io.BytesIO(image)) as im:
            img = from_pil(im)
        t = time.perf_counter()
        if task.codec.startswith("msp-"):
            lm = _model(task.weights, task.weights_sha256)
            data = run_profile(lm, img, lm.rate(task.setting), get_profile(task.codec[4:])).encoded.data
            enc_s = time.perf_counter() - t
            t = time.perf_counter()
            out = decode(lm, data).image
        else:
            codec = learned.from_spec(task.weights) if task.weights else classical.get(task.codec)
            if task.weights and codec.sha256 != task.weights_sha256:
                raise MSPError(f"the checkpoints of {task.codec} on this worker are not the client's")
            data = codec.encode(img.rgb, task.setting)
            enc_s = time.perf_counter() - t
            t = time.perf_counter()
            out = codec.decode(data)
        dec_s = time.perf_counter() - t
        row.update(measure(len(data), out, img.rgb).row(), encoding_time=enc_s, decoding_time=dec_s)
    except (MSPError, OSError, ValueError) as e:
        row["error"] = str(e) or type(e).__name__
    return row


# ------------------------------------------------------------------------------------- on the client
@dataclass
class Cluster:
    """Where tasks run: `workers` processes of a LocalCluster started here, or an existing scheduler."""
    workers: int = 0
    scheduler: str | None = None

    @property
    def serial(self) -> bool:
        return not self.workers and not self.scheduler


def dask_client(cluster: Cluster):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise MSPError("--workers and --scheduler need Dask: pip install 'mspview[dask]'") from None
    if cluster.scheduler:
        try:
            return Client(cluster.scheduler, timeout="20s")
        except (OSError, TimeoutError) as e:
            raise MSPError(f"cannot reach the Dask scheduler at {cluster.scheduler}: {e}") from None
    return Client(LocalCluster(n_workers=cluster.workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0"))


def run(tasks: list[Task], images: dict[str, bytes], store: RowStore, cluster: Cluster = Cluster(),
        progress: Callable[[dict, int, int, int], None] = lambda _row, _done, _failed, _total: None,
        on_client: Callable[[object], None] = lambda _client: None) -> tuple[list[dict], list[dict]]:
    """Run the tasks without a row in `store`, appending each row as it finishes. Returns every finished
    row of `tasks` in task order, and this run's error rows. `progress(row, done, failed, total)` follows
    each row (done counts the rows found in the store too); `on_client` sees the Dask client once it
    exists (its dashboard address; the tests' handle on the workers)."""
    have = store.load()
    todo = [t for t in tasks if t.key not in have]
    done, total = len(tasks) - len(todo), len(tasks)
    failed: list[dict] = []

    def finish(row: dict) -> None:
        nonlocal done
        store.append(row)
        if "error" in row:
            failed.append(row)
        else:
            have[row_key(row)] = row
            done += 1
        progress(row, done, len(failed), total)

    if todo and cluster.serial:
        for t in todo:
            finish(run_task(t, images[t.image]))
    elif todo:
        client = dask_client(cluster)
        try:
            on_client(client)
            threads = max(1, (os.cpu_count() or 1) // max(1, cluster.workers)) if cluster.workers else None
            from distributed import as_completed
            # the image bytes travel inside each task, not scattered once: data held only by a worker that
            # dies is lost with it ("already forgotten"), a task's own arguments are resubmitted elsewhere
            futures = {client.submit(run_task, t, images[t.image], threads, pure=False, retries=2): t for t in todo}
            for future in as_completed(futures):
                try:
                    row = future.result()
                except Exception as e:  # noqa: BLE001 - the cluster's failure (e.g. KilledWorker), one task's row
                    row = {**asdict(futures[future]), "error": f"{type(e).__name__}: {e}"}
                finish(row)
        finally:
            cluster_obj = getattr(client, "cluster", None)
            client.close()
            if cluster_obj is not None:
                cluster_obj.close()
    return [have[t.key] for t in tasks if t.key in have], failed


def numeric(rows: list[dict]) -> list[dict]:
    """Rows as the report wants them (the task's bookkeeping fields left out)."""
    keep = ("image", "codec", "setting", "bytes", "bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time")
    return [{k: r[k] for k in keep} for r in rows if np.isfinite(r.get("bpp", np.nan))]
