"""Everything the bot (and the web page) share, built once from the settings."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.cooldown import Cooldowns
from bot.errors import CannotStart
from bot.retention import compact_forever
from bot.retrain import Retrainer
from bot.settings import Settings
from bot.songwriter import Songwriter
from bot.store import Store
from model import backends
from model.backend import Served
from model.composer import Composer
from model.ct2 import cached_base, has_conversion
from model.errors import RegistryError
from model.registry import Registry, Run
from model.worker import Worker

log = logging.getLogger(__name__)
ANSWER_TIMEOUT = 10.0  # seconds to tell everyone left "shutting down" once the stop timeout ran out


def public_name(base_model: str) -> str:
    """Name a base model for the public: a hub id as it is, a local folder by its own name
    (its path would tell every visitor where our files live)."""
    path = Path(base_model)
    return path.name if path.is_absolute() or path.exists() else base_model


def base_source(settings: Settings) -> str | Path:
    """Return what to load the base model from: its cached conversion where the backend uses one.

    With SERVING_BACKEND=ctranslate2 the base model is converted once, by the training CLI in a
    subprocess (this process never imports torch on that backend).
    """
    cached = cached_base(settings.cache_dir, settings.base_model)
    if settings.serving_backend == "openai":
        return settings.base_model  # the servers hold the weights
    if has_conversion(cached) or settings.serving_backend != "ctranslate2":
        return cached if has_conversion(cached) else settings.base_model
    log.info("converting the base model %s for CTranslate2 (once)",
             public_name(settings.base_model))
    done = subprocess.run(
        [sys.executable, "-m", "training", "convert", "--base", "--base-model",
         settings.base_model], capture_output=True, text=True,
        env={**os.environ, "SWIFTAI_HOME": str(settings.home)})
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise RegistryError(f"converting the base model failed: {lines[-1]}")
    return cached


def serving_loader(settings: Settings, registry: Registry) -> tuple[Callable[[], Served],
                                                                    Run | None]:
    """Return a loader for the published run (or the base model before any), and that run."""
    options = backends.Options(compute_type=settings.ct2_compute_type,
                               urls=settings.inference_urls, api_key=settings.inference_api_key,
                               model=settings.inference_model,
                               timeout=settings.inference_timeout)
    run = registry.current()
    if run is None:
        return (lambda: backends.load(settings.serving_backend, base_source(settings),
                                      public_name(settings.base_model), options)), None
    return (lambda: backends.load(settings.serving_backend, run.path, run.id, options)), run


@dataclass
class App:
    settings: Settings
    store: Store
    worker: Worker
    composer: Composer
    registry: Registry
    songwriter: Songwriter
    retrainer: Retrainer
    run: Run | None  # the published run being served; None while serving the base model
    started_at: float = field(default_factory=time.time)
    _closed: bool = False
    _compacting: asyncio.Task[None] | None = None  # the candidate log's retention

    @classmethod
    async def open(cls, settings: Settings, start_worker: bool = True) -> App:
        """Migrate and open the store, and start the worker on the published model.

        With start_worker=False the worker takes requests into its queue but serves none until
        `start()` (for a caller that starts it later), or `worker.start()` (commands that need
        no model, and tests that hold requests in the queue).
        """
        store = await Store.open(settings.database)
        registry = Registry(settings.models_dir)
        try:
            loader, run = serving_loader(settings, registry)
        except RegistryError as e:
            await store.close()  # its thread would keep the process alive
            raise CannotStart(f"cannot serve the published model: {e}; publish a good run "
                              "(python -m training publish RUN), roll back (python -m training "
                              f"rollback), or remove {registry.current_link} to serve "
                              "BASE_MODEL") from e
        log.info("serving %s", run.id if run else f"the base model {settings.base_model}")
        worker = Worker(loader, max_batch=settings.max_batch,
                        batch_window_ms=settings.batch_window_ms, queue_size=settings.queue_size)
        composer = Composer(worker, candidates=settings.candidates)
        songwriter = Songwriter(composer, store, Cooldowns(settings.cooldown_seconds),
                                settings.prompt_max_chars, settings.request_timeout)
        retrainer = Retrainer(settings.home, settings.base_model, store, settings.retrain_args)
        app = cls(settings, store, worker, composer, registry, songwriter, retrainer, run)
        if start_worker:
            app.start()
        return app

    def start(self) -> None:
        """Start loading the model (until it is loaded, requests are refused at once) and the
        candidate log's compaction (now, then hourly)."""
        self.songwriter.refuse_until_loaded = True
        self.worker.start()
        self._compacting = asyncio.get_running_loop().create_task(
            compact_forever(self.store, self.settings.candidate_retention_days))

    async def reload(self) -> str:
        """Serve the published model (or the base model) anew; return its id."""
        loader, run = serving_loader(self.settings, self.registry)
        served = await self.worker.reload(loader)
        self.run = run
        return served

    async def drain(self, timeout: float) -> None:
        """Take no new work; let requests in flight finish and be answered for up to
        `timeout`; then answer the rest "shutting down" (logged). The store stays open."""
        self.worker.stop()
        if await self.songwriter.wait_idle(timeout):
            return
        log.warning("shutting down: gave up waiting for songs in progress after %.0f s",
                    timeout)
        self.songwriter.give_up()
        if not await self.songwriter.wait_idle(ANSWER_TIMEOUT):
            log.warning("some requests were still being answered after %.0f s", ANSWER_TIMEOUT)

    async def close(self, timeout: float = 30.0) -> None:
        """Drain (see above), stop the worker, and close the store last."""
        if self._closed:
            return
        self._closed = True
        await self.drain(timeout)
        if self._compacting is not None:
            self._compacting.cancel()
            await asyncio.gather(self._compacting, return_exceptions=True)
        await self.worker.close(timeout=1.0)
        await self.store.close()
