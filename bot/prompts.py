"""Check and tidy what users type before it reaches the model or a message."""

from __future__ import annotations

import re
import unicodedata

from bot.errors import PromptRejected

# Bidirectional overrides and isolates can make echoed text read differently than it is.
_BIDI = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"), None)
TEMPERATURE_RANGE = (0.1, 2.0)
LINES_RANGE = (1, 40)


def clean_prompt(text: str, max_chars: int) -> str:
    """Strip control and bidi characters, fold whitespace; reject empty or too long prompts."""
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


def check_temperature(value: float | None) -> float | None:
    """Refuse a temperature outside the useful range."""
    low, high = TEMPERATURE_RANGE
    if value is not None and not low <= value <= high:  # also refuses NaN
        raise PromptRejected(f"temperature must be between {low} and {high}")
    return value


def check_lines(value: int | None) -> int | None:
    """Refuse a line count outside the useful range."""
    low, high = LINES_RANGE
    if value is not None and not low <= value <= high:
        raise PromptRejected(f"lines must be between {low} and {high}")
    return value
