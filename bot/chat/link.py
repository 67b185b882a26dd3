"""The link to Discord: kept up with retries while the web page serves on; its state is a
LinkState (bot/service/status.py), which the web and /status read.

Discord unreachable (at start or later) is an expected failure: one log line per try, the
wait doubling up to RETRY_MAX, and `/healthz` and `/api/status` say "down". A token Discord
refuses (401, or gateway close 4004) cannot get better by waiting: it ends the process
(CannotStart, exit status 1). discord.py's own reconnect is off (`reconnect=False`): it logs
a traceback per try and waits up to ~17 minutes; a new client per try also starts with a fresh
HTTP session (a failed login leaves the old one half set up).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import aiohttp
import discord

from bot.errors import CannotStart
from bot.service.status import LinkState
from swiftai.logs import one_line

log = logging.getLogger(__name__)
RETRY_FIRST = 1.0  # seconds before the first retry, doubling after each failed try
RETRY_MAX = 60.0  # seconds: the longest wait between two tries
BAD_TOKEN_CLOSE = 4004  # the gateway's "authentication failed"
# What an unreachable or failing Discord raises: worth another try later.
UNREACHABLE = (OSError, aiohttp.ClientError, asyncio.TimeoutError, discord.GatewayNotFound,
               discord.ConnectionClosed, discord.DiscordServerError)
REFUSED_TOKEN = ("Discord refused DISCORD_TOKEN ({}); copy the token again from the Developer "
                 "Portal (your application -> Bot -> Reset Token)")


def reason(error: BaseException) -> str:
    """Say in a few words why a try failed (no traceback)."""
    return one_line(error, 200, typed=True)


class Link:
    """Keep one client connected to Discord, a new one per try (`make_bot`), until `close()`."""

    def __init__(self, make_bot: Callable[[], discord.Client], token: str,
                 state: LinkState) -> None:
        self.make_bot = make_bot
        self.token = token
        self.state = state
        self.bot: discord.Client | None = None  # the client of the current try
        self._closing = False

    async def run(self) -> None:
        """Connect, and connect again whenever the connection ends; return once closed.
        Raise CannotStart when Discord refuses the token (or the bot's setup)."""
        delay = RETRY_FIRST
        if self.state.state == "off":
            self.state.set("connecting")  # after a failed try it stays "down" until it is up
        while not self._closing:
            bot = self.bot = self.make_bot()
            try:
                await self._connect(bot)
                if self._closing:
                    return
                error: BaseException = ConnectionError("the gateway connection ended")
            except discord.LoginFailure as e:
                raise CannotStart(REFUSED_TOKEN.format(e)) from None
            except discord.ConnectionClosed as e:
                if e.code == BAD_TOKEN_CLOSE:
                    raise CannotStart(REFUSED_TOKEN.format("gateway close 4004")) from None
                error = e
            except UNREACHABLE as e:
                error = e
            except discord.PrivilegedIntentsRequired as e:
                raise CannotStart(f"Discord refused the bot's intents: {e}") from None
            except discord.HTTPException as e:  # 403 and the like: waiting will not fix it
                raise CannotStart(f"Discord refused a request at start: {reason(e)}") from None
            finally:
                if not self._closing:
                    await bot.close()
            if self._closing:
                return
            if self.state.state == "up":  # it was connected: start the waits again
                delay, self.state.tries = RETRY_FIRST, 0
            self.state.tries += 1
            self.state.set("down")
            log.warning("Discord is unreachable (%s); try %d failed, next in %.0f s",
                        reason(error), self.state.tries, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    async def _connect(self, bot: discord.Client) -> None:
        """Log in and hold the gateway connection until it ends; mark the link up when ready."""
        await bot.login(self.token)
        connection = asyncio.create_task(bot.connect(reconnect=False))
        ready = asyncio.create_task(bot.wait_until_ready())
        try:
            await asyncio.wait({connection, ready}, return_when=asyncio.FIRST_COMPLETED)
            if ready.done():
                if self.state.tries:
                    log.info("connected to Discord after %d failed tries",
                             self.state.tries)
                self.state.set("up")
            await connection
        finally:
            ready.cancel()
            connection.cancel()

    async def close(self) -> None:
        """Disconnect from Discord and stop trying."""
        self._closing = True
        if self.bot is not None:
            await self.bot.close()


class OneLineErrors(logging.Filter):
    """Print discord.py's own reports of an unreachable Discord as one line, not a traceback
    (it still logs some itself: a shard that cannot reach the gateway, retried every 5 s)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if record.name.startswith("discord.") and isinstance(error, UNREACHABLE):
            record.msg = f"{record.getMessage()} ({reason(error)})"
            record.args, record.exc_info, record.exc_text = None, None, None
        return True
