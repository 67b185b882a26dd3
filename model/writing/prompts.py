"""What the model is fed: the user's first line cleaned of special tokens, after an album line."""

from __future__ import annotations

from model.lyrics.songtext import album_token
from model.serving.protocol import Served


def user_prompt(served: Served | None, prompt: str) -> str:
    """Return the user's first line with every special token's text removed."""
    spec = served.info.spec if served else None
    return (spec.strip(prompt) if spec else prompt).strip()


def album_head(served: Served | None, album: str | None) -> str:
    """Return the album's token line when the model knows the album, else nothing."""
    albums = served.info.albums if served else []
    return f"{album_token(album)}\n" if album and album in albums else ""


def prompt_text(served: Served | None, prompt: str, album: str | None = None) -> str:
    """Return an opening as the model is fed it to continue freely (training's evaluation):
    the album token line, then the first line."""
    return album_head(served, album) + user_prompt(served, prompt)
