"""Re-endings: a line ended again on a word that rhymes, kept only when the model finds it
nearly as likely as the line as it was.

A line the rhyme plan asks to rhyme with an earlier one (its partner), none of whose candidates
does, has its last word swapped for the strict rhyme of the partner's end word that the model
scores likeliest after the line's stem. The line as it was is scored in the same request, and
the swap is kept only within REEND_COST nats of it: past that, swapped words read broken.
Scoring is a worker request like any other (`GenRequest.score`).
"""

from __future__ import annotations

import math
import re

from model.lyrics.rhyme import RhymeBook
from model.lyrics.style import quality
from model.serving.protocol import Completion

_WORD = re.compile(r"[A-Za-z']*[A-Za-z]")
# A re-ending is kept only within this many nats of the line's own ending. Past it, a swapped
# word reads broken ("every time I wake wife", "on my satirical"): 55 of 65 on a pop catalogue.
REEND_COST = 2.5


def ending_words(book: RhymeBook, word: str, used: set[str]) -> list[str]:
    """Return the words a line may be re-ended on to rhyme with `word`: the artist's
    (RhymeBook.reendings), less the end words its section has already used."""
    return [w for w in book.reendings(word) if w not in used and quality(w, word) > 0]


def stem(line: str) -> str:
    """Return a line without its last word (and what follows it); '' for a one-word line."""
    words = list(_WORD.finditer(line))
    if len(words) < 2:
        return ""
    return line[:words[-1].start()].rstrip(" ,;:-")


def reendings(line: str, words: list[str]) -> tuple[str, ...]:
    """Return what a re-ending scores: the line as it was, then its stem ended on each word,
    each with the newline that ends it (the line ends there); () when it cannot be re-ended."""
    start = stem(line)
    if not start or not words:
        return ()
    return (f"{line}\n", *(f"{start} {word}\n" for word in words))


def total(scored: Completion) -> float:
    """Return a scored text's total log-probability (-inf when unknown)."""
    if scored.mean_logprob is None or not scored.tokens:
        return -math.inf
    return scored.mean_logprob * scored.tokens


def reended(scored: list[Completion]) -> Completion | None:
    """Return the likeliest re-ending of the texts `reendings` gave, unless it costs more than
    REEND_COST nats against the line as it was; None then."""
    own, *endings = scored
    top = max(endings, key=total, default=None)
    if top is None or total(top) == -math.inf:  # no ending the backend could score
        return None
    if own.mean_logprob is not None and total(top) < total(own) - REEND_COST:
        return None
    return top
