"""Run `python -m training run --artist A` as a subprocess, one at a time per artist, following
its JSON progress.

The bot never imports `training`: it reads the JSON lines the CLI prints with `--progress json`
(see training/progress.py) and the exit status. This module alone owns the retrain slot and the
retrain's row in the log: the slot is freed and the row finished whatever happens.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.errors import RetrainRunning
from bot.storage.store import Store
from model.registry.runs import slug

log = logging.getLogger(__name__)


@dataclass
class RetrainState:
    started_by: str
    started_at: float = field(default_factory=time.time)
    stage: str = "starting"
    step: int | None = None
    total: int | None = None
    eta: float | None = None

    def describe(self) -> str:
        """Say in a line where the retrain is."""
        text = f"{self.stage}"
        if self.step is not None and self.total:
            text += f" {self.step}/{self.total} ({self.step / self.total:.0%})"
        if self.eta is not None:
            text += f", about {self.eta:.0f} s left in this stage"
        return text


@dataclass(frozen=True)
class RetrainResult:
    run_id: str
    perplexity: float | None
    previous_perplexity: float | None
    served: str | None = None  # the model id the worker serves afterwards
    verdict: str | None = None  # how its songs measured: the targets missed, can you tell


def done_message(result: RetrainResult, artist: str, remote_model: str | None) -> str:
    """Say how a successful retrain ended, and on remote serving (`remote_model`: the artist's
    model name on the servers) what the operator does next."""
    before = f"{result.previous_perplexity:.2f} → " if result.previous_perplexity else ""
    scores = f"validation perplexity {before}{result.perplexity:.2f}" + (
        f"; {result.verdict}" if result.verdict else "")
    if remote_model is None:
        return f"✅ {artist}: now serving `{result.served}`: {scores}"
    folder = f"$SWIFTAI_HOME/models/{slug(artist)}/current"
    return (f"✅ {artist}: published `{result.run_id}` ({scores}) into `{folder}`. The "
            "inference servers still hold the old weights: restart them on it (a LoRA run: "
            f"`--lora-modules {remote_model}={folder}`; a full run: `vllm serve {folder} "
            f"--served-model-name {remote_model}`), then `/reload artist:{artist}`.")


class RetrainFailed(Exception):
    """The training run failed; the message holds its last error lines."""


class ServeFailed(RetrainFailed):
    """The new run was published but could not be loaded; the old model keeps serving."""

    def __init__(self, run_id: str, error: BaseException) -> None:
        super().__init__(f"published {run_id} but could not load it: {error}")
        self.run_id = run_id
        self.reason = str(error)


class Retrainer:
    """One artist's retrains: one at a time for that artist; other artists' retrainers are
    independent (each trains into its own registry)."""

    def __init__(self, home: Path, base_model: str, store: Store,
                 extra_args: tuple[str, ...] = (), artist: str | None = None) -> None:
        self.home = home
        self.base_model = base_model
        self.store = store
        self.extra_args = extra_args
        self.artist = artist  # None: the CLI's default (SWIFTAI_ARTIST)
        self.state: RetrainState | None = None

    def command(self, refresh: bool, force: bool = False) -> list[str]:
        """Return the training command line."""
        args = [sys.executable, "-m", "training", "run", "--progress", "json", *self.extra_args]
        if self.artist is not None:
            args += ["--artist", self.artist]
        return args + ["--refresh"] * refresh + ["--force"] * force

    @contextlib.contextmanager
    def claim(self, started_by: str) -> Iterator[RetrainState]:
        """Hold the artist's retrain slot for the block, or say who holds it and how far
        they are."""
        if self.state is not None:
            whose = f" of {self.artist}" if self.artist else ""
            raise RetrainRunning(f"a retrain{whose} started by {self.state.started_by} is "
                                 f"already running: {self.state.describe()}")
        self.state = RetrainState(started_by)
        try:
            yield self.state
        finally:
            self.state = None

    async def run(self, user_id: str, refresh: bool,
                  on_progress: Callable[[RetrainState], Awaitable[None]],
                  serve: Callable[[], Awaitable[str]], force: bool = False) -> RetrainResult:
        """In the claimed slot: log the retrain, train and publish, then `serve` the new run.
        `force` publishes it even when it scores worse than the model it replaces.

        Raises RetrainFailed (or ServeFailed) with the reason; the row is marked failed for
        these and for anything else that ends the retrain early.
        """
        state = self.state
        assert state is not None, "claim() first"
        retrain_id = await self.store.start_retrain(user_id, refresh, self.artist)
        ending: dict[str, Any] = {"outcome": "failed", "error": "ended before it finished"}
        try:
            result = await self._run(state, refresh, on_progress, force)
            ending["run_id"] = result.run_id
            try:
                served = await serve()
            except Exception as e:  # whatever the loader raised, the old model keeps serving
                log.exception("published %s but could not load it", result.run_id)
                raise ServeFailed(result.run_id, e) from e
            ending = {"outcome": "published", "run_id": result.run_id, "error": None,
                      "perplexity_before": result.previous_perplexity,
                      "perplexity_after": result.perplexity}
            return RetrainResult(result.run_id, result.perplexity, result.previous_perplexity,
                                 served, result.verdict)
        except BaseException as e:
            ending["error"] = (str(e) if isinstance(e, RetrainFailed)
                               else f"{type(e).__name__}: {e}")[-2000:]
            raise
        finally:
            await self.store.finish_retrain(retrain_id, **ending)

    async def _run(self, state: RetrainState, refresh: bool,
                   on_progress: Callable[[RetrainState], Awaitable[None]],
                   force: bool) -> RetrainResult:
        env = {**os.environ, "SWIFTAI_HOME": str(self.home), "BASE_MODEL": self.base_model}
        process = await asyncio.create_subprocess_exec(
            *self.command(refresh, force), stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env)
        assert process.stdout is not None and process.stderr is not None
        stderr_tail: collections.deque[str] = collections.deque(maxlen=15)

        async def read_stderr() -> None:
            assert process.stderr is not None
            async for raw in process.stderr:
                line = raw.decode("utf-8", "replace").rstrip()
                if line and not line.startswith(("\r", " ")):
                    stderr_tail.append(line)

        reader = asyncio.create_task(read_stderr())
        published: dict[str, Any] | None = None
        error: str | None = None
        try:
            async for raw in process.stdout:
                try:
                    record = json.loads(raw)
                except json.JSONDecodeError:
                    continue  # stray output: progress lines are the only contract
                if record.get("stage") == "error":
                    error = record.get("message")
                elif record.get("stage") == "publish" and "run" in record:
                    published = record
                else:
                    state.stage = record.get("stage", state.stage)
                    state.step, state.total = record.get("step"), record.get("total")
                    state.eta = record.get("eta")
                    await on_progress(state)
            code = await process.wait()
        except asyncio.CancelledError:
            process.terminate()  # the bot is shutting down: the current model stays in place
            await process.wait()
            raise
        finally:
            await reader
        if code != 0 or published is None:
            detail = error or "\n".join(stderr_tail) or f"exit status {code}"
            raise RetrainFailed(detail)
        return RetrainResult(published["run"], published.get("perplexity"),
                             published.get("previous_perplexity"),
                             verdict=published.get("verdict"))
