"""From a user's request to logged lyrics, for Discord and the web alike (no Discord here).

`accept` does everything that must answer at once (checks, cooldown, queueing, which may say
Busy) and logs refusals; `finish` waits for the worker and logs the outcome. Every request is
logged whatever happens: ok, busy, rejected or error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

from bot.cooldown import Cooldowns
from bot.errors import PromptRejected, UserError
from bot.prompts import check_lines, check_temperature, clean_prompt
from bot.store import Store
from model.composer import Composer, Request, Result, Writing
from model.errors import Busy, GenerationError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ask:
    source: str  # "discord" or "web"
    user_id: str
    prompt: str
    album: str | None = None
    temperature: float | None = None
    lines: int | None = None
    user_name: str | None = None
    guild_id: str | None = None
    channel_id: str | None = None


@dataclass(frozen=True)
class Written:
    generation_id: int
    ask: Ask
    result: Result


class Songwriter:
    def __init__(self, composer: Composer, store: Store, cooldowns: Cooldowns,
                 prompt_max_chars: int, request_timeout: float) -> None:
        self.composer = composer
        self.store = store
        self.cooldowns = cooldowns
        self.prompt_max_chars = prompt_max_chars
        self.request_timeout = request_timeout
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        """Mark a caller's whole request (answer included) as in flight, for a clean shutdown."""
        self._in_flight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is in flight; return False if `timeout` ran out first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def accept(self, ask: Ask, copies: int = 1) -> tuple[Ask, list[Writing]]:
        """Check and queue `copies` songs for one request (one cooldown); raise a UserError
        (logged) if it cannot be queued, or Busy if the queue cannot take them all."""
        try:
            ask = replace(ask, prompt=clean_prompt(ask.prompt, self.prompt_max_chars),
                          temperature=check_temperature(ask.temperature),
                          lines=check_lines(ask.lines), album=ask.album or None)
            if ask.album and ask.album not in self.composer.albums:
                known = ", ".join(self.composer.albums) or "none: this model has no album styles"
                raise PromptRejected(f"unknown album {ask.album!r}; known albums: {known}")
        except UserError as e:
            await self._log(ask, "rejected", error=str(e))
            raise
        self.cooldowns.check(ask.user_id)  # a cooldown refusal is not logged: nothing was asked
        request = Request(ask.prompt, album=ask.album, temperature=ask.temperature,
                          lines=ask.lines)
        tickets: list[Writing] = []
        try:
            for _ in range(copies):
                tickets.append(self.composer.start(request, timeout=self.request_timeout))
        except Busy as e:
            for ticket in tickets:
                ticket.cancel()  # all or nothing: a cancelled request is never generated
            self.cooldowns.forgive(ask.user_id)
            await self._log(ask, "busy", error=str(e))
            raise
        return ask, tickets

    async def finish(self, ask: Ask, ticket: Writing) -> Written:
        """Wait for the lyrics and log them; log and re-raise a failure."""
        try:
            result = await ticket
        except GenerationError as e:
            await self._log(ask, "error", error=str(e))
            raise
        except Exception as e:
            await self._log(ask, "error", error=f"{type(e).__name__}: {e}")
            raise
        generation_id = await self._log(
            ask, "ok", output=result.text, model_id=result.model_id,
            copied_words=result.copied_words, queue_ms=result.queue_ms,
            generate_ms=result.generate_ms)
        log.info("generation %d: %s, %d chars, queue %.0f ms, generate %.0f ms, batch %d",
                 generation_id, ask.source, len(result.text), result.queue_ms,
                 result.generate_ms, result.batch_size)
        return Written(generation_id, ask, result)

    async def write(self, ask: Ask, copies: int = 1) -> list[Written]:
        """Accept and finish in one go (for callers with no queue position to show)."""
        ask, tickets = await self.accept(ask, copies)
        results = await asyncio.gather(*(self.finish(ask, t) for t in tickets),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return [r for r in results if isinstance(r, Written)]

    async def _log(self, ask: Ask, status: str, **details: object) -> int:
        return await self.store.record_generation(
            source=ask.source, user_id=ask.user_id, prompt=ask.prompt, status=status,
            user_name=ask.user_name, guild_id=ask.guild_id, channel_id=ask.channel_id,
            album=ask.album, temperature=ask.temperature, lines=ask.lines, **details)
