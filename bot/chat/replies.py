"""How the bot answers on Discord: no pings ever, private replies, one way to report errors.

Both the client and the cogs import this module (and never each other at run time).
"""

from __future__ import annotations

import logging
import secrets

import discord
from discord import app_commands

from bot.errors import UserError
from bot.storage.store import StoreUnavailable
from model.errors import GenerationError

log = logging.getLogger(__name__)
NO_PINGS = discord.AllowedMentions.none()


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
    elif isinstance(error, StoreUnavailable):
        log.error("the log is failing: %s", error)
        text = "SwiftAI cannot save songs right now; please try again later"
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
