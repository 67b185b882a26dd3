"""How a song is written for the model, and how model output is turned back into clean lyrics.

A training document is one song: an optional album header token on its own line, the lyrics, then
the tokenizer's own end-of-text token (see model/serving/tokens.py). Album tokens are added
special tokens (`<|album:folklore|>`), so a prompt can ask for an album's style by starting with
one. Model output reaches `clean_output` already cut at the song's end and without special tokens
(the backends do that with the tokenizer's own list).
"""

from __future__ import annotations

import itertools
import re

SONG_CHARS = 1900  # the longest song text, unless a caller gives its own (the bot: its message's)
_ALBUM_TOKEN = re.compile(r"<\|album:[^|]*\|>")
_INLINE_HEADER = re.compile(r"(?<=[^\n])[ \t]*\[[^\]\n]{0,40}\]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffd]")  # all but newline; U+FFFD: bad bytes
# Curly quotes and primes, straightened: the corpus cleaning does it to every training song
# (training/data/cleaning.py), so a curly quote in output is the base model's web text showing.
QUOTES = {ord("\u2018"): "'", ord("\u2019"): "'", ord("\u201b"): "'", ord("\u2032"): "'",
          ord("\u201c"): '"', ord("\u201d"): '"', ord("\u201f"): '"', ord("\u2033"): '"'}


def album_token(album: str) -> str:
    """Return the special token that stands for an album's style."""
    return f"<|album:{album.strip()}|>"


def format_song(lyrics: str, album: str | None = None) -> str:
    """Write one song as a training document (without the end token)."""
    return f"{album_token(album)}\n{lyrics}" if album else lyrics


def albums_in(tokens: list[str]) -> list[str]:
    """Return the album names of the album tokens among `tokens`."""
    return [t[len("<|album:"):-2] for t in tokens if _ALBUM_TOKEN.fullmatch(t)]


def _drop_loops(lines: list[str], max_repeats: int) -> list[str]:
    kept: list[str] = []
    run = 0
    for line in lines:
        run = run + 1 if kept and line and line == kept[-1] else 1
        if run <= max_repeats:
            kept.append(line)
    return kept


def clean_output(text: str, max_lines: int | None = None, max_chars: int = SONG_CHARS) -> str:
    """Turn generated text into lyrics: drop control characters and loops, straighten quotes
    as the corpus does, cut at a line boundary to `max_lines` lyric lines and `max_chars`
    characters."""
    text = _CONTROL.sub("", text).translate(QUOTES)
    # A header the model wrote mid-line ("you can manage [Verse]") is no lyric: drop it there.
    text = _INLINE_HEADER.sub("", text)
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.split("\n")]
    lines = _drop_loops(lines, max_repeats=2)  # a chorus line may come back; not 20 times in a row
    out: list[str] = []
    lyric_lines = size = 0
    for line in lines:
        if not line and (not out or not out[-1]):
            continue  # one blank line between stanzas, none at the top
        if max_lines is not None and line and not line.startswith("[") and lyric_lines >= max_lines:
            break
        if size + len(line) + 1 > max_chars:
            break
        out.append(line)
        size += len(line) + 1
        lyric_lines += bool(line) and not line.startswith("[")
    while out and (not out[-1] or out[-1].startswith("[")):
        out.pop()
    return "\n".join(out)


def is_degenerate(text: str) -> bool:
    """Say whether text is stuck in a loop: one line 4+ times running, or a short phrase 5+."""
    lines = [line.strip().casefold() for line in text.split("\n") if line.strip()]
    run = 1
    for prev, line in itertools.pairwise(lines):
        run = run + 1 if line == prev else 1
        if run >= 4:
            return True
    words = re.findall(r"[\w']+", text.casefold())
    for n in range(1, 7):
        for start in range(len(words) - 5 * n + 1):
            phrase = words[start:start + n]
            if all(words[start + k * n:start + (k + 1) * n] == phrase for k in range(1, 5)):
                return True
    return False
