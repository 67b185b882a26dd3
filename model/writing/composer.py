"""The writing rules, once for every backend: what a model is asked, and lyrics from its answer.

Callers (the bot, the web, `training generate` and `evaluate`) ask for lyrics with a `Request`.
Lyrics are written line by line (model/writing/lines.py): each line is one worker request for k
candidates of that line alone, stopped at the newline within the artist's line budget, so no
line can run on into prose, different users' lines share batches and no writing holds the
worker between its steps. A line step is fed the whole song so far, append-only
(model/writing/songprompt.py), so an engine that keeps prompt prefixes reads only the new line.

The candidates are ranked by the run's weights (model/writing/ranking.py); one that copies a
training song (the novelty guard), loops, repeats a line already sung or is refused by the
request's own filter (`Request.refuse`: the caller's word list for the room it writes for) is
never kept, and when none is usable, or every one ran into its budget, the line is asked again
(twice at most).

`form="verse"` (the default) writes one stanza: `Request.lines` lines, the user's own included,
else the artist's usual stanza. `form="song"` writes a whole song in the artist's form and stanza
lengths (verse, chorus, verse, chorus, bridge, chorus by default), toward the artist's lines per
song within one message; the chorus is written once and sung again word for word. `n` verses
or songs are written side by side, their line steps sharing batches.

Each four-line group draws one of the artist's rhyme schemes (model/lyrics/rhyme.py); a line the
scheme says rhymes is chosen among its candidates that rhyme with its partner, strictly if any
does; when none rhymes strictly, the best is re-ended on the strict rhyme the model scores
likeliest, if the model finds it nearly as likely as the line's own last word, and only then may
a near rhyme stand.

Every ranking is recorded on the Result (`steps`), and `Writing.events()` streams each chosen
line and each finished section as it is written: a chosen line is final.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

from model.errors import BadRequest
from model.lyrics.rhyme import GENERIC_BOOK, aim, plan
from model.lyrics.songform import (
    DEFAULT_FORM,
    REFRAINS,
    kind,
    line_budget,
    render,
    section_lines,
    song_lengths,
)
from model.lyrics.songtext import SONG_CHARS, clean_output
from model.lyrics.style import GENERIC, Style, end_word, lyric_lines
from model.serving.protocol import GenRequest, Served
from model.serving.worker import Generated, Ticket, Worker
from model.writing.events import Event, LineEvent, SectionEvent
from model.writing.lines import Candidate, best, candidate, candidates
from model.writing.novelty import words_of
from model.writing.prompts import album_head, user_prompt
from model.writing.ranking import DEFAULT, RankStep, Weights
from model.writing.reending import ending_words, reended, reendings
from model.writing.request import Request
from model.writing.results import Result, Tally
from model.writing.songprompt import SongPrompt, song_text

log = logging.getLogger(__name__)

SCORE_LINES = 2  # lines of its section a re-ending is scored after
NOVELTY_RETRIES = 2  # new tries when no candidate is usable, before the section ends there
CANDIDATES = 3  # samples per step to rank; a batch row each, so a CPU song stays interactive
VERSE = "Verse"  # the one section of a verse


def weights_of(served: Served | None) -> Weights:
    """Return the served run's ranking weights (the defaults when it has none)."""
    return (served.weights if served else None) or DEFAULT


def style_of(served: Served | None) -> Style:
    """Return the served run's style figures (lyrics in general when it has none)."""
    return (served.style if served else None) or GENERIC


