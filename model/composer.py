"""The writing rules, once for every backend: what a model is asked, and lyrics from its answer.

Callers (the bot, the web, `training generate` and `evaluate`) ask for lyrics with a `Request`.
The composer builds the prompt text (album header, the user's first line with any special-token
text removed), submits it to the worker as a `GenRequest` for `candidates` samples at once, and
keeps the best one by `songform.score` among those that pass the novelty guard and do not loop.
When none passes, it asks again (twice at most), then cuts the best before its copied run.

`form="song"` writes a whole song section by section (verse, chorus, verse, chorus, bridge,
chorus, or the artist's own common form): each section is one worker request conditioned on
everything before it, so different users' sections share batches and no song holds the worker
between its steps. The chorus is written once and repeated word for word.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from model.backend import GenRequest, Served
from model.novelty import COPY_WORDS, cut_before
from model.songform import (
    DEFAULT_FORM,
    REFRAINS,
    SECTION_STOPS,
    for_model,
    kind,
    render,
    score,
    section_lines,
    token_budget,
)
from model.songtext import MAX_CHARS, album_token, clean_output, is_degenerate
from model.style import GENERIC, lyric_lines
from model.worker import Generated, Ticket, Worker

NOVELTY_RETRIES = 2  # new tries when no candidate passes the guard, before cutting the best
CANDIDATES = 3  # samples per step to rank; a batch row each, so a CPU song stays interactive
FORMS = ("verse", "song")


@dataclass(frozen=True)
class Request:
    prompt: str  # the first line, as the user typed it (after the bot's own checks)
    album: str | None = None  # an album whose style to ask for (ignored if the model lacks it)
    temperature: float | None = None  # None: the model's default
    lines: int | None = None  # cut the song to this many lyric lines
    form: str = "verse"  # "verse": one stretch of lyrics; "song": labelled sections
    max_new_tokens: int | None = None  # None: the model's default
    min_new_tokens: int = 0  # benchmarks force a fixed amount of work
    greedy: bool = False  # argmax decoding: repeatable output (tests, comparisons)
    n: int = 1  # how many songs: the best n of one ranked set of candidates


@dataclass(frozen=True)
class Result:
    text: str
    copied_words: int  # longest run of words copied from a training song (after the guard)
    model_id: str
    queue_ms: float  # from submit to the start of its first batch
    generate_ms: float  # generation time of its batches, retries and sections included
    batch_size: int  # rows in its last batch
    attempts: int  # worker requests it took (retries and sections)


@dataclass
class _Tally:
    """What a request's worker steps add up to."""

    served: Served | None = None  # the model of the latest step
    queue_ms: float | None = None
    generate_ms: float = 0.0
    batch_size: int = 0
    attempts: int = 0

    def add(self, generated: Generated) -> None:
        self.served = generated.served
        self.queue_ms = generated.queue_ms if self.queue_ms is None else self.queue_ms
        self.generate_ms += generated.generate_ms
        self.batch_size = generated.batch_size
        self.attempts += 1

    def result(self, text: str, copied: int) -> Result:
        assert self.served is not None
        return Result(text, copied, self.served.info.model_id, self.queue_ms or 0.0,
                      round(self.generate_ms, 1), self.batch_size, self.attempts)


def user_prompt(served: Served | None, prompt: str) -> str:
    """Return the user's first line with every special token's text removed."""
    spec = served.info.spec if served else None
    return (spec.strip(prompt) if spec else prompt).strip()


def album_head(served: Served | None, album: str | None) -> str:
    """Return the album's token line when the model knows the album, else nothing."""
    albums = served.info.albums if served else []
    return f"{album_token(album)}\n" if album and album in albums else ""


def prompt_text(served: Served | None, request: Request) -> str:
    """Return what the model is fed for a verse: the album token line, then the first line."""
    return album_head(served, request.album) + user_prompt(served, request.prompt)


def copied(served: Served, text: str, keep: int) -> int:
    """Return the longest run of a training song's words in `text` past its first `keep` chars."""
    return served.copy_index.longest(text, after=keep).words if served.copy_index else 0


