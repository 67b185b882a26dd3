"""What a caller (the bot, the web, `training generate` and `evaluate`) asks the writing rules
for: one `Request`, answered by a `Composer` (model/writing/composer.py)."""

from __future__ import annotations

from dataclasses import dataclass

from model.writing.lines import Refuse

FORMS = ("verse", "song")  # one stanza, or a whole song in labelled sections


@dataclass(frozen=True)
class Request:
    prompt: str  # the first line, as the user typed it (after the bot's own checks)
    album: str | None = None  # an album whose style to ask for (ignored if the model lacks it)
    temperature: float | None = None  # None: the model's default
    lines: int | None = None  # a verse's lines, the user's own included (None: the artist's
    # usual stanza); a song takes the artist's form and stanza lengths
    form: str = "verse"  # "verse": one stanza; "song": labelled sections
    greedy: bool = False  # argmax decoding: repeatable output (tests, comparisons)
    n: int = 1  # how many verses or songs, written side by side
    refuse: Refuse | None = None  # a line it refuses is never kept (the room's word filter)
