"""Run the real bot (discord.py, worker, store) against the fake Discord, with a tiny model."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import discord
import pytest

from bot.app import App
from bot.chat.client import SwiftBot, point_at
from bot.web.routes import start_web
from swiftai.settings import Settings
from tests.bot.fake_discord import FakeDiscord
from tests.conftest import DEFAULT_ARTIST, ROOT, artist_models
from tests.training.fake_genius import FakeGenius, FakeSong

ADMIN_ID = 42


@dataclass
class Harness:
    fake: FakeDiscord
    bot: SwiftBot
    app: App
    connection: asyncio.Task[None]

    async def song(self, token: str) -> dict:
        """Wait for the lyrics of interaction `token` (the edit that adds the buttons, after any
        edits of the song as it grew); return the edited original message."""
        call = await self.fake.wait_for(
            lambda c: c.token == token and c.method == "PATCH" and bool(c.body.get("embeds"))
            and bool(c.body.get("components")))
        return call.body

    async def reply(self, token: str) -> dict:
        """Wait for the immediate answer (callback) to interaction `token`."""
        call = await self.fake.wait_for(lambda c: c.token == token and c.method == "POST"
                                        and "/callback" in c.path)
        return call.body


def publish_tiny_run(home: Path, tiny_base: Path, run_id: str = "20260101-000000-abcdef",
                     perplexity: float = 12.5, artist: str | None = DEFAULT_ARTIST) -> Path:
    """Lay out a published run in an artist's registry from the tiny model, as `training
    publish` would; `artist=None` lays it out as the single-artist code did, in `models/`."""
    registry = artist_models(home, artist) if artist else home / "models"
    run = registry / "runs" / run_id
    shutil.copytree(tiny_base, run)
    (run / "manifest.json").write_text(json.dumps({
        "created": "2026-01-01T00:00:00+00:00", "base_model": "tiny",
        "corpus": {"counts": {"train": 10, "val": 2}},
        "metrics": {"perplexity": perplexity, "base_perplexity": 99.0}}))
    (registry / "current").unlink(missing_ok=True)
    os.symlink(Path("runs") / run_id, registry / "current")
    return run


def bot_settings(home: str, tiny_base: str, fake: FakeDiscord, **env: str) -> Settings:
    values = {"SWIFTAI_HOME": home, "BASE_MODEL": tiny_base, "DISCORD_TOKEN": "fake-token",
              "ADMIN_USER_IDS": str(ADMIN_ID), "COOLDOWN_SECONDS": "0", "BATCH_WINDOW_MS": "5",
              "DISCORD_API_BASE": fake.api_base, "DISCORD_GATEWAY_URL": fake.gateway_url}
    return Settings.from_env({**values, **env})


async def open_app(settings: Settings, start_worker: bool) -> App:
    """Open the app; with start_worker=False requests wait in the queue until worker.start()."""
    app = await App.open(settings, start_worker=start_worker)
    if start_worker:
        await app.ready()  # every artist's model
    return app


@pytest.fixture
def juniper_on_genius(monkeypatch, example_songs) -> Iterator[FakeGenius]:
    """Serve Juniper Vale's example songs on a fake Genius, and point the environment a
    /retrain's training process reads at it."""
    songs = [FakeSong.from_export(s) for s in example_songs]
    with FakeGenius("Juniper Vale", songs) as genius:
        for key, value in {"GENIUS_ACCESS_TOKEN": "t", "GENIUS_BASE_URL": genius.base_url,
                           "SWIFTAI_ARTIST": "Juniper Vale", "PYTHONPATH": str(ROOT)}.items():
            monkeypatch.setenv(key, value)
        yield genius


@pytest.fixture
async def start_bot(tmp_path, tiny_base) -> AsyncIterator[Callable[..., Awaitable[Harness]]]:
    """Start bots on a fake Discord: `await start_bot(start_worker=True, **env)`."""
    saved = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    fake = FakeDiscord()
    await fake.start()
    harnesses: list[Harness] = []

    async def start(start_worker: bool = True, shards: int = 1, **env: str) -> Harness:
        settings = bot_settings(str(tmp_path / "home"), str(tiny_base), fake, **env)
        point_at(settings.discord_api_base, settings.discord_gateway_url)
        app = await open_app(settings, start_worker)
        bot = SwiftBot(app)
        fake.shards = shards  # what Discord recommends to a bot without SHARD_COUNT
        fake.connected.clear()
        await bot.login("fake-token")
        connection = asyncio.create_task(bot.connect())
        await asyncio.wait_for(bot.wait_until_ready(), 30)
        harness = Harness(fake, bot, app, connection)
        harnesses.append(harness)
        return harness

    yield start
    for harness in harnesses:
        if harness.connection.done() and not harness.connection.cancelled():
            error = harness.connection.exception()
            assert error is None, f"the bot's gateway connection died: {error!r}"
        if not harness.bot.is_closed():
            await harness.app.close(timeout=10)
            await harness.bot.close()
    await fake.close()
    discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved


@pytest.fixture
async def serve_web(tmp_path, tiny_base):
    """Start the web app: `base_url, app = await serve_web(start_worker=True, **env)`."""
    started = []

    async def start(start_worker: bool = True, **env: str):
        settings = Settings.from_env({"SWIFTAI_HOME": str(tmp_path / "home"),
                                      "BASE_MODEL": str(tiny_base), "COOLDOWN_SECONDS": "0",
                                      "BATCH_WINDOW_MS": "5", **env})
        app = await open_app(settings, start_worker)
        runner, port = await start_web(app, "127.0.0.1", 0)
        started.append((app, runner))
        return f"http://127.0.0.1:{port}", app

    yield start
    for app, runner in started:
        await app.close(timeout=10)
        await runner.cleanup()


async def call(method, url, **kwargs):
    """Make one HTTP request; return status, JSON body (None if not JSON) and headers."""
    async with aiohttp.ClientSession() as session, session.request(method, url,
                                                                   **kwargs) as response:
        return response.status, await response.json(content_type=None), response.headers
