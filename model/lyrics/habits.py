"""An artist's line habits: which characters and line shapes their lyrics use at all, and lines
that break them; and lines that are no lyric in anyone's song (markup, list items, code, URLs,
number lists).

A weakly tuned model still writes what its web training taught it: sentences that end in a full
stop, colons, bullet points, numbers, letter strings ("L.A.R.D") and curly quotes. A classifier
tells its stanzas from the artist's by exactly these. So the writing rules learn from the
artist's own training lyrics what they write at all, and never keep a candidate line holding a
character or a shape that fewer than `RARE` of the artist's lines hold (the composer takes
another candidate, or asks again):

- **characters**: each character other than ASCII letters, digits and spaces (punctuation,
  symbols, accented and other letters) is the artist's when at least `RARE` of their lines hold
  it. One real pop catalogue keeps `' , ( ) ? - "`; a rap one adds `! .` (never `: * ; /`).
- **shapes** (`SHAPES`): a full stop or a comma ending a line, a sentence break inside one, an
  ellipsis, digits, a string of single letters, a list item, a URL, a section name written as a
  lyric, a line in capitals, a bracket left unpaired or with a space inside it. Digits are a
  shape, not ten characters: an artist who writes numbers writes all of them. The same pop
  catalogue ends 1 line in 9,588 with a full stop; a model tuned on it for 12 steps ended 1 in
  6. None of three real catalogues ends 1 line in 300 with a comma (a lyrics site's convention:
  the line break is the pause); that model, 1 in 11.

`RARE` is 1 line in 100: a shape that rare in the artist's lines is missed by no reader when it
is never written, while a model that writes it more often is told apart by it. At 1 in 200 a rap
catalogue kept its full stops ending a line (0.6% of its lines); its model tuned for 12 steps
ended 3.9% of its lines so, the classifier's first tell. The same catalogue's sentence breaks
(0.7%) and letter strings (0.7%) go with them, and another rap catalogue's digits (0.95%) and
ellipses (0.6%). No character of the three catalogues lies between the two (the nearest, one's
`.`, is in 1.004% of its lines and stays).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

RARE = 0.01  # used in fewer than 1 line in 100: the artist "almost never" does it

_SECTIONS = r"(?:pre-?chorus|chorus|verse|bridge|intro|outro|hook|refrain|interlude)"

SHAPES: dict[str, re.Pattern[str]] = {
    "full stop at the end": re.compile(r"(?<!\.)\.[\"')]*$"),
    "comma at the end": re.compile(r",[\"')]*$"),
    "sentence break": re.compile(r"(?<!\.)\.(?!\.)[\"')]*\s+\S"),
    "ellipsis": re.compile(r"\.\.|…"),
    "digits": re.compile(r"\d"),
    "letter string": re.compile(r"\b[^\W\d_](?:[.-][^\W\d_]\b){2,}"),  # L.A.R.D, L-O-V-E
    "list item": re.compile("^(?:[-*\u2022\u00b7\u2013\u2014+>]|"
                            r"\d+[.):]|[A-Za-z][.)])\s"),
    "url": re.compile(r"https?://|www\.|\b\w+\.(?:com|org|net|io)\b", re.IGNORECASE),
    "section name": re.compile(r"^\W*" + _SECTIONS + r"(?:\s*\d+)?\s*(?:[:)\]-].*)?$",
                               re.IGNORECASE),
    "capitals": re.compile(r"^[^a-z]*\b[A-Z]{2,}\b[^a-z]*\b[A-Z]{2,}\b[^a-z]*$"),
    # An ad-lib cut off ("don't waste your soul ( toy"): 2.2% of a rap model's lines, 1 in
    # 6,400 of its artist's.
    "unpaired bracket": re.compile(r"\([^)]*$|^[^(]*\)"),
    "space inside a bracket": re.compile(r"\(\s|\s\)"),
}

# Shapes added after figures were first saved: figures that do not say which shapes they checked
# (`checked`) let these through, as figures from before habits let every line through.
ADDED_SHAPES = ("comma at the end", "unpaired bracket", "space inside a bracket")

# Lines that are no lyric, whoever the artist: what songcheck counts (target: none).
JUNK: dict[str, re.Pattern[str]] = {
    # A section name as a line, or in parentheses inside one ("grief? (Bridge) (Chorus)"): no
    # line of three real catalogues (49,000 lines) holds the second; tuned models wrote it.
    "markup": re.compile(r"[\[\]{}<>*#|_~^\\`]|" + SHAPES["section name"].pattern +
                         r"|\(\s*" + _SECTIONS + r"(?:\s*\d+)?\s*\)", re.IGNORECASE),
    "list item": SHAPES["list item"],
    "code": re.compile(r"=|;$|[a-z]\(|\(\)"),
    "url": SHAPES["url"],
    "number list": re.compile(r"%|\d[\d.,]*\s*(?:[,;/+*\u00d7=]\s*|\s+)\d"),
}


def _plain(char: str) -> bool:
    """Say whether a character is an ASCII letter, a digit or a space (always the artist's)."""
    return (char.isascii() and char.isalnum()) or char.isspace()


def shapes_of(line: str) -> set[str]:
    """Return the names of the shapes a line has."""
    return {name for name, pattern in SHAPES.items() if pattern.search(line)}


def habits(lines: Iterable[str]) -> tuple[str, tuple[str, ...]]:
    """Return the characters and the shapes that at least `RARE` of these lines hold."""
    chars: Counter[str] = Counter()
    shapes: Counter[str] = Counter()
    count = 0
    for line in lines:
        count += 1
        chars.update({c for c in line if not _plain(c)})
        shapes.update(shapes_of(line))
    least = RARE * count
    return ("".join(sorted(c for c, n in chars.items() if n >= least)),
            tuple(name for name in SHAPES if shapes[name] >= least and shapes[name]))


def unlike(line: str, characters: str | None, shapes: tuple[str, ...] | None,
           checked: Iterable[str] | None = None) -> str | None:
    """Say what in a line the artist almost never writes (a character or a shape), or None.

    `shapes` are the artist's, out of the `checked` ones (None: all of SHAPES); None habits
    (figures saved before habits were measured) let every line through.
    """
    if characters is not None:
        for char in line:
            if not _plain(char) and char not in characters:
                return repr(char)
    if shapes is not None:
        for name in sorted(shapes_of(line).intersection(SHAPES if checked is None else checked)
                           - set(shapes)):
            return name
    return None


def junk(line: str) -> str | None:
    """Say what kind of non-lyric a line is (markup, list item, code, URL, number list), or None."""
    return next((name for name, pattern in JUNK.items() if pattern.search(line)), None)
