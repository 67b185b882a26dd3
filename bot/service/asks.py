"""What a request for lyrics may hold, declared once for the web API and the slash commands.

`read_ask` checks every field before anything else happens: text is bounded before it is
cleaned or logged, numbers are numbers of the right kind and in range (no 0 that quietly becomes
1, no fraction that is truncated, no Infinity or 10**400 that overflows SQLite), and every
error names the field as the caller spelled it. Discord's option ranges are built from the same
constants, but Discord's checks are a courtesy: these are the ones that count.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from bot.errors import PromptRejected, UnknownArtist
from model.registry.runs import slug
from model.writing.request import FORMS

TEMPERATURE = (0.1, 2.0)  # below, every song is the same; above, words fall apart
LINES = (1, 40)  # lyric lines a song is cut to
SONGS = (1, 3)  # songs one web request may ask for (`n`, or `num` in the seed's API)
HISTORY = (1, 20)  # songs /history lists
RECENT = (1, 50)  # songs /api/recent lists
ALBUM_MAX_CHARS = 100  # Discord's longest choice value; no album name is longer
RAW_PROMPT_FACTOR = 4  # text over 4x the prompt limit is refused before it is even cleaned
EXCERPT_CHARS = 300  # what the log keeps of a refused prompt
# Bidirectional overrides and isolates can make echoed text read differently than it is.
_BIDI = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"), None)
_WHOLE = re.compile(r"\s*[+-]?\d{1,12}\s*")
_DECIMAL = re.compile(r"\s*[+-]?(\d{1,12}(\.\d{0,12})?|\.\d{1,12})\s*")
N = TypeVar("N", int, float)  # a field's number: whole or not


@dataclass(frozen=True)
class Who:
    source: str  # "discord" or "web"
    user_id: str  # a Discord user id, or "web:<client address>"
    user_name: str | None = None
    guild_id: str | None = None
    channel_id: str | None = None
    explicit_ok: bool = False  # the room allows explicit lyrics (an age-restricted channel of a
    # server whose admins allow them); slurs are refused everywhere


@dataclass(frozen=True)
class Ask:
    who: Who
    prompt: str  # cleaned; for a refused request, a bounded excerpt of what was sent
    album: str | None = None
    temperature: float | None = None
    lines: int | None = None
    form: str = "verse"
    artist: str | None = None  # one of the served artists, as configured; None only if refused


class Refused(PromptRejected):
    """A request with a field that is missing, of the wrong kind or out of range.

    `ask` holds what may be logged of it: an excerpt of the prompt and the fields that passed.
    """

    def __init__(self, message: str, ask: Ask) -> None:
        super().__init__(message)
        self.ask = ask


def excerpt(value: Any) -> str:
    """Return a bounded piece of what was sent as a prompt, fit for the log."""
    text = value if isinstance(value, str) else "" if value is None else repr(value)
    return text[:EXCERPT_CHARS]


def clean_prompt(text: str, max_chars: int) -> str:
    """Strip control and bidi characters, fold whitespace; reject empty or too long prompts."""
    if len(text) > max_chars * RAW_PROMPT_FACTOR:  # before any work on it
        raise PromptRejected(f"the prompt is too long ({len(text)} characters; at most "
                             f"{max_chars}): give just a first line")
    text = text.translate(_BIDI)
    # Cc: control characters; Cf: invisible format marks; Cs: lone surrogates (valid in JSON
    # as "\ud800", but not text: the tokenizer refuses them).
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf", "Cs")
                   or ch in "\n\t")
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        raise PromptRejected("the prompt is empty: type the first line of a song")
    if len(text) > max_chars:
        raise PromptRejected(f"the prompt is too long ({len(text)} characters; at most "
                             f"{max_chars}): give just a first line")
    return text


def in_range(number: N | None, name: str, bounds: tuple[N, N], kind: str) -> N:
    """Return `number` if it lies within `bounds`; refuse it (None: not a `kind` at all)."""
    low, high = bounds
    if number is None:
        raise PromptRejected(f"{name} must be {kind} from {low} to {high}")
    if not low <= number <= high:
        raise PromptRejected(f"{name} must be between {low} and {high}")
    return number


def whole_number(value: Any, name: str, bounds: tuple[int, int]) -> int | None:
    """Return `value` as an int within `bounds` (None if absent); refuse anything else."""
    if value is None or value == "":
        return None
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif (isinstance(value, float) and math.isfinite(value) and value.is_integer()) or (
            isinstance(value, str) and _WHOLE.fullmatch(value)):
        number = int(value)
    return in_range(number, name, bounds, "a whole number")


def decimal(value: Any, name: str, bounds: tuple[float, float]) -> float | None:
    """Return `value` as a finite float within `bounds` (None if absent); refuse anything else."""
    if value is None or value == "":
        return None
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value) if math.isfinite(value) else None
    elif isinstance(value, str) and _DECIMAL.fullmatch(value):
        number = float(value)
    return in_range(number, name, bounds, "a number")


def served_artist(value: Any, artists: Sequence[str], name: str = "artist") -> str:
    """Return the served artist `value` names (its name in any case, or its slug); the first
    served artist when it is absent; raise UnknownArtist for any other, naming the ones served.
    Every lookup of an artist by what a user typed goes through here."""
    if value is None or value == "":
        return artists[0]
    if isinstance(value, str):
        wanted = value.strip().casefold()
        for artist in artists:
            if wanted in (artist.casefold(), slug(artist)):
                return artist
    raise UnknownArtist(f"unknown {name} {excerpt(value)[:100]!r}; this bot writes as "
                        f"{', '.join(artists)}")


def read_ask(who: Who, fields: Mapping[str, Any], prompt_max_chars: int,
             names: Mapping[str, str] | None = None,
             artists: Sequence[str] = ("",)) -> tuple[Ask, int]:
    """Check `fields` (artist?, prompt, album?, temperature?, lines?, form?, n?) into an Ask
    and a count. `artists` are the served ones, the default first.

    `names` maps a field to what the caller calls it (the seed's API says `num` for `n`).
    Raises Refused with the first problem and what may be logged of the request.
    """
    names = names or {}
    raw = fields.get("prompt")
    checked: dict[str, Any] = {}
    try:
        checked["artist"] = served_artist(fields.get("artist"), artists,
                                          names.get("artist", "artist"))
        if raw is None or raw == "":
            raise PromptRejected(f"{names.get('prompt', 'prompt')} is required: the first line "
                                 "of a song")
        if not isinstance(raw, str):
            raise PromptRejected(f"{names.get('prompt', 'prompt')} must be text")
        prompt = clean_prompt(raw, prompt_max_chars)
        album = fields.get("album") or None
        if album is not None and (not isinstance(album, str) or len(album) > ALBUM_MAX_CHARS):
            raise PromptRejected(f"{names.get('album', 'album')} must be an album name")
        checked["album"] = album
        checked["temperature"] = decimal(fields.get("temperature"),
                                         names.get("temperature", "temperature"), TEMPERATURE)
        checked["lines"] = whole_number(fields.get("lines"), names.get("lines", "lines"), LINES)
        form = fields.get("form") or "verse"
        if form not in FORMS:
            raise PromptRejected(f"{names.get('form', 'form')} must be one of "
                                 f"{', '.join(FORMS)}")
        checked["form"] = form
        songs = whole_number(fields.get("n"), names.get("n", "n"), SONGS) or 1
    except PromptRejected as e:
        raise Refused(str(e), Ask(who, excerpt(raw), **checked)) from None
    return Ask(who, prompt, **checked), songs
