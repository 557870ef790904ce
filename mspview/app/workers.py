"""Runs the jobs of jobs.py in a separate worker process and turns their events into Qt signals.

A worker thread would share the GIL with the UI thread: pyqtgraph and Qt's Python glue then wait
for the GIL between every torch call of an encode, and the UI stutters for 100+ ms at a time. In a
process, the UI keeps its interpreter to itself. The process starts with the window (importing
torch takes seconds), keeps the loaded weights between jobs, and is shut down when the window closes.

    UI thread --(job)--> worker process --(events, result)--> reader QThread --(signals)--> UI thread

Events travel on a one-way pipe whose only write end the worker holds: when the worker ends (or is
killed mid-message at close), the reader gets end-of-file and stops; it never waits on a message that
cannot come. An idle worker whose app has died (a crash, a kill: no close, no atexit) ends by itself; a
busy one ends at its job's next event, which has nowhere to go. A worker that dies under the app (the
out-of-memory killer) fails its job with the reason, and the next job starts a fresh one.

The worker runs at the app's priority. Lowered (nice 10), a quick encode beside two busy processes took
373 s instead of 28 s, and the UI's longest stall was the same (20 and 19 ms; benchmarks/ui_latency.py).
"""
from __future__ import annotations

import itertools
import multiprocessing as mp
import pickle
import queue
import signal
import traceback
from typing import Callable

from PySide6.QtCore import QObject, QThread, Signal

_CTX = mp.get_context("spawn")  # fork would copy Qt's threads into the child
PARENT_CHECK_S = 1.0  # how often an idle worker checks that the app is still there


class _CancelFlag:
    """How the UI ends one job (jobs.JobFlags' two questions over shared memory): it raises
    `cancelled_upto` to cancel every job up to an id (nothing new is kept), `stopped_upto` to stop one
    and keep what it has (LOF's best latent so far)."""

    def __init__(self, job_id: int, cancelled_upto, stopped_upto):
        self.job_id, self.cancelled_upto, self.stopped_upto = job_id, cancelled_upto, stopped_upto

    def is_set(self) -> bool:
        return self.cancelled_upto.value >= self.job_id

    def stopping(self) -> bool:
        return self.is_set() or self.stopped_upto.value >= self.job_id


def _serve(model_path, jobs_in, events_out, cancelled_upto, stopped_upto) -> None:
    """Worker process main loop: (job_id, job function, device, args) in, (job_id, kind, payload) out."""
    import torch  # noqa: F401 - import before the first job, not during it

    from ..codec.errors import Cancelled, MSPError
    from ..codec.weights import load_weights

    models = {}

    def model(device: str):
        if device not in models:
            models[device] = load_weights(model_path, device)
        return models[device]

    events_out.send((0, "ready", ""))
    app = mp.parent_process()
    while True:
        try:
            item = jobs_in.get(timeout=PARENT_CHECK_S)
        except queue.Empty:
            if app is not None and not app.is_alive():
                return  # the app ended without closing us (a crash, a kill): do not linger holding the weights
            continue
        if item is None:
            return
        job_id, job, device, args = item
        emit = lambda ev, job_id=job_id: events_out.send((job_id, "event", ev))  # noqa: E731
        try:
            result = job(model(device), *args, emit, _CancelFlag(job_id, cancelled_upto, stopped_upto))
        except Cancelled:
            events_out.send((job_id, "failed", ""))
        except MSPError as e:
            events_out.send((job_id, "failed", str(e)))
        except Exception as e:  # noqa: BLE001 - a bug becomes a dialog, not a dead worker
            traceback.print_exc()
            events_out.send((job_id, "failed", f"unexpected error: {e!r}"))
        else:
            # Plain pickle: the pipe's own pickler would share torch tensors through file
            # descriptors that vanish when this process exits.
            events_out.send((job_id, "finished", pickle.dumps(result)))


