"""Style figures of lyrics, from the text alone: how long lines are, how often they rhyme, and
whether a block of lines comes back (a chorus). Used by the corpus (the artist's figures), by
evaluation (artist vs base vs fine-tuned) and by the composer to rank candidates.

Works on any lyrics, with or without `[Chorus]` headers: lyricsgenius exports made with
`remove_section_headers=True` carry none, so song structure is found from the text.
Rhymes are judged by pronunciation (the CMU Pronouncing Dictionary, via `pronouncing`): two words
rhyme when their sounds from the last stressed vowel on are the same ("fire"/"desire",
"tonight"/"light"). Words the dictionary lacks fall back to spelling (the last vowel group and
what follows). A word does not rhyme with itself: repeating an end word is not a rhyme. A near
(slant) rhyme has the same last stressed vowel and a like final consonant: both none, or both of
one manner of articulation ("time"/"line": M and N are nasals; "fate"/"shade": T and D are stops).
Real lyrics rhyme strictly in about one line in eight and slant often; the 12-song example
rhymes three times as much.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from model.lyrics.habits import ADDED_SHAPES, SHAPES, habits

RHYME_WINDOW = 3  # a line rhymes when its end word rhymes with one of the 3 lines before it
_WORD = re.compile(r"[a-z']+")
# Words a web page writes far more often than a song: what a weakly tuned model's lines give
# themselves away by ("the", "of", "their": a classifier's tells on real catalogues).
PROSE_WORDS = frozenset({"the", "of", "their", "its", "which", "an", "by", "as", "these",
                         "those", "such", "has", "been", "were", "from", "is", "are"})
_MANNERS = ({"P", "B", "T", "D", "K", "G"}, {"M", "N", "NG"}, {"L", "R"},
            {"F", "V", "TH", "DH", "S", "Z", "SH", "ZH", "HH", "CH", "JH"}, {"W", "Y"})


def lyric_lines(text: str) -> list[str]:
    """Return the lyric lines of a song: no blank lines, no `[Section]` headers."""
    return [line.strip() for line in text.split("\n")
            if line.strip() and not line.strip().startswith("[")]


def stanzas(text: str) -> list[list[str]]:
    """Split a song into stanzas (blank-line or header separated) of lyric lines."""
    blocks: list[list[str]] = [[]]
    for line in text.split("\n"):
        if not line.strip() or line.strip().startswith("["):
            if blocks[-1]:
                blocks.append([])
            continue
        blocks[-1].append(line.strip())
    return [b for b in blocks if b]


def words(line: str) -> list[str]:
    """Return a line's words, lower-case, without punctuation."""
    return [w.strip("'") for w in _WORD.findall(line.casefold()) if w.strip("'")]


def end_word(line: str) -> str:
    """Return a line's last word, lower-case, without punctuation ('' for none)."""
    found = words(line)
    return found[-1] if found else ""


def _normal(line: str) -> str:
    return " ".join(words(line))


@lru_cache(maxsize=65536)
def _rhyme_parts(word: str) -> frozenset[str]:
    import pronouncing

    phones = pronouncing.phones_for_word(word)
    parts = {re.sub(r"\d", "", pronouncing.rhyming_part(p)) for p in phones}
    if parts:
        return frozenset(parts)
    match = re.search(r"[aeiouy]+[^aeiouy]*$", word)  # not in the dictionary: go by spelling
    return frozenset({"~" + (match.group(0) if match and len(word) > 2 else word[-3:])})


def rhymes(a: str, b: str) -> bool:
    """Say whether two words rhyme (by sound; by spelling for words the dictionary lacks)."""
    a, b = a.casefold().strip("'"), b.casefold().strip("'")
    if not a or not b or a == b:
        return False
    return bool(_rhyme_parts(a) & _rhyme_parts(b))


@lru_cache(maxsize=65536)
def _endings(word: str) -> frozenset[tuple[str, str]]:
    """Return (last stressed vowel, manner of the final consonant) for each pronunciation."""
    import pronouncing

    out = set()
    for phones in pronouncing.phones_for_word(word):
        part = pronouncing.rhyming_part(phones).split()
        if not part:
            continue
        vowel = re.sub(r"\d", "", part[0])
        last = re.sub(r"\d", "", part[-1])
        manner = "" if len(part) == 1 else next(
            (str(i) for i, group in enumerate(_MANNERS) if last in group), last)
        out.add((vowel, manner))
    return frozenset(out)


def near_rhymes(a: str, b: str) -> bool:
    """Say whether two words share their last stressed vowel and a like final consonant."""
    a, b = a.casefold().strip("'"), b.casefold().strip("'")
    if not a or not b or a == b:
        return False
    return bool(_endings(a) & _endings(b))


def quality(a: str, b: str) -> float:
    """Return 1.0 for a strict rhyme of two end words, 0.5 for a near one, else 0.0."""
    if rhymes(a, b):
        return 1.0
    return 0.5 if near_rhymes(a, b) else 0.0


