"""Which artist a Discord command is for, shared by the cogs: the one picked, else the server's
default (chosen by its admins with /artist), else the first one served."""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord import app_commands

if TYPE_CHECKING:
    from bot.app import App

CHOICES_MAX = 25  # Discord shows at most 25 autocomplete choices


def artist_choices(app: App, current: str) -> list[app_commands.Choice[str]]:
    """Return the served artists matching what the user typed so far (25 at most)."""
    typed = current.casefold()
    matches = [a for a in app.deployments if typed in a.casefold()]
    return [app_commands.Choice(name=a[:100], value=a[:100]) for a in matches[:CHOICES_MAX]]


async def artist_for(app: App, guild_id: int | None, chosen: str | None) -> str | None:
    """Return the artist a command is for: `chosen`, else the server's default while it is
    still served; None means the first artist served."""
    if chosen:
        return chosen
    if guild_id is None:
        return None
    default = await app.store.guild_artist(str(guild_id))
    return default if default in app.deployments else None
