"""The discord.py client: cogs, persistent buttons, command sync, one error handler."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.app import App
from bot.chat.replies import NO_PINGS, report_error

log = logging.getLogger(__name__)
COMMANDS_HASH = "commands_hash"
IDENTIFY_EVERY = 5.0  # seconds between two IDENTIFYs in one rate-limit bucket (Discord's rule)
# Each cog is an extension with a `setup(bot)`: the client imports none of them, so no cog
# can form an import cycle with it.
EXTENSIONS = ("bot.chat.cogs.lyrics", "bot.chat.cogs.status", "bot.chat.cogs.admin")


def point_at(api_base: str | None, gateway_url: str | None) -> None:
    """Send discord.py's REST calls and gateway connection elsewhere (a proxy, a test server).

    Both are process-wide class attributes in discord.py; this is the one place we set them.
    """
    if api_base:
        discord.http.Route.BASE = api_base.rstrip("/")
    if gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


class SwiftBot(commands.AutoShardedBot):
    """The bot, sharded: Discord requires shards past 2,500 servers. SHARD_COUNT (default:
    Discord's recommendation, one for a small bot) and SHARD_IDS split them across processes."""

    def __init__(self, app: App) -> None:
        settings = app.settings
        super().__init__(command_prefix=commands.when_mentioned, help_command=None,
                         intents=discord.Intents(guilds=True), allowed_mentions=NO_PINGS,
                         shard_count=settings.shard_count,
                         shard_ids=list(settings.shard_ids) or None)
        self.app = app
        self.failed_extensions: list[str] = []
        self.tree.on_error = self.on_app_command_error
        self._identified: dict[int, float] = {}  # rate-limit bucket -> when it last identified
        self._max_concurrency: int | None = None

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Wait only as Discord requires: one IDENTIFY per 5 s per bucket, where a shard's
        bucket is its id modulo `max_concurrency` (discord.py waits 5 s before every shard)."""
        if self._max_concurrency is None:
            self._max_concurrency = (await self.fetch_session_start_limits()).max_concurrency
        bucket = (shard_id or 0) % max(1, self._max_concurrency)
        last = self._identified.get(bucket)
        now = asyncio.get_running_loop().time()
        if last is not None and now - last < IDENTIFY_EVERY:
            await asyncio.sleep(IDENTIFY_EVERY - (now - last))
        self._identified[bucket] = asyncio.get_running_loop().time()

    async def setup_hook(self) -> None:
        for name in EXTENSIONS:
            try:
                await self.load_extension(name)
            except commands.ExtensionError:  # the other commands keep working without it
                log.exception("could not load the %s extension", name)
                self.failed_extensions.append(name)
        await self.sync_if_changed()

    def commands_hash(self) -> str:
        """Hash the command definitions as Discord would receive them."""
        payload = sorted((c.to_dict(self.tree) for c in self.tree.get_commands()),
                         key=lambda c: c["name"])
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    async def sync_if_changed(self) -> bool:
        """Sync global commands only when their definitions changed (Discord rate-limits syncs)."""
        if self.failed_extensions:  # a sync now would delete their commands from Discord
            log.warning("not syncing commands: %s failed to load",
                        ", ".join(self.failed_extensions))
            return False
        digest = self.commands_hash()
        if await self.app.store.meta(COMMANDS_HASH) == digest:
            return False
        await self.tree.sync()
        await self.app.store.set_meta(COMMANDS_HASH, digest)
        log.info("synced %d commands", len(self.tree.get_commands()))
        return True

    async def on_app_command_error(self, interaction: discord.Interaction,
                                   error: app_commands.AppCommandError) -> None:
        await report_error(interaction, getattr(error, "original", error))
