"""Admin commands: /retrain (refresh corpus, fine-tune, publish, hot-swap) and /reload."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.replies import NO_PINGS
from bot.retrain import RetrainFailed, RetrainState, ServeFailed, done_message

if TYPE_CHECKING:
    from bot.client import SwiftBot

log = logging.getLogger(__name__)
EDIT_EVERY = 3.0  # seconds between progress edits: Discord rate-limits message edits
T = TypeVar("T")


def is_admin(interaction: discord.Interaction) -> bool:
    """Say whether the user may run admin commands (checked by the bot, not just Discord)."""
    bot: SwiftBot = interaction.client  # type: ignore[assignment]
    if interaction.user.id in bot.app.settings.admin_user_ids:
        return True
    # The permissions Discord resolved for this member in this channel (sent with the interaction).
    return interaction.guild_id is not None and interaction.permissions.manage_guild


def admin_only() -> Callable[[T], T]:
    """Hide the command from non-admins in Discord's UI, and refuse them server-side."""
    def decorator(func: T) -> T:
        func = app_commands.default_permissions(manage_guild=True)(func)
        return app_commands.check(is_admin)(func)
    return decorator


class AdminCog(commands.Cog):
    def __init__(self, bot: SwiftBot) -> None:
        self.bot = bot

    @app_commands.command(name="retrain", description="Refresh the lyrics, fine-tune, publish")
    @app_commands.describe(refresh="list the artist's songs on Genius again (new releases)")
    @admin_only()
    async def retrain(self, interaction: discord.Interaction, refresh: bool = False) -> None:
        app = self.bot.app
        with app.retrainer.claim(interaction.user.name):  # one at a time; says who holds it
            await interaction.response.defer(thinking=True)
            last_edit = 0.0

            async def show(state: RetrainState) -> None:
                nonlocal last_edit
                if time.monotonic() - last_edit >= EDIT_EVERY:
                    last_edit = time.monotonic()
                    await self._say(interaction, f"🛠️ Retraining: {state.describe()}")

            try:
                result = await app.retrainer.run(str(interaction.user.id), refresh, show,
                                                 app.reload)
            except ServeFailed as e:
                await self._say(interaction, f"⚠️ Published `{e.run_id}` but loading it "
                                             f"failed ({e.reason}); the old model keeps serving.")
                return
            except RetrainFailed as e:
                await self._say(interaction, "❌ Retrain failed; the current model keeps "
                                             f"serving.\n```\n{str(e)[-1500:]}\n```")
                return
        served = app.worker.served
        await self._say(interaction, done_message(
            result, remote=served is not None and served.backend.remote))

    @app_commands.command(name="reload", description="Load the published model again")
    @admin_only()
    async def reload(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True, ephemeral=True)
        served = await self.bot.app.reload()
        await self._say(interaction, f"✅ Now serving `{served}`")

    async def _say(self, interaction: discord.Interaction, text: str, **kwargs: Any) -> None:
        try:
            await interaction.edit_original_response(content=text, allowed_mentions=NO_PINGS,
                                                     **kwargs)
        except discord.HTTPException:  # e.g. the 15-minute interaction token ran out
            log.warning("could not edit the retrain message; posting instead")
            if isinstance(interaction.channel, discord.abc.Messageable):
                await interaction.channel.send(text, allowed_mentions=NO_PINGS)


async def setup(bot: SwiftBot) -> None:
    """Register /retrain and /reload (discord.py calls this from load_extension)."""
    await bot.add_cog(AdminCog(bot))
