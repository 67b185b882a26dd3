"""Song form: which sections a song has, how long each is, how long a line may run, and fitting
the song into one message of a given length (the caller's: the bot passes Discord's).

A song is written line by line, section by section (`model/writing/composer.py`); a refrain (the
chorus) is written once and sung again word for word. The form is the artist's most common
one where their lyrics have section headers, else Verse 1, Chorus, Verse 2, Chorus, Bridge, Chorus.
"""

from __future__ import annotations

import collections
import math
import re
from collections.abc import Iterable

from model.lyrics.style import Style

DEFAULT_FORM = ("Verse 1", "Chorus", "Verse 2", "Chorus", "Bridge", "Chorus")
REFRAINS = frozenset({"Chorus", "Pre-Chorus", "Post-Chorus"})  # written once, then repeated
WRITABLE = frozenset({"Verse", "Bridge", "Outro", *REFRAINS})  # others (Intro, Interlude) skipped
MAX_SECTIONS = 8

LINE_SLACK = 1.3  # a line may run 30% past the artist's p90 words before its budget ends it
TOKENS_PER_WORD = 1.3  # BPE tokens per lyric word, punctuation and newline included (1.28
# measured with SmolLM2's tokenizer on the second example catalogue)
LONGEST_SECTION = 12  # lines: longer verses read as two


def kind(label: str) -> str:
    """Return a section label without its number: 'Verse 2' -> 'Verse'."""
    return re.sub(r"\s+\d+$", "", label.strip("[] "))


def common_form(texts: Iterable[str]) -> tuple[str, ...] | None:
    """Return the artist's most common section sequence, numbered, when their lyrics have headers.

    Only forms whose chorus comes back count (a song, not a verse with a hook), and at least two
    songs must share one; consecutive repeats of one header fold into one section. Lines before
    the first header are a verse: real songs often open with no header and label the rest.
    """
    forms: collections.Counter[tuple[str, ...]] = collections.Counter()
    for text in texts:
        lines = [line for line in text.split("\n") if line.strip()]
        headers = [kind(line) for line in lines if line.startswith("[")]
        if headers and not lines[0].startswith("["):
            headers.insert(0, "Verse")
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


def line_budget(style: Style) -> int:
    """Return the new tokens one line step may take: the artist's p90 words, 30% more, and two
    (the newline and a spare). A step's batch runs as long as its longest line, so every token
    of slack is paid by every line of the batch."""
    return math.ceil(style.words_per_line_p90 * LINE_SLACK * TOKENS_PER_WORD) + 2


def message_lines(form: tuple[str, ...], style: Style, max_chars: int) -> float:
    """Return about how many of the artist's lines one message of `max_chars` holds."""
    line_chars = style.words_per_line * 5.3 + 1  # letters, spaces and the newline
    return (max_chars - sum(len(label) + 4 for label in form)) / max(line_chars, 1.0)


def song_lengths(form: tuple[str, ...], style: Style, max_chars: int) -> list[int]:
    """Return each section's lines: the artist's stanzas, grown (in steps of two lines) toward
    the artist's lines per song, but no further than one message of `max_chars` holds."""
    lengths = [section_lines(label, style) for label in form]
    target = min(style.lines_per_song, message_lines(form, style, max_chars))
    if sum(lengths) >= target:
        return lengths
    factor = target / sum(lengths)
    return [min(LONGEST_SECTION, max(n, 2 * math.floor(n * factor / 2))) for n in lengths]


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
