"""One line of a verse or song: its candidates and what ranks them (re-ending one on a rhyme:
model/writing/reending.py).

A line step asks for k candidates of one line, stopping at the newline, within the artist's line
budget (songform.line_budget), so no line can run on into prose. What the model is fed for it
is the whole song so far (model/writing/songprompt.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from model.lyrics.habits import junk, unlike
from model.lyrics.songtext import clean_output, is_degenerate
from model.lyrics.style import Style, end_word, quality
from model.serving.protocol import Completion
from model.writing.novelty import COPY_WORDS, CopyIndex, words_of
from model.writing.ranking import Option, Weights, line_features, score

COPY_CONTEXT = 3  # earlier lines a copied run may start in
LOOP_CONTEXT = 4  # earlier lines a loop may start in: a phrase of up to 6 words, 5 times
# Why a line may not be kept where it goes ("explicit", "slur"), or None when it may: a request's
# filter, given by its caller (the bot knows the room; the writing rules do not).
Refuse = Callable[[str], str | None]


def line_of(text: str) -> str:
    """Return a completion's first line, cleaned ('' when it is empty or a header)."""
    line = clean_output(text).split("\n")[0].strip()
    return "" if line.startswith("[") else line


@dataclass(frozen=True)
class Candidate:
    text: str
    features: dict[str, float]
    finished: bool  # the line ended by itself, not cut by its token budget
    copied: int  # words in its longest run copied from a training song
    fresh: bool  # not a line the song already has
    # What in it the artist almost never writes, or what kind of non-lyric it is
    # (model/lyrics/habits.py: unlike, junk)
    unlike: str | None = None
    refused: str | None = None  # why the request's filter refused it (never the word itself)
    loops: bool = False  # it makes the lines before it a loop ("you got a point" five times)

    @property
    def usable(self) -> bool:
        return (bool(self.text) and self.fresh and self.copied < COPY_WORDS
                and self.unlike is None and self.refused is None and not self.loops
                and not is_degenerate(self.text))

    def option(self) -> Option:
        """Return it as ranked, for the log: a refused line's text is not kept, only why."""
        return Option(self.text if self.refused is None else f"({self.refused} line filtered)",
                      self.features)


def rhyme_with(line: str, partner: str | None) -> float:
    """Return the rhyme feature of a line: its end word's rhyme with the partner's (0 if none)."""
    return quality(end_word(line), partner) if partner else 0.0


def candidate(text: str, logprob: float | None, finished: bool, artist: Style,
              partner: str | None, earlier: set[str], index: CopyIndex | None,
              context: list[str], refuse: Refuse | None = None,
              after: Sequence[str] = ()) -> Candidate:
    """Measure one candidate line; a line cut by its budget ends on a cut word: no rhyme; a
    character or shape the artist almost never writes, a line that is no lyric in anyone's
    song (a number list, code, markup: habits.junk, whatever the artist's habits allow; both
    only where the habits are known), or a word `refuse` refuses, makes it unusable. A copied
    run may start in the lines before it (`context`) or run on into those sung after it
    (`after`: a refrain sung again next)."""
    copied = 0
    if index is not None and text:
        before = "\n".join(context[-COPY_CONTEXT:])
        # Runs wholly inside the refrain were refused when it was written: any found crosses in.
        following = "".join(f"\n{line}" for line in after[:COPY_CONTEXT])
        copied = index.longest(f"{before}\n{text}{following}", after=len(before)).words
    rhyme = rhyme_with(text, partner) if finished else 0.0
    # A phrase repeated across lines: each line is new, the song is stuck. Only a loop the line
    # makes counts (a user's own opening may already be one).
    tail = "\n".join(context[-LOOP_CONTEXT:])
    loops = bool(text) and is_degenerate(f"{tail}\n{text}") and not is_degenerate(tail)
    return Candidate(text, line_features(text, logprob, artist, rhyme, copied), finished, copied,
                     " ".join(words_of(text)) not in earlier,
                     unlike(text, artist.characters, artist.shapes, artist.checked)
                     or (junk(text) if artist.shapes is not None else None),
                     refuse(text) if refuse is not None and text else None, loops)


def candidates(completions: Iterable[Completion], artist: Style, partner: str | None,
               earlier: set[str], index: CopyIndex | None, context: list[str],
               refuse: Refuse | None = None, after: Sequence[str] = ()) -> list[Candidate]:
    """Measure a line step's completions as candidate lines."""
    return [candidate(line_of(c.text), c.mean_logprob, c.finish != "length", artist, partner,
                      earlier, index, context, refuse, after) for c in completions]


def best(options: list[Candidate], weights: Weights, rhyme: float = 0.0) -> Candidate | None:
    """Return the best usable candidate whose rhyme is at least `rhyme`: lines that ended by
    themselves first, then by score; None when there is none."""
    kept = [o for o in options if o.usable and o.features["rhyme"] >= rhyme]
    return max(kept, key=lambda o: (o.finished, score(o.features, weights)), default=None)
