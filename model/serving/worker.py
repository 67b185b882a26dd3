"""The worker: one thread owns the model and serves asyncio callers in batches.

It knows queues, batches and deadlines; not lyrics, not torch, not HTTP. Contract:
- One thread owns the backend (tokenizer and model): fast tokenizers fail with "Already borrowed"
  when shared across threads, and a model call inside a coroutine stalls the event loop.
- `submit_nowait` never blocks: a full queue raises `Busy` at once. Results and exceptions come
  back on the caller's loop through `call_soon_threadsafe`; a caller that gave up is skipped.
- Dynamic batching: which queued requests run together, and how long the thread waits for more,
  is the policy in model/serving/scheduler.py (max_batch rows, batch_window_ms, regathering the last
  batch's callers, deadlines); the thread asks it and does what it says.
- Requests past their deadline, or cancelled, before their batch starts are never generated.
- One request's failure never fails another: a failing batch is split in halves until only the
  failing request fails (out-of-memory included).
- `reload` loads a new model on a helper thread (service goes on), tries it, and the worker swaps
  it in between batches; if loading fails the old model keeps serving.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from model.errors import (
    Busy,
    DeadlineExceeded,
    GenerationError,
    Offline,
    OutOfMemory,
    Stopped,
)
from model.serving.protocol import Backend, Completion, GenRequest, Served
from model.serving.scheduler import Pick, Scheduler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Generated:
    completions: list[Completion]  # request.k of them
    served: Served  # the model that wrote them (a swap may come between two requests)
    queue_ms: float  # from submit to the start of its batch
    generate_ms: float  # the batch's generation time, splits included
    batch_size: int  # rows in the batch


@dataclass(frozen=True)
class Stats:
    model_id: str | None
    queue_depth: int
    recent_batch_sizes: list[int]
    p50_ms: float | None  # submit-to-result latency over the window
    p95_ms: float | None
    served: int  # results in the window
    failed: int  # failures (not Busy) in the window


@dataclass(eq=False)
class _Job:
    request: GenRequest
    future: asyncio.Future[Generated]
    arrived: float
    deadline: float | None
    number: int  # its place in the order of arrival (the scheduler's regathering counts them)

    @property
    def rows(self) -> int:
        """Return the rows it takes in a batch."""
        return self.request.k


def _settle(future: asyncio.Future[Any], outcome: Any) -> None:
    if future.done():  # the caller gave up; nobody is waiting
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _deliver(future: asyncio.Future[Any], outcome: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the caller's loop is closed: nobody to tell
        future.get_loop().call_soon_threadsafe(_settle, future, outcome)


class Ticket:
    """A submitted request: await it for its `Generated`; ask it for its place in the queue."""

    def __init__(self, worker: Worker, job: _Job) -> None:
        self._worker = worker
        self._job = job

    def position(self) -> int:
        """Return 1 for the front of the queue, 2 behind it, ...; 0 once generation started."""
        return self._worker._position(self._job)

    def cancel(self) -> None:
        """Give up; the request is dropped if its batch has not started."""
        self._job.future.cancel()

    def __await__(self) -> Any:
        return self._job.future.__await__()


class Worker:
    def __init__(self, loader: Callable[[], Served], *, max_batch: int = 16,
                 batch_window_ms: float = 15.0, queue_size: int = 64) -> None:
        self._loader = loader
        self.scheduler = Scheduler(max_batch, batch_window_ms / 1000)
        self.queue_size = queue_size
        self._cond = threading.Condition()
        self._pending: collections.deque[_Job] = collections.deque()
        self._served: Served | None = None
        self._swap: tuple[Served, asyncio.Future[str]] | None = None
        self._reloading = False
        self._stopping = False
        self._drain = True
        self._ending = False  # close(): the thread ends once the queue is empty
        self._ready = threading.Event()
        self._load_error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="generation-worker", daemon=True)
        self._batch_sizes: collections.deque[int] = collections.deque(maxlen=50)
        self._arrivals = 0  # requests submitted, ever
        self._outcomes: collections.deque[tuple[float, float | None]] = collections.deque(
            maxlen=10_000)  # (finished at, latency ms or None for a failure)

    @property
    def max_batch(self) -> int:
        """Return the most rows one batch generates."""
        return self.scheduler.max_batch

    # ---- asyncio side -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread; it loads the model first."""
        self._thread.start()

    async def ready(self) -> None:
        """Wait until the first model is loaded; raise its load error if it failed."""
        await asyncio.to_thread(self._ready.wait)
        if self._load_error is not None:
            raise self._load_error

    @property
    def served(self) -> Served | None:
        """Return the model serving now (None while the first one loads)."""
        return self._served

    @property
    def loaded(self) -> bool:
        """Say whether a model is loaded and serving."""
        return self._served is not None

    def submit_nowait(self, request: GenRequest, timeout: float | None = None,
                      force: bool = False) -> Ticket:
        """Queue a request; raise Busy at once when the queue is full.

        `force` queues past a full queue: for the next step of work already accepted (a song's
        next section), which must not be refused halfway.
        """
        future: asyncio.Future[Generated] = asyncio.get_running_loop().create_future()
        now = time.monotonic()
        with self._cond:
            if self._stopping and not (force and self._drain and not self._ending):
                raise Stopped("the generator is shutting down")  # a song under way goes on
            if self._load_error is not None:
                raise GenerationError(f"the model failed to load: {self._load_error}")
            if len(self._pending) >= self.queue_size and not force:
                raise Busy("busy: too many songs being written, try again in a moment")
            reason = self._served.unavailable() if self._served else None
            if reason:  # a remote backend with no server up: queueing would only hang
                raise Offline(reason)
            self._arrivals += 1
            job = _Job(request, future, now, now + timeout if timeout else None, self._arrivals)
            self._pending.append(job)
            self._cond.notify_all()
        return Ticket(self, job)

    async def submit(self, request: GenRequest, timeout: float | None = None) -> Generated:
        """Queue a request and wait for its completions."""
        return await self.submit_nowait(request, timeout)

    async def reload(self, loader: Callable[[], Served]) -> str:
        """Load a model beside the current one, try it, swap it in between batches.

        Returns the new model id. If loading or trying fails, the exception is raised here and
        the old model keeps serving.
        """
        with self._cond:
            if self._reloading:
                raise Busy("a reload is already in progress")
            self._reloading = True
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        threading.Thread(target=self._load_beside, args=(loader, future), daemon=True).start()
        try:
            return await future
        finally:
            with self._cond:
                self._reloading = False

    async def close(self, timeout: float = 30.0) -> None:
        """Take no new work; finish pending requests for up to `timeout`, fail the rest."""
        if self._thread.ident is None:  # never started: nothing can serve what is queued
            self.stop(drain=False)
            self._fail_pending()
            return
        started = time.monotonic()
        if not await asyncio.to_thread(self._ready.wait, timeout):
            # Still loading after `timeout`: a load cannot be interrupted, so answer what waits
            # and leave the (daemon) thread to end with the process.
            self.stop(drain=False)
            self._fail_pending()
            return
        self.stop(drain=True, end=True)
        await asyncio.to_thread(self._thread.join, max(0.0, timeout - (time.monotonic() - started)))
        if self._thread.is_alive():
            self.stop(drain=False)
            await asyncio.to_thread(self._thread.join)

    def stop(self, drain: bool = True, end: bool = False) -> None:
        """Stop taking new work (the next steps of work under way still come in, `force`);
        with drain=False, fail every pending request now; `end` ends the thread once idle."""
        with self._cond:
            self._stopping = True
            self._drain = self._drain and drain
            self._ending = self._ending or end
            self._cond.notify_all()

    def stats(self, window_s: float = 3600.0) -> Stats:
        """Return live figures: queue depth, recent batch sizes, latency percentiles, model id."""
        cutoff = time.time() - window_s
        with self._cond:
            outcomes = [o for o in self._outcomes if o[0] >= cutoff]
            depth = len(self._pending)
            sizes = list(self._batch_sizes)
        latencies = sorted(ms for _, ms in outcomes if ms is not None)

        def percentile(q: float) -> float | None:
            return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1) \
                if latencies else None

        served = self._served
        return Stats(served.info.model_id if served else None, depth, sizes, percentile(0.5),
                     percentile(0.95), len(latencies), len(outcomes) - len(latencies))

    def _position(self, job: _Job) -> int:
        with self._cond:
            try:
                return self._pending.index(job) + 1
            except ValueError:
                return 0

    # ---- the worker thread --------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._served = self._loader()
        except Exception as e:  # reported to whoever awaits ready(); nothing to serve with
            with self._cond:
                self._load_error = e
        finally:
            self._ready.set()
        while self._served is not None:
            pick = self._next_batch()
            if pick is None:
                break
            if pick.taken:
                try:
                    self._serve(pick)
                except Exception as e:  # a bug must cost this batch, never the thread
                    log.exception("serving a batch of %d failed", pick.taken)
                    for job in [*pick.batch, *pick.expired]:
                        if not job.future.done():
                            self._fail(job, e)
        self._fail_pending()
        if self._served is not None:
            self._served.close()  # a remote backend's probe thread and connections

    def _fail_pending(self) -> None:
        with self._cond:
            leftovers, self._pending = list(self._pending), collections.deque()
        for job in leftovers:
            _deliver(job.future, Stopped("the generator stopped before this request"))

    def _next_batch(self) -> Pick[_Job] | None:
        """Wait for work; return the scheduler's pick (an empty one after a swap), or None when
        it is time to stop."""
        with self._cond:
            while not self._pending and self._swap is None and \
                    not (self._stopping and (self._ending or not self._drain)):
                self._cond.wait()
            if self._swap is not None:
                served, future = self._swap
                old, self._swap, self._served = self._served, None, served
                if old is not None:
                    old.close()
                _deliver(future, served.info.model_id)
                return Pick()
            if self._stopping and (not self._drain or not self._pending):
                return None
            while True:  # only submit() and stop() change what the scheduler sees meanwhile
                pick = self.scheduler.pick(self._pending, time.monotonic(),
                                           draining=self._stopping)
                if pick.wait_until is None:
                    break
                self._cond.wait(max(0.0, pick.wait_until - time.monotonic()))
            for _ in range(pick.taken):
                self._pending.popleft()
            return pick

    def _serve(self, pick: Pick[_Job]) -> None:
        served = self._served
        assert served is not None
        started = time.monotonic()
        for job in pick.expired:
            if not job.future.done():  # a request cancelled meanwhile is nobody's failure
                self._fail(job, DeadlineExceeded("waited too long in the queue; try again"))
        live: list[_Job] = []
        for job in pick.batch:
            if job.future.done():
                continue  # cancelled while queued: never generated
            try:
                served.backend.check(job.request)
            except Exception as e:  # BadRequest, or a tokenizer choking on odd input
                self._fail(job, e)
                continue
            live.append(job)
        if not live:
            return
        rows = sum(j.request.k for j in live)
        self._batch_sizes.append(rows)
        outcomes = self._generate_isolated(served.backend, [j.request for j in live])
        ended = time.monotonic()
        generate_ms = round((ended - started) * 1000, 1)
        with self._cond:  # before delivery: a caller may come back at once
            self.scheduler.ran(len(live), self._arrivals, started, ended)
        for job, outcome in zip(live, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                self._fail(job, outcome)
                continue
            with self._cond:
                self._outcomes.append((time.time(), (time.monotonic() - job.arrived) * 1000))
            _deliver(job.future, Generated(outcome, served,
                                           round((started - job.arrived) * 1000, 1),
                                           generate_ms, rows))

    def _fail(self, job: _Job, error: BaseException) -> None:
        with self._cond:
            self._outcomes.append((time.time(), None))
        _deliver(job.future, error)

    def _generate_isolated(self, backend: Backend, requests: list[GenRequest]) -> list[Any]:
        """Generate a batch; on failure, split it so that only the failing request fails."""
        try:
            return backend.generate(requests)
        except OutOfMemory as e:
            if len(requests) == 1:
                return [GenerationError("out of memory for this request; try fewer lines")]
            error: Exception = e
        except Exception as e:
            if len(requests) == 1:
                if isinstance(e, GenerationError):  # expected (a server's 400): one line
                    log.warning("generation refused for one request: %s", e)
                else:
                    log.exception("generation failed for one request")
                return [e]
            error = e
        log.warning("batch of %d failed (%s); trying it in halves", len(requests), error)
        half = len(requests) // 2
        return (self._generate_isolated(backend, requests[:half])
                + self._generate_isolated(backend, requests[half:]))

    def _load_beside(self, loader: Callable[[], Served], future: asyncio.Future[str]) -> None:
        try:
            served = loader()
            served.backend.generate([GenRequest("Hello", max_new_tokens=4)])
        except Exception as e:  # the caller gets the reason; the current model keeps serving
            _deliver(future, e)
            return
        with self._cond:
            if self._stopping:
                _deliver(future, Stopped("the generator is shutting down"))
                return
            self._swap = (served, future)
            self._cond.notify_all()
