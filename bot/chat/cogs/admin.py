"""Admin commands, in servers only (never from a user's own install): /retrain (refresh corpus,
fine-tune, publish, hot-swap), /reload, /artist (a server's default artist) and /settings
(explicit lyrics in the server's age-restricted channels). Each artist retrains and reloads on
its own: one retrain per artist at a time, and the others keep serving."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.chat.artists import artist_choices, artist_for
from bot.chat.limits import MESSAGE_CHARS
from bot.chat.replies import NO_PINGS, reply
from bot.service.retrain import RetrainFailed, RetrainState, ServeFailed, done_message

if TYPE_CHECKING:
    from bot.chat.client import SwiftBot

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
    """Hide the command from non-admins in Discord's UI, and refuse them server-side; offer it
    only in servers that added the app (a user's own install has no admin commands)."""
    def decorator(func: T) -> T:
        func = app_commands.default_permissions(manage_guild=True)(func)
        func = app_commands.guild_install()(func)
        func = app_commands.guild_only()(func)
        return app_commands.check(is_admin)(func)
    return decorator


class AdminCog(commands.Cog):
    def __init__(self, bot: SwiftBot) -> None:
        self.bot = bot

    @app_commands.command(name="retrain", description="Refresh the lyrics, fine-tune, publish")
    @app_commands.describe(artist="whose model (default: this server's artist)",
                           refresh="list the artist's songs on Genius again (new releases)",
                           force="publish even if it scores worse than the model it replaces")
    @admin_only()
    async def retrain(self, interaction: discord.Interaction, refresh: bool = False,
                      artist: app_commands.Range[str, 1, 100] | None = None,
                      force: bool = False) -> None:
        app = self.bot.app
        deployment = app.deployment(await artist_for(app, interaction.guild_id, artist))
        retrainer = deployment.retrainer
        with retrainer.claim(interaction.user.name):  # one per artist; says who holds it
            await interaction.response.defer(thinking=True)
            last_edit = 0.0

            async def show(state: RetrainState) -> None:
                nonlocal last_edit
                if time.monotonic() - last_edit >= EDIT_EVERY:
                    last_edit = time.monotonic()
                    await self._say(interaction, f"🛠️ Retraining {deployment.artist}: "
                                                 f"{state.describe()}")

            try:
                result = await retrainer.run(str(interaction.user.id), refresh, show,
                                             deployment.reload, force=force)
            except ServeFailed as e:
                await self._say(interaction, f"⚠️ {deployment.artist}: published `{e.run_id}` "
                                             f"but loading it failed ({e.reason}); the old "
                                             "model keeps serving.")
                return
            except RetrainFailed as e:
                hint = ("\nIt scored worse than the model it would replace: `/retrain "
                        "force:True` publishes it anyway." if "publish --force" in str(e) else "")
                await self._say(interaction, f"❌ Retrain of {deployment.artist} failed; the "
                                             "current model keeps serving.\n```\n"
                                             f"{str(e)[-1500:]}\n```{hint}")
                return
        served = deployment.worker.served
        remote = served is not None and served.backend.remote
        await self._say(interaction, done_message(
            result, deployment.artist,
            (deployment.remote_model or "<served-model-name>") if remote else None))

    @app_commands.command(name="reload", description="Load the published models again")
    @app_commands.describe(artist="whose model (default: every artist's)")
    @admin_only()
    async def reload(self, interaction: discord.Interaction,
                     artist: app_commands.Range[str, 1, 100] | None = None) -> None:
        app = self.bot.app
        chosen = [app.deployment(artist)] if artist else list(app.deployments.values())
        await interaction.response.defer(thinking=True, ephemeral=True)
        lines = [f"✅ {d.artist}: now serving `{await d.reload()}`" for d in chosen]
        await self._say(interaction, "\n".join(lines)[:MESSAGE_CHARS])

    @app_commands.command(name="artist", description="This server's default artist for /lyrics")
    @app_commands.describe(default="the artist /lyrics writes as when none is picked")
    @admin_only()
    async def artist(self, interaction: discord.Interaction,
                     default: app_commands.Range[str, 1, 100] | None = None) -> None:
        app = self.bot.app
        guild = str(interaction.guild_id)
        if default is None:
            chosen = await artist_for(app, interaction.guild_id, None) or app.default.artist
            await reply(interaction, f"this server's default artist is {chosen}; served: "
                                     f"{', '.join(app.deployments)}")
            return
        deployment = app.deployment(default)  # UnknownArtist names the served ones
        await app.store.set_guild_artist(guild, deployment.artist, str(interaction.user.id))
        await reply(interaction, f"✅ /lyrics now writes as {deployment.artist} on this server")

    @app_commands.command(name="settings", description="What SwiftAI may write on this server")
    @app_commands.describe(explicit="allow explicit lyrics in this server's age-restricted "
                                    "channels (slurs are never written)")
    @admin_only()
    async def settings(self, interaction: discord.Interaction,
                       explicit: bool | None = None) -> None:
        store, guild = self.bot.app.store, str(interaction.guild_id)
        if explicit is not None:
            await store.allow_explicit(guild, explicit, str(interaction.user.id))
        allowed = await store.explicit_allowed(guild)
        await reply(interaction, "explicit lyrics: " + (
            "allowed in this server's age-restricted channels, nowhere else" if allowed
            else "off (change with /settings explicit:True)"))

    @retrain.autocomplete("artist")
    @reload.autocomplete("artist")
    @artist.autocomplete("default")
    async def artist_autocomplete(self, interaction: discord.Interaction,
                                  current: str) -> list[app_commands.Choice[str]]:
        return artist_choices(self.bot.app, current)

    async def _say(self, interaction: discord.Interaction, text: str, **kwargs: Any) -> None:
        try:
            await interaction.edit_original_response(content=text, allowed_mentions=NO_PINGS,
                                                     **kwargs)
        except discord.HTTPException:  # e.g. the 15-minute interaction token ran out
            log.warning("could not edit the retrain message; posting instead")
            if isinstance(interaction.channel, discord.abc.Messageable):
                await interaction.channel.send(text, allowed_mentions=NO_PINGS)


async def setup(bot: SwiftBot) -> None:
    """Register /retrain, /reload, /artist and /settings (discord.py calls this from
    load_extension)."""
    await bot.add_cog(AdminCog(bot))
