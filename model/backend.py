"""What the worker needs from a model: a batch of requests in, raw texts out.

The Hugging Face `Generator` is one backend; a CTranslate2 one can sit beside it. A backend is
used by one thread at a time (the worker's), and raises `BadRequest` from `check` for a request
it cannot serve, so that one bad request never fails a batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Request:
    prompt: str  # the first line, as the user typed it
    album: str | None = None  # an album whose style to ask for (ignored if the model lacks it)
    temperature: float | None = None  # None: the model's default
    lines: int | None = None  # cut the song to this many lyric lines
    max_new_tokens: int | None = None  # None: the model's default
    min_new_tokens: int | None = None  # benchmarks force a fixed amount of work


class Backend(Protocol):
    model_id: str
    albums: list[str]

    def check(self, request: Request) -> None:
        """Raise BadRequest if this request cannot be generated."""

    def generate_raw(self, requests: list[Request]) -> list[str]:
        """Return each request's continuation (special tokens kept, prompt not included)."""
