"""The discord.py client: cogs, persistent buttons, command sync, one error handler."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.app import App
from bot.errors import UserError
from model.errors import GenerationError

log = logging.getLogger(__name__)
NO_PINGS = discord.AllowedMentions.none()
COMMANDS_HASH = "commands_hash"


def point_at(api_base: str | None, gateway_url: str | None) -> None:
    """Send discord.py's REST calls and gateway connection elsewhere (a proxy, a test server).

    Both are process-wide class attributes in discord.py; this is the one place we set them.
    """
    if api_base:
        discord.http.Route.BASE = api_base.rstrip("/")
    if gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


class SwiftBot(commands.Bot):
    def __init__(self, app: App) -> None:
        super().__init__(command_prefix=commands.when_mentioned, help_command=None,
                         intents=discord.Intents(guilds=True), allowed_mentions=NO_PINGS)
        self.app = app
        self.tree.on_error = self.on_app_command_error

    async def setup_hook(self) -> None:
        from bot.cogs.admin import AdminCog
        from bot.cogs.lyrics import AgainButton, LyricsCog, VoteButton
        from bot.cogs.status import StatusCog

        for cog in (LyricsCog(self), StatusCog(self), AdminCog(self)):
            await self.add_cog(cog)
        self.add_dynamic_items(AgainButton, VoteButton)  # buttons keep working after restarts
        await self.sync_if_changed()

    def commands_hash(self) -> str:
        """Hash the command definitions as Discord would receive them."""
        payload = sorted((c.to_dict(self.tree) for c in self.tree.get_commands()),
                         key=lambda c: c["name"])
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    async def sync_if_changed(self) -> bool:
        """Sync global commands only when their definitions changed (Discord rate-limits syncs)."""
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


async def reply(interaction: discord.Interaction, text: str) -> None:
    """Answer privately if nothing was said yet; else replace the pending 'thinking' message."""
    if not interaction.response.is_done():
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)
    else:
        await interaction.edit_original_response(content=text, embed=None, view=None,
                                                 allowed_mentions=NO_PINGS)


async def report_error(interaction: discord.Interaction, error: BaseException) -> None:
    """Turn any error into a reply; log the unexpected ones with an id the user can quote."""
    if isinstance(error, UserError | GenerationError):
        text = str(error)
    elif isinstance(error, app_commands.CheckFailure):
        text = "only admins may do that (ADMIN_USER_IDS, or Manage Server permission)"
    else:
        error_id = secrets.token_hex(4)
        log.error("error %s in %s", error_id, interaction.data, exc_info=error)
        text = f"something went wrong (id {error_id}); please report it with that id"
    try:
        await reply(interaction, text)
    except discord.HTTPException:
        log.exception("could not tell the user about an error")
