"""Rhyme plans: which stanza schemes an artist uses, which earlier line each line of a new
stanza should rhyme with, and which words can end it. How well two words rhyme (strictly or
near) is judged in style.py, with the other figures read from lyrics.

A scheme is measured on each group of four lines of a stanza (a stanza of 8 has two groups):
AABB (two couplets), ABAB (alternate), XAXA (only lines 2 and 4), or none. The artist's shares
of them are drawn from when a stanza is written. Measured strictly on real lyrics, most groups
come out "none" or XAXA, so the plan alone would ask fewer lines to rhyme than the artist's
rhyme rate (their rhymes fall across group borders and within the 3-line window): `aim` scales
the rhyming schemes' shares, keeping their proportions, so that the plan asks the artist's rate.
"""

from __future__ import annotations

import collections
import itertools
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from model.lyrics.style import end_word, lyric_lines, quality, rhymes, stanzas, words

SCHEMES = ("AABB", "ABAB", "XAXA", "none")
GROUP = 4  # lines a scheme spans
# The partner (an earlier line of the group) each line rhymes with, by scheme.
PARTNERS: dict[str, tuple[int | None, ...]] = {
    "AABB": (None, 0, None, 2), "ABAB": (None, None, 0, 1), "XAXA": (None, None, None, 1),
    "none": (None, None, None, None)}
# Lyrics in general, for a model with no training songs (a base model).
GENERIC_SCHEMES = {"AABB": 0.2, "ABAB": 0.1, "XAXA": 0.15, "none": 0.55}
REENDINGS = 8  # rhyming end words the model scores when re-ending a line (a row each)


def scheme_of(lines: list[str]) -> str:
    """Name the scheme of four lines by their strict end rhymes; 'none' when none fits."""
    ends = [end_word(line) for line in lines[:GROUP]]
    if len(ends) < GROUP:
        return "none"
    pairs = {(i, j) for i in range(GROUP) for j in range(i + 1, GROUP) if rhymes(ends[i], ends[j])}
    for name in ("AABB", "ABAB", "XAXA"):
        wanted = {(p, i) for i, p in enumerate(PARTNERS[name]) if p is not None}
        if wanted <= pairs:
            return name
    return "none"


def schemes(texts: Iterable[str]) -> dict[str, float]:
    """Return the share of each scheme among the four-line groups of the songs' stanzas."""
    counts: collections.Counter[str] = collections.Counter()
    for text in texts:
        for stanza in stanzas(text):
            for start in range(0, len(stanza) - GROUP + 1, GROUP):
                counts[scheme_of(stanza[start:start + GROUP])] += 1
    total = sum(counts.values())
    if not total:
        return dict(GENERIC_SCHEMES)
    return {name: round(counts[name] / total, 4) for name in SCHEMES}


# Lines asked to rhyme in a group of four, by scheme.
RHYMING = {name: sum(p is not None for p in partners) for name, partners in PARTNERS.items()}


def _rhyming(name: str, lines: int) -> int:
    """Return the lines a section of `lines` asks to rhyme when every group draws `name`: a
    group cut short by the section's end keeps only its first partners (a 6-line section is a
    group of four and one of two, in which only AABB asks a rhyme)."""
    full, rest = divmod(lines, GROUP)
    return full * RHYMING[name] + sum(p is not None for p in PARTNERS[name][:rest])


def asked(shares: Mapping[str, float], lines: int = GROUP) -> float:
    """Return the share of a section's `lines` lines that a plan drawn from `shares` asks to
    rhyme."""
    total = sum(max(0.0, shares.get(name, 0.0)) for name in SCHEMES)
    return (sum(max(0.0, shares.get(name, 0.0)) * _rhyming(name, lines) for name in SCHEMES)
            / (lines * total) if total and lines else 0.0)


def aim(shares: Mapping[str, float], rate: float, lines: int = GROUP) -> dict[str, float]:
    """Return scheme shares that ask `rate` of a section's `lines` lines to rhyme: the rhyming
    schemes scaled in their own proportions, the rest "none". A rate above what the rhyming
    schemes can ask with no "none" left is capped there; shares that can ask no rhyme at all
    (an artist who never rhymes in one, a plan meant not to rhyme, a one-line section) are kept
    as they are."""
    rhyming = [name for name in SCHEMES if RHYMING[name]]
    theirs = {name: max(0.0, shares.get(name, 0.0)) for name in rhyming}
    mass = sum(theirs.values())
    per_section = sum(theirs[name] * _rhyming(name, lines) for name in rhyming) / mass \
        if mass else 0.0  # lines asked if every group drew a rhyming scheme
    if not per_section:
        return {name: max(0.0, shares.get(name, 0.0)) for name in SCHEMES}
    scale = min(max(0.0, rate) * lines / per_section, 1.0)  # the rhyming schemes' total share
    out = {name: theirs[name] / mass * scale for name in rhyming}
    out["none"] = 1.0 - scale
    return {name: out[name] for name in SCHEMES}


def plan(shares: Mapping[str, float], lines: int, rng: random.Random) -> list[int | None]:
    """Draw a scheme for each group of four lines; return each line's partner index (or None)."""
    weights = [max(0.0, shares.get(name, 0.0)) for name in SCHEMES]
    if not sum(weights):
        weights = [0.0] * (len(SCHEMES) - 1) + [1.0]
    partners: list[int | None] = []
    for start in range(0, lines, GROUP):
        scheme = rng.choices(SCHEMES, weights)[0]
        for offset in range(min(GROUP, lines - start)):
            partner = PARTNERS[scheme][offset]
            partners.append(None if partner is None else start + partner)
    return partners


@dataclass(frozen=True)
class RhymeBook:
    """What the writing rules know of an artist's rhymes: their schemes and their words."""

    schemes: Mapping[str, float]
    end_words: Mapping[str, int]  # how often the artist ends a line with each word
    words: Mapping[str, int] = field(default_factory=dict)  # every word they sing, how often

    def reendings(self, partner: str, limit: int = REENDINGS) -> list[str]:
        """Return words that rhyme strictly with `partner`: the artist's end words, then the
        other words they sing (most used first); the dictionary's (shortest first) only when
        the artist has none. With no strict rhyme at all, the artist's near rhymes."""
        import pronouncing

        ends = sorted(self.end_words, key=lambda w: -self.end_words[w])
        sung = sorted((w for w in self.words if w not in self.end_words),
                      key=lambda w: -self.words[w])
        strict = list(itertools.islice((w for w in [*ends, *sung] if rhymes(w, partner)), limit))
        if not strict:
            strict = sorted((w for w in pronouncing.rhymes(partner) if w.isalpha()),
                            key=lambda w: (len(w), w))
        return (strict or [w for w in ends if quality(w, partner) > 0])[:limit]


def rhyme_book(texts: Iterable[str]) -> RhymeBook:
    """Measure an artist's schemes, end words and words from their songs."""
    texts = list(texts)
    lines = [line for text in texts for line in lyric_lines(text)]
    ends = collections.Counter(end_word(line) for line in lines)
    ends.pop("", None)
    sung = collections.Counter(word for line in lines for word in words(line))
    return RhymeBook(schemes(texts), dict(ends), dict(sung))


GENERIC_BOOK = RhymeBook(GENERIC_SCHEMES, {})