def cut_copy(served: Served, text: str, keep: int) -> tuple[str, int]:
    """Cut lyrics before their copied run (never into the first `keep` chars)."""
    if served.copy_index is None:
        return text, 0
    text = cut_before(text, served.copy_index.longest(text, after=keep).start, keep)
    return text, copied(served, text, keep)


@dataclass(frozen=True)
class _Option:
    text: str
    copied: int
    score: float

    @property
    def usable(self) -> bool:
        return self.copied < COPY_WORDS and not is_degenerate(self.text)


class Writing:
    """One request on its way: await it for its Results (n of them); ask it for its place in
    the queue."""

    def __init__(self, composer: Composer, request: Request, timeout: float | None) -> None:
        self._composer = composer
        self._request = request
        self._timeout = timeout
        served = composer.worker.served
        self._form = (served.form if served and served.form else None) or DEFAULT_FORM
        self._tickets: list[Ticket] = []  # each song's step waiting now (one ticket for verses)
        try:  # the first steps are queued here, so that Busy is raised at once
            if request.form == "song":
                for _ in range(request.n):
                    self._tickets.append(self._submit_section(served, [], self._form[0],
                                                              force=False))
            else:
                self._tickets.append(self._submit(prompt_text(served, request), force=False,
                                                  k=max(composer.candidates, request.n)))
        except BaseException:
            for ticket in self._tickets:
                ticket.cancel()  # all or nothing: a cancelled step is never generated
            raise
        self._task = asyncio.ensure_future(self._run())

    def position(self) -> int:
        """Return 1 for the front of the queue, 2 behind it, ...; 0 once generation started."""
        waiting = [p for p in (t.position() for t in self._tickets) if p]
        return 0 if self._task.done() or not waiting else min(waiting)

    def cancel(self) -> None:
        """Give up; a step whose batch has not started is never generated."""
        for ticket in self._tickets:
            ticket.cancel()
        self._task.cancel()

    def __await__(self) -> Any:
        return self._task.__await__()

    def _submit(self, prompt: str, force: bool = True, tokens: int | None = None,
                stop: tuple[str, ...] = (), k: int | None = None) -> Ticket:
        """Queue one step; `force` lets a request already under way go on past a full queue."""
        request = self._request
        return self._composer.worker.submit_nowait(GenRequest(
            prompt, k=k or self._composer.candidates,
            max_new_tokens=tokens or request.max_new_tokens,
            min_new_tokens=request.min_new_tokens, temperature=request.temperature,
            greedy=request.greedy, stop=stop, fit=bool(stop)), self._timeout, force=force)

    def _submit_section(self, served: Served | None, sections: list[tuple[str, list[str]]],
                        label: str, force: bool = True) -> Ticket:
        artist = (served.style if served else None) or GENERIC
        prompt = album_head(served, self._request.album) + \
            self._section_prompt(served, sections, label)
        return self._submit(prompt, force, token_budget(section_lines(label, artist), artist),
                            SECTION_STOPS)

    async def _run(self) -> list[Result]:
        if self._request.form == "song":
            return list(await asyncio.gather(*(self._song(i)
                                               for i in range(len(self._tickets)))))
        return await self._verses()

    async def _verses(self) -> list[Result]:
        """Write n verses from ranked candidates: the n best that pass the guard and do not loop;
        ask again (twice at most) while too few pass, then cut the best of the rest."""
        request, tally, wanted = self._request, _Tally(), self._request.n
        chosen: list[_Option] = []
        rest: list[_Option] = []
        for attempt in range(NOVELTY_RETRIES + 1):
            generated = await self._tickets[0]
            tally.add(generated)
            served = generated.served
            prompt = user_prompt(served, request.prompt)
            keep = len(clean_output(prompt))  # copies wholly inside the user's line don't count
            artist = served.style or GENERIC
            for completion in generated.completions:
                text = clean_output(prompt + completion.text, max_lines=request.lines)
                option = _Option(text, copied(served, text, keep),
                                 score(text, completion.mean_logprob, artist))
                fresh = all(option.text != o.text for o in chosen)
                (chosen if option.usable and fresh else rest).append(option)
            chosen.sort(key=lambda o: o.score, reverse=True)
            if len(chosen) >= wanted:
                break
            if attempt < NOVELTY_RETRIES:
                self._tickets[0] = self._submit(prompt_text(served, request),
                                                k=max(self._composer.candidates,
                                                      wanted - len(chosen)))
        for option in sorted(rest, key=lambda o: (o.copied < COPY_WORDS, o.score),
                             reverse=True)[:wanted - len(chosen)]:
            text, left = cut_copy(served, option.text, keep)
            chosen.append(_Option(text, left, option.score))
        return [tally.result(o.text, o.copied) for o in chosen[:wanted]]

    def _section_prompt(self, served: Served | None, sections: list[tuple[str, list[str]]],
                        label: str) -> str:
        headers = (served.style or GENERIC).header_rate >= 0.5 if served else True
        head = f"[{kind(label)}]\n" if headers else ""
        opening = user_prompt(served, self._request.prompt) if not sections else ""
        before = for_model(sections, headers)
        return (before + "\n\n" if before else "") + head + opening

    async def _song(self, slot: int) -> Result:
        tally, copies = _Tally(), [0]
        sections: list[tuple[str, list[str]]] = []
        refrains: dict[str, list[str]] = {}
        for label in self._form:
            if kind(label) in refrains:
                sections.append((label, refrains[kind(label)]))
                continue
            lines = await self._section(slot, sections, label, tally, copies)
            if not lines:
                continue  # nothing usable came: the song goes on without this section
            sections.append((label, lines))
            if kind(label) in REFRAINS:
                refrains[kind(label)] = lines
        return tally.result(render(sections, MAX_CHARS), max(copies))

    async def _section(self, slot: int, sections: list[tuple[str, list[str]]], label: str,
                       tally: _Tally, copies: list[int]) -> list[str]:
        """Write one section: `candidates` samples, the best usable one, or none."""
        earlier = {line.casefold() for _, lines in sections for line in lines}
        for attempt in range(NOVELTY_RETRIES + 1):
            if sections or attempt:  # the first section's request went at submit time
                self._tickets[slot] = self._submit_section(self._composer.worker.served,
                                                           sections, label)
            generated = await self._tickets[slot]
            tally.add(generated)
            served = generated.served
            artist = served.style or GENERIC
            wanted = section_lines(label, artist)
            opening = user_prompt(served, self._request.prompt) if not sections else ""
            options = []
            for completion in generated.completions:
                lines = lyric_lines(clean_output(opening + completion.text))[:wanted]
                text = "\n".join(lines)
                fresh = [line for line in lines if line.casefold() not in earlier]
                if len(fresh) < len(lines) / 2:
                    continue  # mostly lines the song already has: not a new section
                options.append(_Option(text, copied(served, text, len(opening)),
                                       score(text, completion.mean_logprob, artist)))
            usable = [o for o in options if o.usable and o.text]
            if kind(label) in REFRAINS and attempt < NOVELTY_RETRIES:
                # A chorus is a block of lines that comes back: ask again for one of 2+ lines
                # before settling for a single line.
                usable = [o for o in usable if len(set(o.text.split("\n"))) >= 2]
            if usable:
                best = max(usable, key=lambda o: o.score)
                copies.append(best.copied)
                return best.text.split("\n")
        return []


class Composer:
    def __init__(self, worker: Worker, candidates: int = CANDIDATES) -> None:
        self.worker = worker
        self.candidates = candidates

    @property
    def albums(self) -> list[str]:
        """Return the albums the serving model knows (empty before it is loaded)."""
        served = self.worker.served
        return served.info.albums if served else []

    def start(self, request: Request, timeout: float | None = None) -> Writing:
        """Start writing lyrics for `request`; raise Busy at once when the queue is full."""
        return Writing(self, request, timeout)

    async def write(self, request: Request, timeout: float | None = None) -> list[Result]:
        """Write `request.n` songs for `request` and wait for them."""
        return await self.start(request, timeout)
