"""The writing rules, once for every backend: what a model is asked, and lyrics from its answer.

Callers (the bot, the web, `training generate` and `evaluate`) ask for lyrics with a `Request`.
The composer builds the prompt text (album header, the user's first line with any special-token
text removed), submits it to the worker as a `GenRequest` for `candidates` samples at once, and
keeps the best one by `songform.score` among those that pass the novelty guard and do not loop.
When none passes, it asks again (twice at most), then cuts the best before its copied run.

`form="song"` writes a whole song line by line (model/lines.py), in the artist's form and stanza
lengths (verse, chorus, verse, chorus, bridge, chorus by default), toward the artist's lines per
song within one message. Each line is one worker request for k candidates of that line alone, so
different users' lines share batches and no song holds the worker between its steps. Each
four-line group draws one of the artist's rhyme schemes (model/rhyme.py); a line the scheme says
rhymes is chosen among its candidates that rhyme with its partner, strictly if any does; when
none rhymes strictly, the best is re-ended on the strict rhyme the model scores likeliest, and
only then may a near rhyme stand.
The chorus is written once and repeated word for word.

Every ranking is recorded on the Result (`steps`), and `Writing.events()` streams each chosen
line and each finished section as it is written: a chosen line is final.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from model.backend import GenRequest, Served
from model.errors import BadRequest
from model.events import Event, LineEvent, SectionEvent
from model.lines import Candidate, best, candidate, candidates, likeliest, song_prompt, stem
from model.novelty import COPY_WORDS, cut_before, words_of
from model.prompts import album_head, prompt_text, user_prompt
from model.ranking import DEFAULT, Option, RankStep, Weights, score, text_features
from model.rhyme import GENERIC_BOOK, aim, end_word, plan, quality
from model.songform import DEFAULT_FORM, REFRAINS, kind, line_budget, render, song_lengths
from model.songtext import MAX_CHARS, clean_output, is_degenerate
from model.style import GENERIC, lyric_lines
from model.tally import Result, Tally
from model.worker import Ticket, Worker

log = logging.getLogger(__name__)

SCORE_LINES = 2  # lines of its section a re-ending is scored after
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


def copied(served: Served, text: str, keep: int) -> int:
    """Return the longest run of a training song's words in `text` past its first `keep` chars."""
    return served.copy_index.longest(text, after=keep).words if served.copy_index else 0


def cut_copy(served: Served, text: str, keep: int) -> tuple[str, int]:
    """Cut lyrics before their copied run (never into the first `keep` chars)."""
    if served.copy_index is None:
        return text, 0
    text = cut_before(text, served.copy_index.longest(text, after=keep).start, keep)
    return text, copied(served, text, keep)


def weights_of(served: Served | None) -> Weights:
    """Return the served run's ranking weights (the defaults when it has none)."""
    return (served.weights if served else None) or DEFAULT


@dataclass(frozen=True)
class _Option:
    text: str
    copied: int
    score: float
    features: dict[str, float]
    step: int  # which ranking (attempt) it came from, and its place there
    place: int

    @property
    def usable(self) -> bool:
        return self.copied < COPY_WORDS and not is_degenerate(self.text)