@dataclass
class _Song:
    """One verse or song under way, and what its line steps are fed."""

    slot: int  # which of the request's n
    sections: list[tuple[str, list[str]]] = field(default_factory=list)  # refrains sung again too
    tally: Tally = field(default_factory=Tally)
    prompt: SongPrompt = field(default_factory=SongPrompt)
    queued: str | None = None  # the prompt of the step queued at start, until a line takes it
    shown: bool = False  # the user's own lines went out as events (once writing had begun)


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
        self._form = (VERSE,) if request.form != "song" else \
            (served.form if served and served.form else None) or DEFAULT_FORM
        self._opening = lyric_lines(clean_output(user_prompt(served, request.prompt)))
        if request.form != "song" and request.lines:
            self._opening = self._opening[:request.lines]
        if not self._opening:
            raise BadRequest("the first line is empty once special tokens are taken out")
        self._songs = [_Song(slot) for slot in range(request.n)]
        self._tickets: list[Ticket] = []  # each song's step waiting now
        self._counted = 0  # songs this writing counts in composer.songs
        try:  # the first steps are queued here, so that Busy is raised at once
            composer.songs += request.n  # until the task ends, however it ends
            self._counted = request.n
            for song in self._songs:
                song.queued = self._prompt(served, song, self._form[0], self._opening)
                self._tickets.append(self._submit(served, song.queued, force=False))
        except BaseException:
            for ticket in self._tickets:
                ticket.cancel()  # all or nothing: a cancelled step is never generated
            self._finish()
            raise
        self._task = asyncio.ensure_future(self._run())
        self._task.add_done_callback(lambda _: self._finish())

    def _finish(self) -> None:
        self._composer.songs -= self._counted
        self._counted = 0
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

    def _headers(self, served: Served | None) -> bool:
        """Say whether the model saw `[Section]` headers in most training songs."""
        return style_of(served).header_rate >= 0.5 if served else True

    def _prompt(self, served: Served | None, song: _Song, label: str, lines: list[str]) -> str:
        """Return what the next line of section `label` is fed: the whole song so far, within
        the model's context less the line's budget."""
        limit = served.info.context - line_budget(style_of(served)) if served else math.inf
        return song.prompt.text(album_head(served, self._request.album), song.sections, label,
                                lines, self._headers(served), limit)

    def _submit(self, served: Served | None, prompt: str, force: bool = True) -> Ticket:
        """Queue one line step; `force` lets a writing already under way go on past a full
        queue (it must not be refused halfway)."""
        request = self._request
        return self._composer.worker.submit_nowait(GenRequest(
            prompt, k=self._composer.line_candidates(),
            max_new_tokens=line_budget(style_of(served)), temperature=request.temperature,
            greedy=request.greedy, stop=("\n",), fit=True), self._timeout, force=force)

    async def _run(self) -> list[Result]:
        return list(await asyncio.gather(*(self._write(song) for song in self._songs)))

    async def _write(self, song: _Song) -> Result:
        """Write one verse or song, section by section; a refrain is sung again whole."""
        artist = style_of(self._composer.worker.served)
        max_chars = self._composer.max_chars
        # A verse: the lines asked for, else the artist's stanza, and a line past the user's.
        lengths = song_lengths(self._form, artist, max_chars) if self._request.form == "song" \
            else [self._request.lines or max(section_lines(VERSE, artist), len(self._opening) + 1)]
        refrains: dict[str, list[str]] = {}
        for i, (label, wanted) in enumerate(zip(self._form, lengths, strict=True)):
            if kind(label) in refrains:
                song.sections.append((label, refrains[kind(label)]))
                self._emit(SectionEvent(song.slot, label, tuple(refrains[kind(label)])))
                continue
            upcoming = self._form[i + 1] if i + 1 < len(self._form) else ""
            lines = await self._section(song, label, wanted, refrains.get(kind(upcoming), []))
            if not lines:
                continue  # nothing usable came: the song goes on without this section
            song.sections.append((label, lines))
            self._emit(SectionEvent(song.slot, label, tuple(lines)))
            if kind(label) in REFRAINS:
                refrains[kind(label)] = lines
        if song.queued is not None:  # the opening filled the verse: no line took the first step
            song.tally.add(await self._tickets[song.slot])  # it still says which model served
        text = render(song.sections, max_chars) if self._request.form == "song" else \
            "\n".join(line for _, lines in song.sections for line in lines)
        return song.tally.result(text, max(song.tally.copies))

    async def _section(self, song: _Song, label: str, wanted: int,
                       refrain: list[str]) -> list[str]:
        """Write one section line by line, each line rhyming where its drawn scheme says; its
        last line runs on into `refrain` (the chorus sung again after it, if one is)."""
        served = self._composer.worker.served
        lines = [] if song.sections else list(self._opening)
        partners = self._partners(served, wanted)
        earlier = {" ".join(words_of(line)) for _, done in song.sections for line in done}
        earlier.update(" ".join(words_of(line)) for line in lines)
        while len(lines) < wanted:
            partner = partners[len(lines)]
            line = await self._line(song, label, lines,
                                    end_word(lines[partner]) if partner is not None else None,
                                    earlier, refrain if len(lines) == wanted - 1 else [])
            if line is None:
                break  # no usable line came: the section ends here
            lines.append(line)
            earlier.add(" ".join(words_of(line)))
            self._emit(LineEvent(song.slot, label, line))
        self._show_opening(song, label)  # the opening filled the section: no line came
        return lines

    def _show_opening(self, song: _Song, label: str) -> None:
        """Send the user's own lines as line events, once: when the song's first step comes
        back, so that a caller shows the queue position until then, not the user's line."""
        if not song.shown:
            song.shown = True
            for line in self._opening:
                self._emit(LineEvent(song.slot, label, line))

    def _partners(self, served: Served | None, wanted: int) -> list[int | None]:
        """Draw a section's rhyme plan: each line's partner (an earlier line) or None."""
        book = (served.rhymes if served else None) or GENERIC_BOOK
        shares = book.schemes
        if served and served.rhymes and served.style:  # ask as many lines as the artist rhymes
            shares = aim(shares, served.style.rhyme_rate, wanted)
        return plan(shares, wanted, self._rng)

    def _step(self, song: _Song, label: str, lines: list[str]) -> Ticket:
        """Return the ticket of the next step of `song`: the one queued at start when it asks
        for this very line, else a new one."""
        prompt = self._prompt(self._composer.worker.served, song, label, lines)
        if song.queued is not None:
            queued, song.queued = song.queued, None
            if queued == prompt:
                return self._tickets[song.slot]
            self._tickets[song.slot].cancel()  # the opening filled its section: another line
        self._tickets[song.slot] = self._submit(self._composer.worker.served, prompt)
        return self._tickets[song.slot]

    async def _line(self, song: _Song, label: str, lines: list[str], partner: str | None,
                    earlier: set[str], after: list[str]) -> str | None:
        """Write one line: rank its candidates; a line that must rhyme is chosen among those
        that rhyme, strictly if any does, else re-ended on the likeliest rhyming word. `after`:
        the lines sung next (a refrain), which a copied run may run on into."""
        context = [line for _, done in song.sections for line in done][-3:] + lines
        options: list[Candidate] = []
        redrawn = False
        for _ in range(NOVELTY_RETRIES + 1):
            if options and any(o.refused for o in options):
                redrawn = True  # asked again, and the filter had refused a line
            generated = await self._step(song, label, lines)
            self._show_opening(song, label)
            song.tally.add(generated)
            served = generated.served
            options += candidates(generated.completions, style_of(served), partner, earlier,
                                  served.copy_index, context, self._request.refuse, after)
            if any(o.usable and o.finished for o in options):
                break  # else none usable, or every line ran into its budget: ask again
        song.tally.redrawn += redrawn
        weights = weights_of(served)
        if weights.reference:
            options = await self._contrast(song, served, context, options)
        chosen = best(options, weights)
        if chosen is not None and partner and chosen.features["rhyme"] < 1.0:
            strict = best(options, weights, rhyme=1.0)
            if strict is None:
                ending = await self._reend(song, served, label, lines, partner, chosen, earlier,
                                           context, after)
                if ending is not None:
                    options.append(ending)
                    strict = best([ending], weights, rhyme=1.0)
            # Rhyme is chosen, not hoped for: a strict rhyme, else the best near one.
            chosen = strict or best(options, weights, rhyme=0.5) or chosen
        song.tally.filtered += sum(1 for o in options if o.refused)
        song.tally.steps.append(RankStep(label, len(lines), tuple(o.option() for o in options),
                                         options.index(chosen) if chosen else -1))
        if chosen is None:
            return None
        song.tally.copies.append(chosen.copied)
        return chosen.text

    async def _score(self, song: _Song, request: GenRequest) -> Generated | None:
        """Run one scoring request for `song`; None when the served backend cannot score."""
        try:
            ticket = self._composer.worker.submit_nowait(request, self._timeout, force=True)
            self._tickets[song.slot] = ticket  # so that cancel() reaches it
            generated = await ticket
        except BadRequest as e:  # no reference served, or a backend that cannot score
            log.info("not scored: %s", e)
            return None
        song.tally.add(generated)
        return generated

    async def _contrast(self, song: _Song, served: Served, context: list[str],
                        options: list[Candidate]) -> list[Candidate]:
        """Score the usable candidates under the reference model, after the song's last lines:
        their `reference` feature. They stay unscored when no reference is served."""
        usable = [i for i, option in enumerate(options) if option.usable]
        if not usable:
            return options
        # A few lines of context: the reference is asked how likely the line is as text, not
        # as this song (the tuned model's likelihood already reads the whole song).
        prompt = "".join(f"{line}\n" for line in context[-SCORE_LINES:])
        texts = tuple(f"{options[i].text}\n" for i in usable)
        generated = await self._score(song, GenRequest(
            prompt, k=len(texts), score=texts, reference=True, fit=True))
        if generated is None:
            return options
        scored = list(options)
        for i, completion in zip(usable, generated.completions, strict=True):
            if completion.mean_logprob is not None:
                features = {**scored[i].features, "reference": completion.mean_logprob}
                scored[i] = replace(scored[i], features=features)
        return scored

    async def _reend(self, song: _Song, served: Served, label: str, lines: list[str],
                     partner: str, line: Candidate, earlier: set[str], context: list[str],
                     after: list[str]) -> Candidate | None:
        """Re-end `line` on the rhyming word the model scores likeliest after its stem, if the
        model finds it nearly as likely as the line as it was (reending.reended)."""
        used = {end_word(done) for done in lines}
        texts = reendings(line.text, ending_words(served.rhymes or GENERIC_BOOK, partner, used))
        if not texts:
            return None
        # The ending leans on the lines just before it: scoring each of the rows with the
        # whole song would read it again per row (the steps of a crowd's songs).
        prompt = album_head(served, self._request.album) + song_text(
            [], label, lines[-SCORE_LINES:], self._headers(served))
        generated = await self._score(song, GenRequest(prompt, k=len(texts), score=texts,
                                                       fit=True))
        top = reended(generated.completions) if generated is not None else None
        if top is None:
            return None
        return candidate(top.text.strip(), top.mean_logprob, True, style_of(served), partner,
                         earlier, served.copy_index, context, self._request.refuse, after)


class Composer:
    def __init__(self, worker: Worker, candidates: int = CANDIDATES,
                 max_chars: int = SONG_CHARS) -> None:
        self.worker = worker
        self.candidates = candidates
        self.max_chars = max_chars  # a whole song is planned and cut to fit this many characters
        self.songs = 0  # verses and songs being written now, by every Writing of this composer

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
        """Write `request.n` verses or songs for `request` and wait for them."""
        return await self.start(request, timeout)