class _Reader(QThread):
    message = Signal(object, str, object)
    ended = Signal()  # the worker's end of the pipe closed: it exited, or died

    def __init__(self, events, parent):
        super().__init__(parent)
        self.events = events

    def run(self) -> None:
        while True:
            try:
                job_id, kind, payload = self.events.recv()  # blocks without holding the GIL
            except (EOFError, OSError):  # the worker is gone, maybe in the middle of a message
                self.ended.emit()
                return
            if kind != "ready":
                self.message.emit(job_id, kind, payload)


def _exit_words(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}{' (out of memory?)' if code == -signal.SIGKILL else ''}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class JobRunner(QObject):
    """One job at a time in the worker process; starting a new one cancels the outdated one."""
    event = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    busy_changed = Signal(bool)

    def __init__(self, model_path: str | None = None, parent=None):
        super().__init__(parent)
        self._model_path = model_path
        self._ids = itertools.count(1)
        self._current: int | None = None
        self._stopping = False
        self._spawn()

    def _spawn(self) -> None:
        """A fresh worker with its own queue, pipe and flag (a killed worker may have held the queue's lock)."""
        self._jobs = _CTX.Queue()
        events, events_out = _CTX.Pipe(duplex=False)
        self._cancelled_upto, self._stopped_upto = _CTX.Value("q", 0), _CTX.Value("q", 0)
        self._proc = _CTX.Process(target=_serve, args=(self._model_path, self._jobs, events_out, self._cancelled_upto,
                                                       self._stopped_upto),
                                  daemon=True, name="mspview-worker")
        self._proc.start()
        events_out.close()  # the worker's copy is now the only write end: its exit ends the reader
        self._reader = _Reader(events, self)
        self._reader.message.connect(self._on_message)
        self._reader.ended.connect(self._on_worker_ended)
        self._reader.start()

    @property
    def busy(self) -> bool:
        return self._current is not None

    def start(self, job: Callable, device: str, *args) -> None:
        """Run job(model on `device`, *args, emit, cancel) in the worker process; `job` is a module-level
        function (jobs.py), which travels to the worker by name."""
        self.cancel()  # an outdated job stops at its next check; its messages are dropped
        if not self._proc.is_alive():  # it died under the previous job
            self._reader.wait(5000)
            self._spawn()
        job_id = next(self._ids)
        self._current = job_id
        self._jobs.put((job_id, job, device, args))
        self.busy_changed.emit(True)

    def cancel(self) -> None:
        if self._current is not None:
            self._cancelled_upto.value = self._current

    def stop_keeping(self) -> None:
        """The running job ends early with what it has (LOF: its best latent so far, written and decoded)."""
        if self._current is not None:
            self._stopped_upto.value = self._current

    def _on_worker_ended(self) -> None:
        """The worker died (the out-of-memory killer, a crash in native code): its job fails with the
        reason; the next job starts a fresh worker (never a loop of restarts)."""
        if self._stopping or self._current is None:
            return
        self._proc.join(5)
        self._on_message(self._current, "failed", f"the worker process ended unexpectedly "
                         f"({_exit_words(self._proc.exitcode)}); the next job starts a new one")

    def _on_message(self, job_id, kind: str, payload) -> None:
        if job_id != self._current:
            return
        if kind == "event":
            self.event.emit(payload)
            return
        self._current = None
        self.busy_changed.emit(False)
        if kind == "finished":
            self.finished.emit(pickle.loads(payload))
        else:
            self.failed.emit(payload)

    def stop(self) -> None:
        """Cancel any job, then end the worker process and the reader thread (window closing)."""
        self._stopping = True
        self.cancel()
        self._current = None
        if self._proc.is_alive():
            self._jobs.put(None)
            self._proc.join(5)
        for end in (self._proc.terminate, self._proc.kill):  # a job that does not stop in time
            if self._proc.is_alive():
                end()
                self._proc.join(2)
        self._reader.wait(5000)

    def is_running(self) -> bool:
        return self._proc.is_alive() or self._reader.isRunning()