def rhyming_lines(lines: list[str]) -> int:
    """Count the lines whose end word rhymes with one of the RHYME_WINDOW lines before it."""
    ends = [end_word(line) for line in lines]
    return sum(any(rhymes(end, before) for before in ends[max(0, i - RHYME_WINDOW):i])
               for i, end in enumerate(ends))


def near_rhyming_lines(lines: list[str], window: int = RHYME_WINDOW) -> int:
    """Count lines whose end word rhymes, strictly or near, with one of `window` lines before."""
    ends = [end_word(line) for line in lines]
    return sum(any(quality(end, before) > 0 for before in ends[max(0, i - window):i])
               for i, end in enumerate(ends))


def has_recurring_block(text: str) -> bool:
    """Say whether a block of 2+ consecutive distinct lines comes back later in the song.

    Case and punctuation are ignored; the repeat must not overlap the first occurrence.
    """
    lines = [_normal(line) for line in lyric_lines(text)]
    seen: dict[tuple[str, str], int] = {}
    for i in range(len(lines) - 1):
        pair = (lines[i], lines[i + 1])
        if not pair[0] or pair[0] == pair[1]:
            continue
        if pair in seen and i >= seen[pair] + 2:
            return True
        seen.setdefault(pair, i)
    return False


def _p90(values: list[float]) -> float:
    if len(values) < 2:
        return float(values[0]) if values else 0.0
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


@dataclass(frozen=True)
class Style:
    songs: int
    lines_per_song: float  # mean lyric lines per song
    words_per_line: float  # mean words per lyric line
    words_per_line_p90: float
    rhyme_rate: float  # share of lyric lines rhyming with one of the 3 before
    recurring_block_rate: float  # share of songs with a recurring block of 2+ lines
    stanza_lines: float  # median lyric lines per stanza: the length of a verse or a chorus
    header_rate: float  # share of songs with [Section] headers
    near_rhyme_rate: float = 0.0  # share rhyming with one of the 3 before, near rhymes counted
    # The characters (beyond ASCII letters, digits and spaces) and line shapes the artist uses
    # (model/lyrics/habits.py); None in figures saved before they were measured: every line passes.
    characters: str | None = None
    shapes: tuple[str, ...] | None = None
    checked: tuple[str, ...] | None = None  # the shapes looked for; None: all of SHAPES
    prose_rate: float | None = None  # share of words in PROSE_WORDS; None in older figures

    def to_json(self) -> dict[str, Any]:
        """Return the figures rounded for a manifest or metrics.json."""
        return {k: round(v, 4) if isinstance(v, float) else list(v) if isinstance(v, tuple)
                else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Style:
        """Rebuild figures saved with `to_json`."""
        values = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        if values.get("shapes") is not None:
            values["shapes"] = tuple(values["shapes"])
            values["checked"] = tuple(values.get("checked") or
                                      (name for name in SHAPES if name not in ADDED_SHAPES))
        return cls(**values)


def prose_share(line: str) -> float:
    """Return the share of a line's words that are prose words (PROSE_WORDS); 0 for none."""
    found = words(line)
    return sum(w in PROSE_WORDS for w in found) / len(found) if found else 0.0


def figures(texts: Iterable[str]) -> Style:
    """Measure the style of a set of songs (or of generated lyrics)."""
    texts = [t for t in texts if lyric_lines(t)]
    per_song = [lyric_lines(t) for t in texts]
    widths = [len(words(line)) for lines in per_song for line in lines]
    all_lines = sum(len(lines) for lines in per_song)
    stanza_sizes = [len(s) for t in texts for s in stanzas(t)]
    characters, shapes = habits(line for lines in per_song for line in lines)
    return Style(
        songs=len(texts),
        lines_per_song=all_lines / len(texts) if texts else 0.0,
        words_per_line=statistics.fmean(widths) if widths else 0.0,
        words_per_line_p90=_p90([float(w) for w in widths]),
        rhyme_rate=sum(map(rhyming_lines, per_song)) / all_lines if all_lines else 0.0,
        recurring_block_rate=sum(map(has_recurring_block, texts)) / len(texts) if texts else 0.0,
        stanza_lines=statistics.median(stanza_sizes) if stanza_sizes else 4.0,
        header_rate=sum("\n[" in "\n" + t for t in texts) / len(texts) if texts else 0.0,
        near_rhyme_rate=(sum(map(near_rhyming_lines, per_song)) / all_lines if all_lines
                         else 0.0),
        characters=characters,
        shapes=shapes,
        checked=tuple(SHAPES),
        # Rounded as saved (to_json), so that figures read back are the ones measured.
        prose_rate=round(sum(w in PROSE_WORDS for lines in per_song for line in lines
                             for w in words(line)) / sum(widths), 4) if sum(widths) else 0.0,
    )


# Lyrics in general, for a model whose artist is unknown (a base model): a little under 8 words a
# line, 4-line stanzas, about a third of lines rhyming, the punctuation of a pop song.
GENERIC = Style(songs=0, lines_per_song=36.0, words_per_line=7.5, words_per_line_p90=11.0,
                rhyme_rate=0.35, recurring_block_rate=0.9, stanza_lines=4.0, header_rate=1.0,
                near_rhyme_rate=0.45, characters="!\"'(),-?", shapes=())
