"""What a song's line step is fed: the whole song so far, append-only.

The model is fed the song the way it saw songs in training (model/lyrics/songtext.py `format_song`,
songform.for_model): the album token line where the model knows the album, then the lyrics from
the user's opening on, every chosen line, a blank line between stanzas and `[Section]` headers
where the artist's songs have them, a refrain sung again included. A line step's prompt is the
previous step's plus the line chosen since (and, at a section boundary, the blank line and the
next header), so an engine that keeps a prompt's prefix reads only the new tokens. A prompt
never ends in a bare header after the first line: the next section starts after the last line.

Where a song outgrows the model's context (less the line's token budget), its oldest whole
stanzas are dropped, enough at once that the song grows by at least a stanza before the next
drop: the prefix changes once a stanza at most. Tokens are estimated, not counted: the worker's
thread owns the tokenizer (a fast tokenizer shared across threads fails), and the composer runs
on the event loop. The backends' `fit` still cuts a prompt that turns out too long.
"""

from __future__ import annotations

import math
import re

from model.lyrics.songform import for_model

_PIECE = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[^\w\s]|_")  # a word, or a mark (each a token at least)
TOKENS_PER_PIECE = 1.5  # BPE tokens per word, mark or newline, with room: SmolLM2 read a real
# pop catalogue at 1.13 a piece (1.32 for its densest song); rarer words take more


def estimate(text: str) -> int:
    """Return about as many tokens as `text` takes, or more (never counted with a tokenizer)."""
    return math.ceil((len(_PIECE.findall(text)) + text.count("\n")) * TOKENS_PER_PIECE)


def song_text(sections: list[tuple[str, list[str]]], label: str, lines: list[str],
              headers: bool) -> str:
    """Return the song so far, ready for the next line of section `label` (`lines` written)."""
    text = for_model([*sections, (label, lines)], headers)
    return text + "\n" if lines else text


class SongPrompt:
    """One song's line-step prompts; remembers how many early sections it no longer feeds."""

    def __init__(self) -> None:
        self.dropped = 0  # sections dropped from the front (the song outgrew the context)

    def text(self, head: str, sections: list[tuple[str, list[str]]], label: str,
             lines: list[str], headers: bool, limit: int) -> str:
        """Return the prompt for the next line: `head` (the album line), the sections from the
        first kept one, then section `label` so far; at most `limit` tokens (estimated) where
        dropping whole earlier sections can get it there."""
        text = head + song_text(sections[self.dropped:], label, lines, headers)
        # A section's first line keeps the section before it, however long (the backend's `fit`
        # cuts it): dropped too, the line would be asked after a bare header.
        keep = len(sections) - (0 if lines else 1)
        if estimate(text) <= limit or self.dropped >= keep:
            return text
        stanza = max(estimate(for_model([section], headers)) for section in sections)
        while self.dropped < keep and estimate(text) > limit - stanza:
            self.dropped += 1
            text = head + song_text(sections[self.dropped:], label, lines, headers)
        return text
