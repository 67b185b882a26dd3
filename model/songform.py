"""Song form: which sections a song has, how long each is, how candidates rank, and fitting the
song into one Discord message.

A song is written section by section (`model/composer.py`); a refrain (the chorus) is written once
and sung again word for word. The form is the artist's most common one where their lyrics have
section headers, else Verse 1, Chorus, Verse 2, Chorus, Bridge, Chorus.
"""

from __future__ import annotations

import collections
import math
import re
from collections.abc import Iterable

from model.novelty import words_of
from model.style import Style, lyric_lines, rhyming_lines

DEFAULT_FORM = ("Verse 1", "Chorus", "Verse 2", "Chorus", "Bridge", "Chorus")
REFRAINS = frozenset({"Chorus", "Pre-Chorus", "Post-Chorus"})  # written once, then repeated
WRITABLE = frozenset({"Verse", "Bridge", "Outro", *REFRAINS})  # others (Intro, Interlude) skipped
MAX_SECTIONS = 8
SECTION_STOPS = ("\n[",)  # a section ends at the next header; it is cut to its lines

# Ranking weights. A candidate's mean token log-probability is around -2 to -4 per token; these
# make a style difference of one standard "step" worth about half a nat.
WEIGHT_WIDTH = 1.5  # per unit of relative distance from the artist's words per line
WEIGHT_RHYME = 1.0  # per share of lines rhyming with one of the 3 before
WEIGHT_DRIFT = 3.0  # per share of lines far past the artist's p90 (drifting into prose)
DRIFT_FACTOR = 1.5  # "far past": longer than 1.5 x the artist's p90 words per line


def kind(label: str) -> str:
    """Return a section label without its number: 'Verse 2' -> 'Verse'."""
    return re.sub(r"\s+\d+$", "", label.strip("[] "))


def common_form(texts: Iterable[str]) -> tuple[str, ...] | None:
    """Return the artist's most common section sequence, numbered, when their lyrics have headers.

    Only forms whose chorus comes back count (a song, not a verse with a hook), and at least two
    songs must share one; consecutive repeats of one header fold into one section.
    """
    forms: collections.Counter[tuple[str, ...]] = collections.Counter()
    for text in texts:
        headers = [kind(line) for line in text.split("\n") if line.startswith("[")]
        sequence = [h for h in headers if h in WRITABLE]
        folded = tuple(h for i, h in enumerate(sequence) if i == 0 or h != sequence[i - 1])
        if folded.count("Chorus") >= 2 and len(folded) <= MAX_SECTIONS:
            forms[folded] += 1
    if not forms:
        return None
    form, count = forms.most_common(1)[0]
    if count < 2:
        return None
    verses = iter(range(1, MAX_SECTIONS + 1))
    return tuple(f"Verse {next(verses)}" if k == "Verse" else k for k in form)


def section_lines(label: str, style: Style) -> int:
    """Return how many lines to write for a section: the artist's usual stanza, shorter bridges."""
    stanza = min(8, max(2, round(style.stanza_lines)))
    return max(2, stanza // 2) if kind(label) in ("Bridge", "Outro", "Pre-Chorus") else stanza


def token_budget(lines: int, style: Style) -> int:
    """Return enough new tokens for `lines` lines of the artist's longer lines, and a margin."""
    return min(200, math.ceil(lines * (style.words_per_line_p90 + 2) * 1.5) + 8)


def score(text: str, mean_logprob: float | None, artist: Style) -> float:
    """Rank a candidate: likely under the model, line length like the artist's, rhyming, not
    drifting into prose. Higher is better."""
    lines = lyric_lines(text)
    if not lines:
        return -math.inf
    widths = [len(words_of(line)) for line in lines]
    mean_width = sum(widths) / len(widths)
    distance = abs(mean_width - artist.words_per_line) / max(artist.words_per_line, 1.0)
    drift = sum(w > DRIFT_FACTOR * artist.words_per_line_p90 for w in widths) / len(widths)
    rhyme = rhyming_lines(lines) / len(lines)
    return ((mean_logprob or 0.0) - WEIGHT_WIDTH * distance + WEIGHT_RHYME * rhyme
            - WEIGHT_DRIFT * drift)


def for_model(sections: list[tuple[str, list[str]]], headers: bool) -> str:
    """Write the song so far the way the model saw songs in training (headers only if it did)."""
    blocks = [(f"[{kind(label)}]\n" if headers else "") + "\n".join(lines)
              for label, lines in sections]
    return "\n\n".join(blocks)


def render(sections: list[tuple[str, list[str]]], max_chars: int) -> str:
    """Write the song for people, with labels; shorten verses (never a refrain) to fit."""
    sections = [(label, list(lines)) for label, lines in sections]

    def text() -> str:
        return "\n\n".join(f"[{label}]\n" + "\n".join(lines) for label, lines in sections if lines)

    while len(text()) > max_chars:
        cuttable = [lines for label, lines in sections if kind(label) not in REFRAINS
                    and len(lines) > 1]
        if not cuttable:
            break
        max(cuttable, key=len).pop()  # the longest verse loses its last line
    while len(text()) > max_chars and len(sections) > 1:
        sections.pop()  # still too long (giant refrains): end the song a section early
    return text()
