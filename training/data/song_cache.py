"""The raw song cache: one JSON file per song under `data/raw/<artist-slug>/songs/`.

Every source (Genius download, lyricsgenius exports, folders of .txt files) writes the same
`Song` record here, so the corpus step does not care where a song came from. A file exists only
once its song is complete: writes are atomic and a song is never stored with empty lyrics.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from model.registry.files import write_json_atomic
from training.errors import TrainingError


@dataclass(frozen=True)
class Song:
    id: str  # "genius-<n>" for Genius songs, "txt-<hash>" for songs without a Genius id
    title: str
    artist: str
    lyrics: str  # as downloaded: junk and all; cleaning happens in the corpus step
    album: str | None = None
    release_date: str | None = None  # ISO "YYYY-MM-DD" (or "YYYY" when only the year is known)
    url: str | None = None
    source: str = "genius"  # "genius", or "import:<file name>"

    @property
    def year(self) -> int | None:
        """Return the release year, if known."""
        match = re.match(r"(\d{4})", self.release_date or "")
        return int(match.group(1)) if match else None


class SongCache:
    """The cached songs of one artist, one file each."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.songs_dir = folder / "songs"
        self.listing_path = folder / "listing.json"

    def has(self, song_id: str) -> bool:
        """Say whether a song is already cached."""
        return self._path(song_id).exists()

    def put(self, song: Song) -> None:
        """Store one song atomically; refuse a song without lyrics."""
        if not song.lyrics.strip():
            raise ValueError(f"refusing to cache {song.title!r}: its lyrics are empty")
        write_json_atomic(self._path(song.id), asdict(song))

    def songs(self) -> list[Song]:
        """Load every cached song, in file-name order; name the file of any broken one."""
        if not self.songs_dir.is_dir():
            return []
        songs = []
        for path in sorted(self.songs_dir.glob("*.json")):
            songs.append(_read_song(path))
        return songs

    def read_listing(self) -> dict[str, Any] | None:
        """Return the saved artist listing from Genius, if there is one."""
        if not self.listing_path.exists():
            return None
        return _read_json(self.listing_path)

    def write_listing(self, listing: dict[str, Any]) -> None:
        """Save the artist listing atomically."""
        write_json_atomic(self.listing_path, listing)

    def _path(self, song_id: str) -> Path:
        if not re.fullmatch(r"[A-Za-z0-9_-]+", song_id):
            raise ValueError(f"bad song id {song_id!r}")
        return self.songs_dir / f"{song_id}.json"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise TrainingError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start})") from e
    except json.JSONDecodeError as e:
        raise TrainingError(f"{path} is not valid JSON: {e.msg} (line {e.lineno})") from e


def _read_song(path: Path) -> Song:
    data = _read_json(path)
    fields = Song.__dataclass_fields__
    if not isinstance(data, dict) or not {"id", "title", "artist", "lyrics"} <= data.keys():
        raise TrainingError(f"{path} is not a song record (needs id, title, artist, lyrics)")
    song = Song(**{k: v for k, v in data.items() if k in fields})
    if not isinstance(song.lyrics, str) or not song.lyrics.strip():
        raise TrainingError(f"{path} has no lyrics; delete it and fetch or import the song again")
    return song