class Writing:
    """One request on its way: await it for its Results (n of them); ask it for its place in
    the queue; iterate `events()` for its lines and sections as they are written."""

    def __init__(self, composer: Composer, request: Request, timeout: float | None) -> None:
        self._composer = composer
        self._request = request
        self._timeout = timeout
        self._events: asyncio.Queue[Event | None] = asyncio.Queue()
        # Schemes are drawn at random; greedy requests (tests, comparisons) draw the same ones.
        self._rng = random.Random(request.prompt if request.greedy else None)
        served = composer.worker.served
        self._form = (served.form if served and served.form else None) or DEFAULT_FORM
        self._tickets: list[Ticket] = []  # each song's step waiting now (one ticket for verses)
        self._first: list[bool] = []  # the song's first line step went at submit time
        self._songs = 0  # songs this writing counts in composer.songs
        try:  # the first steps are queued here, so that Busy is raised at once
            if request.form == "song":
                composer.songs += request.n  # until the task ends, however it ends
                self._songs = request.n
                for _ in range(request.n):
                    self._tickets.append(self._submit_line(
                        served, [], self._form[0], self._opening(served), force=False))
                    self._first.append(True)
            else:
                self._tickets.append(self._submit(prompt_text(served, request), force=False,
                                                  k=max(composer.candidates, request.n)))
        except BaseException:
            for ticket in self._tickets:
                ticket.cancel()  # all or nothing: a cancelled step is never generated
            self._finish()
            raise
        self._task = asyncio.ensure_future(self._run())
        self._task.add_done_callback(lambda _: self._finish())

    def _finish(self) -> None:
        self._composer.songs -= self._songs
        self._songs = 0
        self._events.put_nowait(None)

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

    async def events(self) -> AsyncIterator[Event]:
        """Yield each chosen line and each finished section as it is written, then end."""
        while (event := await self._events.get()) is not None:
            yield event

    def _emit(self, event: Event) -> None:
        self._events.put_nowait(event)

    def _submit(self, prompt: str, force: bool = True, tokens: int | None = None,
                stop: tuple[str, ...] = (), k: int | None = None) -> Ticket:
        """Queue one step; `force` lets a request already under way go on past a full queue."""
        request = self._request
        return self._composer.worker.submit_nowait(GenRequest(
            prompt, k=k or self._composer.candidates,
            max_new_tokens=tokens or request.max_new_tokens,
            min_new_tokens=request.min_new_tokens, temperature=request.temperature,
            greedy=request.greedy, stop=stop, fit=bool(stop)), self._timeout, force=force)

    def _opening(self, served: Served | None) -> list[str]:
        return lyric_lines(clean_output(user_prompt(served, self._request.prompt)))

    def _line_prompt(self, served: Served | None, sections: list[tuple[str, list[str]]],
                     label: str, lines: list[str]) -> str:
        headers = (served.style or GENERIC).header_rate >= 0.5 if served else True
        return album_head(served, self._request.album) + song_prompt(sections, label, lines,
                                                                     headers)

    def _submit_line(self, served: Served | None, sections: list[tuple[str, list[str]]],
                     label: str, lines: list[str], force: bool = True) -> Ticket:
        artist = (served.style if served else None) or GENERIC
        return self._submit(self._line_prompt(served, sections, label, lines), force,
                            line_budget(artist), ("\n",), self._composer.line_candidates())

    async def _run(self) -> list[Result]:
        if self._request.form == "song":
            return list(await asyncio.gather(*(self._song(i)
                                               for i in range(len(self._tickets)))))
        results = await self._verses()
        for slot, result in enumerate(results):
            self._emit(SectionEvent(slot, "Verse", tuple(lyric_lines(result.text))))
        return results

    async def _verses(self) -> list[Result]:
        """Write n verses from ranked candidates: the n best that pass the guard and do not loop;
        ask again (twice at most) while too few pass, then cut the best of the rest."""
        request, tally, wanted = self._request, Tally(), self._request.n
        chosen: list[_Option] = []
        rest: list[_Option] = []
        rankings: list[list[_Option]] = []
        for attempt in range(NOVELTY_RETRIES + 1):
            generated = await self._tickets[0]
            tally.add(generated)
            served = generated.served
            prompt = user_prompt(served, request.prompt)
            keep = len(clean_output(prompt))  # copies wholly inside the user's line don't count
            artist, weights = served.style or GENERIC, weights_of(served)
            rankings.append([])
            for place, completion in enumerate(generated.completions):
                text = clean_output(prompt + completion.text, max_lines=request.lines)
                copies = copied(served, text, keep)
                features = text_features(text, completion.mean_logprob, artist, copies)
                option = _Option(text, copies, score(features, weights), features, attempt,
                                 place)
                rankings[-1].append(option)
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
            chosen.append(_Option(text, left, option.score, option.features, option.step,
                                  option.place))

        def steps(option: _Option) -> tuple[RankStep, ...]:
            return tuple(RankStep(None, None, tuple(Option(o.text, o.features) for o in options),
                                  option.place if option.step == index else -1)
                         for index, options in enumerate(rankings))

        return [tally.result(o.text, o.copied, steps(o)) for o in chosen[:wanted]]

    async def _song(self, slot: int) -> Result:
        tally = Tally()
        sections: list[tuple[str, list[str]]] = []
        refrains: dict[str, list[str]] = {}
        served = self._composer.worker.served
        artist = (served.style if served else None) or GENERIC
        for label, wanted in zip(self._form, song_lengths(self._form, artist, MAX_CHARS),
                                 strict=True):
            if kind(label) in refrains:
                sections.append((label, refrains[kind(label)]))
                self._emit(SectionEvent(slot, label, tuple(refrains[kind(label)])))
                continue
            lines = await self._section(slot, sections, label, wanted, tally)
            if not lines:
                continue  # nothing usable came: the song goes on without this section
            sections.append((label, lines))
            self._emit(SectionEvent(slot, label, tuple(lines)))
            if kind(label) in REFRAINS:
                refrains[kind(label)] = lines
        return tally.result(render(sections, MAX_CHARS), max(tally.copies))

    async def _section(self, slot: int, sections: list[tuple[str, list[str]]], label: str,
                       wanted: int, tally: Tally) -> list[str]:
        """Write one section line by line, each line rhyming where its drawn scheme says."""
        served = self._composer.worker.served
        lines = self._opening(served) if not sections else []
        for line in lines:
            self._emit(LineEvent(slot, label, line))
        partners = self._partners(served, wanted)
        earlier = {" ".join(words_of(line)) for _, done in sections for line in done}
        earlier.update(" ".join(words_of(line)) for line in lines)
        while len(lines) < wanted:
            partner = partners[len(lines)]
            line = await self._line(slot, sections, label, lines,
                                    end_word(lines[partner]) if partner is not None else None,
                                    earlier, tally)
            if line is None:
                break  # no usable line came: the section ends here
            lines.append(line)
            earlier.add(" ".join(words_of(line)))
            self._emit(LineEvent(slot, label, line))
        return lines

    def _partners(self, served: Served | None, wanted: int) -> list[int | None]:
        """Draw a section's rhyme plan: each line's partner (an earlier line) or None."""
        book = (served.rhymes if served else None) or GENERIC_BOOK
        shares = book.schemes
        if served and served.rhymes and served.style:  # ask as many lines as the artist rhymes
            shares = aim(shares, served.style.rhyme_rate, wanted)
        return plan(shares, wanted, self._rng)

    async def _line(self, slot: int, sections: list[tuple[str, list[str]]], label: str,
                    lines: list[str], partner: str | None, earlier: set[str],
                    tally: Tally) -> str | None:
        """Write one line: rank its candidates; a line that must rhyme is chosen among those
        that rhyme, strictly if any does, else re-ended on the likeliest rhyming word."""
        context = [line for _, done in sections for line in done][-3:] + lines
        options: list[Candidate] = []
        for _ in range(NOVELTY_RETRIES + 1):
            if self._first[slot]:
                self._first[slot] = False  # the song's first step went at submit time
            else:
                self._tickets[slot] = self._submit_line(self._composer.worker.served, sections,
                                                        label, lines)
            generated = await self._tickets[slot]
            tally.add(generated)
            served = generated.served
            artist = served.style or GENERIC
            options += candidates(generated.completions, artist, partner, earlier,
                                  served.copy_index, context)
            if any(o.usable and o.finished for o in options):
                break  # else none usable, or every line ran into its budget: ask again
        weights = weights_of(served)
        chosen = best(options, weights)
        if chosen is not None and partner and chosen.features["rhyme"] < 1.0:
            strict = best(options, weights, rhyme=1.0)
            if strict is None:
                ending = await self._reend(slot, served, sections, label, lines, partner,
                                           chosen, earlier, context, tally)
                if ending is not None:
                    options.append(ending)
                    strict = best([ending], weights, rhyme=1.0)
            # Rhyme is chosen, not hoped for: a strict rhyme, else the best near one.
            chosen = strict or best(options, weights, rhyme=0.5) or chosen
        tally.steps.append(RankStep(label, len(lines), tuple(o.option() for o in options),
                                    options.index(chosen) if chosen else -1))
        if chosen is None:
            return None
        tally.copies.append(chosen.copied)
        return chosen.text

    async def _reend(self, slot: int, served: Served, sections: list[tuple[str, list[str]]],
                     label: str, lines: list[str], partner: str, line: Candidate, earlier: set[str],
                     context: list[str], tally: Tally) -> Candidate | None:
        """Re-end `line` on the rhyming word the model scores likeliest after its stem."""
        start = stem(line.text)
        used = {end_word(done) for done in lines}
        words = [w for w in (served.rhymes or GENERIC_BOOK).reendings(partner)
                 if w not in used and quality(w, partner) > 0]
        if not start or not words:
            return None
        texts = tuple(f"{start} {word}\n" for word in words)  # the newline: the line ends there
        try:
            # The ending leans on the lines just before it: scoring each of the rows with
            # the whole context would read it again per row (the steps of a crowd's songs).
            ticket = self._composer.worker.submit_nowait(GenRequest(
                self._line_prompt(served, [], label, lines[-SCORE_LINES:]), k=len(texts),
                score=texts, fit=True), self._timeout, force=True)
            self._tickets[slot] = ticket  # so that cancel() reaches it
            generated = await ticket
        except BadRequest as e:  # a backend that cannot score: keep the best line as it is
            log.info("no re-ending: %s", e)
            return None
        tally.add(generated)
        top = likeliest(generated.completions)
        if top is None:
            return None
        artist = served.style or GENERIC
        return candidate(top.text.strip(), top.mean_logprob, True, artist, partner, earlier,
                         served.copy_index, context)


class Composer:
    def __init__(self, worker: Worker, candidates: int = CANDIDATES) -> None:
        self.worker = worker
        self.candidates = candidates
        self.songs = 0  # songs being written now, by every Writing of this composer

    def line_candidates(self) -> int:
        """Return k for one line step: `candidates`, fewer while the songs being written would
        not fit one batch (`max_batch` rows) with that many each. On a CPU a batch past a few
        rows costs in proportion to them, so a crowd gets fewer candidates a line rather than
        each song waiting several times as long."""
        share = self.worker.max_batch // max(1, self.songs)
        return max(1, min(self.candidates, share))

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
