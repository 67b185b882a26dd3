"""Everything the bot (and the web page) share, built once from the settings: the store, one
Deployment per served artist (keyed by the artist's name, the default first), the request
service that routes each request to its artist's engine, and the state of the link to Discord.

Every room is handed the App; it imports none of them (chat/ and web/ import it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.errors import CannotStart
from bot.service.asks import served_artist
from bot.service.cooldowns import Cooldowns
from bot.service.deployments import Deployment
from bot.service.requests import RequestService
from bot.service.status import LinkState, artist_facts
from bot.storage.retention import compact_forever
from bot.storage.store import Store
from model.errors import RegistryError
from model.lyrics.songtext import SONG_CHARS
from model.registry.runs import move_single_artist_home
from swiftai.settings import Settings

log = logging.getLogger(__name__)
ANSWER_TIMEOUT = 10.0  # seconds to tell everyone left "shutting down" once the stop timeout ran out


class LoadFailed(Exception):
    """An artist's model did not load; `deployment` says whose, `error` why."""

    def __init__(self, deployment: Deployment, error: BaseException) -> None:
        super().__init__(f"{deployment.artist}: {error}")
        self.deployment = deployment
        self.error = error


@dataclass
class App:
    settings: Settings
    store: Store
    deployments: dict[str, Deployment]  # by artist, in SWIFTAI_ARTISTS order: the default first
    requests: RequestService
    started_at: float = field(default_factory=time.time)
    discord: LinkState = field(default_factory=LinkState)  # set by python -m bot's Link
    _closed: bool = False
    _compacting: asyncio.Task[None] | None = None  # the candidate log's retention

    @classmethod
    async def open(cls, settings: Settings, start_worker: bool = True,
                   song_chars: int = SONG_CHARS) -> App:
        """Migrate and open the store, move a single-artist home into place, and start each
        artist's worker on its published model; a whole song fits `song_chars` characters.

        With start_worker=False the workers take requests into their queues but serve none
        until `start()` (for a caller that starts them later), or `worker.start()` (commands
        that need no model, and tests that hold requests in the queue).
        """
        store = await Store.open(settings.database)
        try:
            moved = move_single_artist_home(settings.models_dir,
                                            [settings.artist, *settings.artists])
            if moved is not None:
                log.info("moved the single-artist model registry to %s", moved)
            deployments: dict[str, Deployment] = {}
            for artist in settings.artists:
                deployments[artist] = Deployment.open(settings, artist, store, song_chars)
            if 4 in store.migrated:  # the first start since the log had artists
                await store.attribute_old_rows(_run_artists(deployments.values()),
                                               settings.artist)
        except RegistryError as e:
            await store.close()  # its thread would keep the process alive
            raise CannotStart(f"cannot serve the published model: {e}; publish a good run "
                              "(python -m training publish RUN --artist ARTIST), roll back "
                              "(python -m training rollback --artist ARTIST), or remove the "
                              "artist's models/<artist>/current to serve BASE_MODEL") from e
        for deployment in deployments.values():
            log.info("%s: serving %s", deployment.artist, deployment.run.id if deployment.run
                     else f"the base model {settings.base_model}")
        requests = RequestService(deployments, store, Cooldowns(settings.cooldown_seconds),
                                settings.prompt_max_chars, settings.request_timeout)
        app = cls(settings, store, deployments, requests)
        if start_worker:
            app.start()
        return app

    @property
    def default(self) -> Deployment:
        """Return the first configured artist's deployment (the web's and Discord's default)."""
        return next(iter(self.deployments.values()))

    def deployment(self, artist: str | None) -> Deployment:
        """Return the deployment of a served artist (its name in any case, or its slug; None:
        the default); raise UnknownArtist naming the served ones."""
        return self.deployments[served_artist(artist, tuple(self.deployments))]

    def start(self) -> None:
        """Start loading every artist's model (until one is loaded, its requests are refused)
        and the candidate log's compaction (now, then hourly)."""
        self.requests.refuse_until_loaded = True
        for deployment in self.deployments.values():
            deployment.worker.start()
        self._compacting = asyncio.get_running_loop().create_task(
            compact_forever(self.store, self.settings.candidate_retention_days))

    async def ready(self) -> None:
        """Wait until every artist's model is loaded; raise LoadFailed for the first that fails."""
        async def one(deployment: Deployment) -> None:
            try:
                await deployment.worker.ready()
            except Exception as e:
                raise LoadFailed(deployment, e) from e

        await asyncio.gather(*(one(d) for d in self.deployments.values()))

    @property
    def loaded(self) -> bool:
        """Say whether every artist's model is loaded."""
        return all(d.worker.loaded for d in self.deployments.values())

    async def status(self, artist: str | None = None) -> dict[str, Any]:
        """Gather what /status and the web page show: the facts of one artist (default: the
        first), the bot's own, and every artist's in `artists`. Raises UnknownArtist for an
        artist not served."""
        today = datetime.now(UTC).strftime("%Y-%m-%dT00:00:00")
        return {
            **artist_facts(self.deployment(artist)),
            "generations_today": await self.store.count_since(today),
            "uptime_s": time.time() - self.started_at,
            "artists": [artist_facts(d) for d in self.deployments.values()],
            "discord": self.discord.state,  # off (web only), connecting, up or down
        }

    async def reload(self, artist: str | None = None) -> str:
        """Serve an artist's published model (or base model) anew; return its id."""
        return await self.deployment(artist).reload()

    async def drain(self, timeout: float) -> None:
        """Take no new work; let requests in flight finish and be answered for up to
        `timeout`; then answer the rest "shutting down" (logged). The store stays open."""
        for deployment in self.deployments.values():
            deployment.worker.stop()
        if await self.requests.wait_idle(timeout):
            return
        log.warning("shutting down: gave up waiting for songs in progress after %.0f s",
                    timeout)
        self.requests.give_up()
        if not await self.requests.wait_idle(ANSWER_TIMEOUT):
            log.warning("some requests were still being answered after %.0f s", ANSWER_TIMEOUT)

    async def close(self, timeout: float = 30.0) -> None:
        """Drain (see above), stop the workers, and close the store last."""
        if self._closed:
            return
        self._closed = True
        await self.drain(timeout)
        if self._compacting is not None:
            self._compacting.cancel()
            await asyncio.gather(self._compacting, return_exceptions=True)
        await asyncio.gather(*(d.worker.close(timeout=1.0) for d in self.deployments.values()))
        await self.store.close()


def _run_artists(deployments: Iterable[Deployment]) -> dict[str, str]:
    """Map each run id in the artists' registries to its artist (for the log's old rows)."""
    found: dict[str, str] = {}
    for deployment in deployments:
        try:
            runs = deployment.registry.runs()
        except RegistryError as e:  # a corrupt manifest: its rows keep the default artist
            log.warning("%s: cannot list runs to attribute old log rows: %s",
                        deployment.artist, e)
            continue
        found.update({run.id: deployment.artist for run in runs})
    return found
