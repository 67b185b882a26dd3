"""The install links: to a server (the bot and its commands, with exactly the permissions it
uses), and to a user's account (the commands alone, usable in any server, DM or group DM).

Both work only once the Developer Portal allows them: Installation → Installation Contexts,
Guild Install and User Install ticked (a user install needs no bot and no permissions)."""

from __future__ import annotations

import base64
import binascii

import discord

from swiftai.settings import ConfigError, Settings

# Slash command answers, their edits and the buttons' updates go through the interaction's own
# webhook, which needs no channel permission. Only /retrain posts in the channel itself: its
# progress message can no longer be edited once the interaction's 15-minute token expires (a
# real retrain takes longer), and the final result is then sent as a new message.
PERMISSIONS = discord.Permissions(view_channel=True, send_messages=True,
                                  send_messages_in_threads=True)
SCOPES = ("bot", "applications.commands")
USER_SCOPES = ("applications.commands",)  # a user's install: commands, no bot in any server
AUTHORIZE = "https://discord.com/oauth2/authorize"
PORTAL = ("Developer Portal → your application → Installation → Installation Contexts: tick "
          "Guild Install and User Install")


def client_id(settings: Settings) -> int:
    """Return the application's id: DISCORD_CLIENT_ID, else read from the token (its first
    part is the bot's user id in base64, which is the application id)."""
    if settings.discord_client_id:
        return settings.discord_client_id
    if settings.discord_token:
        first = settings.discord_token.split(".")[0]
        try:
            decoded = base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        if decoded.isdigit():
            return int(decoded)
        raise ConfigError("DISCORD_TOKEN does not look like a bot token (its first part is not "
                          "an id); set DISCORD_CLIENT_ID to the application id instead")
    raise ConfigError("set DISCORD_CLIENT_ID (Developer Portal -> your application -> General "
                      "Information -> Application ID) or DISCORD_TOKEN")


def invite_url(settings: Settings) -> str:
    """Return the URL that adds the bot to a server."""
    return discord.utils.oauth_url(client_id(settings), permissions=PERMISSIONS,
                                   scopes=SCOPES) + "&integration_type=0"


def user_install_url(settings: Settings) -> str:
    """Return the URL that installs the app to the account of whoever opens it."""
    return (f"{AUTHORIZE}?client_id={client_id(settings)}&integration_type=1&scope="
            + "+".join(USER_SCOPES))
