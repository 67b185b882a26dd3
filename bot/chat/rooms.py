"""Where a Discord interaction happens, and what that allows: explicit lyrics (an age-restricted
channel of a server whose admins allow them, never a DM or group DM), and whether Discord shows
our answer to everyone or only to the user.

The app can be installed to a server, to a user's account, or both. A user-installed app may
be used in a server that has not added it; there, if the server does not let the user post with
external apps (the Use External Apps permission), Discord shows the answer only to the user, and
we say so in one line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

if TYPE_CHECKING:
    from bot.app import App

PRIVATE_NOTE = ("🔒 Only you can see this: this server does not let apps it has not added "
                "post here.")
# The channels that can be age-restricted (each has is_nsfw(); a thread asks its parent).
_RESTRICTABLE = (discord.TextChannel, discord.VoiceChannel, discord.StageChannel,
                 discord.ForumChannel, discord.Thread)


def age_restricted(channel: object) -> bool:
    """Say whether a channel is age-restricted (NSFW); DMs and group DMs never are."""
    return isinstance(channel, _RESTRICTABLE) and channel.is_nsfw()


async def explicit_ok(app: App, interaction: discord.Interaction) -> bool:
    """Say whether explicit lyrics may be posted where `interaction` happened."""
    if interaction.guild_id is None or not age_restricted(interaction.channel):
        return False
    return await app.store.explicit_allowed(str(interaction.guild_id))


def answers_privately(interaction: discord.Interaction) -> bool:
    """Say whether Discord will show our answer only to the user: a server that has not added
    the app, and does not let this user post with external apps here."""
    return (interaction.guild_id is not None and not interaction.is_guild_integration()
            and not interaction.permissions.use_external_apps)
