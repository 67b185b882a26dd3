"""What the model is fed: the user's first line cleaned of special tokens, after an album line."""

from __future__ import annotations

from typing import TYPE_CHECKING

from model.songtext import album_token

if TYPE_CHECKING:  # the composer imports this module: its Request is named for types only
    from model.backend import Served
    from model.composer import Request


def user_prompt(served: Served | None, prompt: str) -> str:
    """Return the user's first line with every special token's text removed."""
    spec = served.info.spec if served else None
    return (spec.strip(prompt) if spec else prompt).strip()


def album_head(served: Served | None, album: str | None) -> str:
    """Return the album's token line when the model knows the album, else nothing."""
    albums = served.info.albums if served else []
    return f"{album_token(album)}\n" if album and album in albums else ""


def prompt_text(served: Served | None, request: Request) -> str:
    """Return what the model is fed for a verse: the album token line, then the first line."""
    return album_head(served, request.album) + user_prompt(served, request.prompt)
