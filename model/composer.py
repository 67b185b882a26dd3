"""The writing rules, once for every backend: what a model is asked, and lyrics from its answer.

Callers (the bot, the web, `training generate`) ask for lyrics with a `Request`; the composer
builds the prompt text (album header, the user's first line with any special-token text removed),
submits it to the worker as a `GenRequest`, and turns each completion into clean lyrics guarded
against copying: an output that repeats 8+ words of a training song is written again (twice at
most), then cut before the copied run. Each step is one worker request, so different users'
steps share batches and no song holds the worker between its steps.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from model.backend import Completion, GenRequest, Served
from model.errors import Busy
from model.novelty import COPY_WORDS, cut_before
from model.songtext import album_token, clean_output
from model.worker import Generated, Ticket, Worker

NOVELTY_RETRIES = 2  # new tries for an output that copies a training song, before cutting it


@dataclass(frozen=True)
class Request:
    prompt: str  # the first line, as the user typed it (after the bot's own checks)
    album: str | None = None  # an album whose style to ask for (ignored if the model lacks it)
    temperature: float | None = None  # None: the model's default
    lines: int | None = None  # cut the song to this many lyric lines
    max_new_tokens: int | None = None  # None: the model's default
    min_new_tokens: int = 0  # benchmarks force a fixed amount of work
    greedy: bool = False  # argmax decoding: repeatable output (tests, comparisons)


@dataclass(frozen=True)
class Result:
    text: str
    copied_words: int  # longest run of words copied from a training song (after the guard)
    model_id: str
    queue_ms: float  # from submit to the start of its (last) batch
    generate_ms: float  # generation time of its batches, retries included
    batch_size: int  # rows in its last batch
    attempts: int  # 1, or more when the novelty guard asked for another try


def user_prompt(served: Served | None, prompt: str) -> str:
    """Return the user's first line with every special token's text removed."""
    spec = served.info.spec if served else None
    return (spec.strip(prompt) if spec else prompt).strip()


def prompt_text(served: Served | None, request: Request) -> str:
    """Return what the model is fed: the album token when the model knows it, the first line."""
    albums = served.info.albums if served else []
    head = f"{album_token(request.album)}\n" if request.album in albums else ""
    return head + user_prompt(served, request.prompt)


def to_lyrics(served: Served, request: Request, completion: Completion) -> tuple[str, int]:
    """Turn a completion into clean lyrics; return them and the longest copied run in words.

    Copies lying wholly inside the user's own first line do not count.
    """
    prompt = user_prompt(served, request.prompt)
    text = clean_output(prompt + completion.text, max_lines=request.lines)
    if served.copy_index is None:
        return text, 0
    keep = len(clean_output(prompt))  # the prompt as it stands at the text's start
    return text, served.copy_index.longest(text, after=keep).words


def cut_copy(served: Served, request: Request, text: str) -> tuple[str, int]:
    """Cut lyrics before their copied run (never into the prompt); return them and what is left."""
    assert served.copy_index is not None
    keep = len(clean_output(user_prompt(served, request.prompt)))
    copy = served.copy_index.longest(text, after=keep)
    text = cut_before(text, copy.start, keep)
    return text, served.copy_index.longest(text, after=keep).words


class Writing:
    """One request on its way: await it for the Result; ask it for its place in the queue."""

    def __init__(self, composer: Composer, request: Request, timeout: float | None) -> None:
        self._composer = composer
        self._request = request
        self._timeout = timeout
        self._ticket = composer.submit(request, timeout)  # Busy is raised here, at once
        self._task = asyncio.ensure_future(self._run())

    def position(self) -> int:
        """Return 1 for the front of the queue, 2 behind it, ...; 0 once generation started."""
        return 0 if self._task.done() else self._ticket.position()

    def cancel(self) -> None:
        """Give up; a step whose batch has not started is never generated."""
        self._ticket.cancel()
        self._task.cancel()

    def __await__(self) -> Any:
        return self._task.__await__()

    async def _run(self) -> Result:
        request, generate_ms = self._request, 0.0
        for attempt in range(1, NOVELTY_RETRIES + 2):
            generated: Generated = await self._ticket
            generate_ms += generated.generate_ms
            served = generated.served
            text, copied = to_lyrics(served, request, generated.completions[0])
            if copied >= COPY_WORDS:
                again = None
                if attempt <= NOVELTY_RETRIES:
                    with contextlib.suppress(Busy):  # no room for another try: cut this one
                        again = self._composer.submit(request, self._timeout)
                if again is not None:
                    self._ticket = again
                    continue
                text, copied = cut_copy(served, request, text)
            return Result(text, copied, served.info.model_id, generated.queue_ms,
                          round(generate_ms, 1), generated.batch_size, attempt)
        raise AssertionError("unreachable: the last attempt always returns")


class Composer:
    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    @property
    def albums(self) -> list[str]:
        """Return the albums the serving model knows (empty before it is loaded)."""
        served = self.worker.served
        return served.info.albums if served else []

    def submit(self, request: Request, timeout: float | None = None) -> Ticket:
        """Queue one generation step for `request`; raise Busy at once when the queue is full."""
        served = self.worker.served
        return self.worker.submit_nowait(GenRequest(
            prompt_text(served, request), max_new_tokens=request.max_new_tokens,
            min_new_tokens=request.min_new_tokens, temperature=request.temperature,
            greedy=request.greedy), timeout)

    def start(self, request: Request, timeout: float | None = None) -> Writing:
        """Start writing lyrics for `request`; raise Busy at once when the queue is full."""
        return Writing(self, request, timeout)

    async def write(self, request: Request, timeout: float | None = None) -> Result:
        """Write lyrics for `request` and wait for them."""
        return await self.start(request, timeout)
