"""Everything the bot (and the web page) share, built once from the settings."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.cooldown import Cooldowns
from bot.errors import CannotStart
from bot.retrain import Retrainer
from bot.settings import Settings
from bot.songwriter import Songwriter
from bot.store import Store
from model.errors import RegistryError
from model.registry import Registry, Run
from model.worker import Served, Worker, load_hf

log = logging.getLogger(__name__)
ANSWER_TIMEOUT = 10.0  # seconds to tell everyone left "shutting down" once the stop timeout ran out


def public_name(base_model: str) -> str:
    """Name a base model for the public: a hub id as it is, a local folder by its own name
    (its path would tell every visitor where our files live)."""
    path = Path(base_model)
    return path.name if path.is_absolute() or path.exists() else base_model


def serving_loader(registry: Registry, base_model: str) -> tuple[Callable[[], Served], Run | None]:
    """Return a loader for the published run (or the base model before any), and that run."""
    run = registry.current()
    if run is None:
        return (lambda: load_hf(base_model, model_id=public_name(base_model))), None
    return (lambda: load_hf(run.path, model_id=run.id)), run


@dataclass
class App:
    settings: Settings
    store: Store
    worker: Worker
    registry: Registry
    songwriter: Songwriter
    retrainer: Retrainer
    run: Run | None  # the published run being served; None while serving the base model
    started_at: float = field(default_factory=time.time)
    _closed: bool = False

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
            loader, run = serving_loader(registry, settings.base_model)
        except RegistryError as e:
            await store.close()  # its thread would keep the process alive
            raise CannotStart(f"cannot serve the published model: {e}; publish a good run "
                              "(python -m training publish RUN), roll back (python -m training "
                              f"rollback), or remove {registry.current_link} to serve "
                              "BASE_MODEL") from e
        log.info("serving %s", run.id if run else f"the base model {settings.base_model}")
        worker = Worker(loader, max_batch=settings.max_batch,
                        batch_window_ms=settings.batch_window_ms, queue_size=settings.queue_size)
        songwriter = Songwriter(worker, store, Cooldowns(settings.cooldown_seconds),
                                settings.prompt_max_chars, settings.request_timeout)
        retrainer = Retrainer(settings.home, settings.base_model, store, settings.retrain_args)
        app = cls(settings, store, worker, registry, songwriter, retrainer, run)
        if start_worker:
            app.start()
        return app

    def start(self) -> None:
        """Start loading the model; until it is loaded, requests are refused at once."""
        self.songwriter.refuse_until_loaded = True
        self.worker.start()

    async def reload(self) -> str:
        """Serve the published model (or the base model) anew; return its id."""
        loader, run = serving_loader(self.registry, self.settings.base_model)
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
        await self.worker.close(timeout=1.0)
        await self.store.close()
