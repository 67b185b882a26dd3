"""The request service: from a user's request to logged lyrics, for Discord and the web alike.

`accept` does everything that must answer at once (checks, cooldown, queueing, which may say
Busy) and logs refusals; `finish` waits for the worker and logs the outcome. Every request is
logged whatever happens: ok, busy, rejected or error. Refusals are rate-limited per user like
requests are (one logged refusal per cooldown; more are told to slow down, unlogged), and a
refused prompt is logged as a bounded excerpt: a flood of bad requests cannot fill the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from bot.errors import NotReady
from bot.service.asks import Ask, Refused, Who, read_ask
from bot.service.cooldowns import Cooldowns
from bot.service.words import EXPLICIT, SLUR, words
from bot.storage.store import Store, StoreUnavailable
from model.errors import Busy, GenerationError, Stopped
from model.writing.composer import Result, Writing
from model.writing.request import Request

if TYPE_CHECKING:
    from bot.service.deployments import Deployment

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Written:
    generation_id: int
    ask: Ask
    result: Result


SHUTTING_DOWN = "SwiftAI is shutting down; please try again in a minute"
REFUSED_PROMPT = {  # the one-line answer to a prompt the room's word list refuses
    SLUR: "SwiftAI does not write from slurs or hate terms; please rephrase the prompt",
    EXPLICIT: "explicit words are only for age-restricted channels of servers that allow "
              "them (/settings); please rephrase the prompt",
}
LOADING = "the model is still loading; please try again in a minute"


class RequestService:
    """Shared by every artist: one cooldown per user and one count of requests in flight;
    each request goes to the composer of the artist it names (default: the first)."""

    def __init__(self, deployments: Mapping[str, Deployment], store: Store,
                 cooldowns: Cooldowns, prompt_max_chars: int, request_timeout: float) -> None:
        self.deployments = deployments
        self.store = store
        self.cooldowns = cooldowns
        self.refusals = Cooldowns(cooldowns.seconds)  # per user, like requests
        self.prompt_max_chars = prompt_max_chars
        self.words = words()  # built now, not on the first request
        self.request_timeout = request_timeout
        # True once the model is loading (App.start): refuse until it is loaded. While False,
        # requests wait in the queue for a worker that has not started (tests hold them so).
        self.refuse_until_loaded = False
        self._given_up = asyncio.Event()  # set by give_up(): nobody waits for the worker now
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

    def give_up(self) -> None:
        """Answer every request still waiting for the worker, and any later one, "shutting
        down" (each is logged); for a shutdown whose time ran out."""
        self._given_up.set()

    async def accept(self, who: Who, fields: Mapping[str, Any],
                     names: Mapping[str, str] | None = None) -> tuple[Ask, Writing]:
        """Check and queue the songs one request asks for (one cooldown, one Writing whose `n`
        songs are written line by line side by side); raise a UserError (logged) if it cannot
        be queued, or Busy."""
        try:
            ask, copies = read_ask(who, fields, self.prompt_max_chars, names,
                                   tuple(self.deployments))
            refuse = self.words.refusal(who.explicit_ok)
            found = refuse(ask.prompt)
            if found is not None:  # the log keeps why, never the words
                raise Refused(REFUSED_PROMPT[found], replace(ask, prompt=f"({found} prompt)"))
            composer = self.deployments[ask.artist or ""].composer
            if ask.album and ask.album not in composer.albums:
                known = ", ".join(composer.albums) or "none: this model has no album styles"
                raise Refused(f"unknown album {ask.album!r}; known albums: {known}", ask)
        except Refused as e:
            self.refusals.check(who.user_id)  # a refusal within the cooldown is not logged
            await self._log_failure(e.ask, "rejected", str(e))
            raise
        if self.refuse_until_loaded and not composer.worker.loaded:  # now, not after it
            await self._log_failure(ask, "busy", LOADING)
            raise NotReady(LOADING)
        self.cooldowns.check(who.user_id)  # a cooldown refusal is not logged: nothing was asked
        request = Request(ask.prompt, album=ask.album, temperature=ask.temperature,
                          lines=ask.lines, form=ask.form, n=copies, refuse=refuse)
        try:
            writing = composer.start(request, timeout=self.request_timeout)
        except Busy as e:  # nothing was queued: all or nothing
            self.cooldowns.forgive(who.user_id)
            await self._log_failure(ask, "busy", str(e))
            raise
        except Stopped as e:  # the worker takes no new work: shutting down
            self.cooldowns.forgive(who.user_id)
            await self._log_failure(ask, "error", SHUTTING_DOWN)
            raise Stopped(SHUTTING_DOWN) from e
        return ask, writing

    async def finish(self, ask: Ask, writing: Writing) -> list[Written]:
        """Wait for the lyrics and log each song; log and re-raise a failure."""
        try:
            results = await self._result(writing)
        except GenerationError as e:
            await self._log_failure(ask, "error", str(e))
            raise
        except Exception as e:
            await self._log_failure(ask, "error", f"{type(e).__name__}: {e}")
            raise
        written = []
        deployment = self.deployments[ask.artist or ""]
        for result in results:
            generation_id = await self._log(
                ask, "ok", output=result.text, model_id=result.model_id,
                run_id=deployment.run_id_of(result.model_id),
                copied_words=result.copied_words, queue_ms=result.queue_ms,
                generate_ms=result.generate_ms, steps=result.steps, filtered=result.filtered)
            log.info("generation %d: %s, %d chars, queue %.0f ms, generate %.0f ms, batch %d, "
                     "%d lines filtered", generation_id, ask.who.source, len(result.text),
                     result.queue_ms, result.generate_ms, result.batch_size, result.filtered)
            written.append(Written(generation_id, ask, result))
        return written

    async def _result(self, ticket: Writing) -> list[Result]:
        """Wait for the worker's answer, unless give_up() comes first (then raise Stopped)."""
        async def answer() -> list[Result]:
            return await ticket

        waiting = asyncio.ensure_future(answer())
        giving_up = asyncio.ensure_future(self._given_up.wait())
        try:
            await asyncio.wait({waiting, giving_up}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            giving_up.cancel()
            answered = waiting.done()
            if not answered:
                waiting.cancel()
                ticket.cancel()  # dropped if its batch has not started
        if not answered:
            raise Stopped(SHUTTING_DOWN)
        return waiting.result()

    async def write(self, who: Who, fields: Mapping[str, Any],
                    names: Mapping[str, str] | None = None) -> list[Written]:
        """Accept and finish in one go (for callers with no queue position to show)."""
        ask, writing = await self.accept(who, fields, names)
        return await self.finish(ask, writing)

    async def _log_failure(self, ask: Ask, status: str, error: str) -> None:
        """Log a request that got no song; if the log is failing, say so and let the user's
        own error stand (a refusal stays a refusal, not a 500)."""
        try:
            await self._log(ask, status, error=error)
        except StoreUnavailable as e:
            log.error("could not log a %s request from %s: %s", status, ask.who.source, e)

    async def _log(self, ask: Ask, status: str, **details: object) -> int:
        who = ask.who
        return await self.store.record_generation(
            source=who.source, user_id=who.user_id, prompt=ask.prompt, status=status,
            user_name=who.user_name, guild_id=who.guild_id, channel_id=who.channel_id,
            album=ask.album, temperature=ask.temperature, lines=ask.lines, form=ask.form,
            artist=ask.artist, **details)
