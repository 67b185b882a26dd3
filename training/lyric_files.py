"""Read lyrics files users already have into the song cache.

Two kinds: lyricsgenius `save_lyrics()` JSON exports, in the artist shape (`songs[]`) and the
album shape (`tracks[].song`), and plain `.txt` files, one song each, titled by the file name.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.errors import TrainingError
from training.songs import Song, SongCache


@dataclass
class ImportReport:
    imported: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # title or file, reason

    def summary(self) -> str:
        """Return the one-line count of what happened."""
        return f"{len(self.imported)} songs imported, {len(self.skipped)} skipped"


def read_export(path: Path, artist: str | None = None) -> list[Song]:
    """Read a lyricsgenius JSON export (artist or album shape) into songs."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise TrainingError(f"{path} is not UTF-8 text (bad byte at {e.start})") from e
    except json.JSONDecodeError as e:
        raise TrainingError(f"{path} is not valid JSON: {e.msg} (line {e.lineno})") from e
    if isinstance(data, dict) and isinstance(data.get("tracks"), list):  # an album
        album = data.get("name")
        album_artist = artist or _name(data.get("artist"))
        bodies = [(t.get("song") or {}) for t in data["tracks"] if isinstance(t, dict)]
        return [_song_from_body(b, album_artist, path, album, data.get("release_date"))
                for b in bodies]
    if isinstance(data, dict) and isinstance(data.get("songs"), list):  # an artist
        return [_song_from_body(b, artist or data.get("name"), path) for b in data["songs"]
                if isinstance(b, dict)]
    raise TrainingError(f"{path} is not a lyricsgenius export: expected 'songs' or 'tracks'")


def _name(value: Any) -> str | None:
    return value.get("name") if isinstance(value, dict) else value


def _song_from_body(body: dict[str, Any], artist: str | None, path: Path,
                    album: str | None = None, album_date: str | None = None) -> Song:
    title = str(body.get("title") or body.get("full_title") or "").strip()
    artist = artist or _name(body.get("artist")) or _name(body.get("primary_artist"))
    if not artist:
        raise TrainingError(f"{path}: cannot tell the artist; pass --artist")
    genius_id = body.get("id")
    song_id = f"genius-{genius_id}" if isinstance(genius_id, int) else _local_id(artist, title)
    return Song(
        id=song_id, title=title, artist=artist, lyrics=str(body.get("lyrics") or ""),
        album=_name(body.get("album")) or album,
        release_date=body.get("release_date") or album_date, url=body.get("url"),
        source=f"import:{path.name}",
    )


def _local_id(artist: str, title: str) -> str:
    digest = hashlib.sha256(f"{artist}\0{title}".casefold().encode()).hexdigest()
    return f"txt-{digest[:16]}"


def read_text_file(path: Path, artist: str, album: str | None = None) -> Song:
    """Read one song from a .txt file; the title is the file name without a track number."""
    try:
        lyrics = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise TrainingError(f"{path} is not UTF-8 text (bad byte at {e.start}); "
                            "re-save it as UTF-8") from e
    title = re.sub(r"^\d+\s*[-._ ]\s*", "", path.stem).strip() or path.stem
    return Song(id=_local_id(artist, title), title=title, artist=artist, lyrics=lyrics,
                album=album, source=f"import:{path.name}")


def find_files(paths: list[Path]) -> list[Path]:
    """Expand folders into the .json and .txt files inside them, sorted; refuse what is missing."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in (".json", ".txt"))
            if not found:
                raise TrainingError(f"{path} holds no .json or .txt files")
            files.extend(found)
        elif path.is_file():
            if path.suffix.lower() not in (".json", ".txt"):
                raise TrainingError(f"{path}: expected a .json export or a .txt file")
            files.append(path)
        else:
            raise TrainingError(f"{path} does not exist")
    return files


def read_songs(paths: list[Path], artist: str | None, default_artist: str,
               album: str | None = None) -> list[Song]:
    """Read every song from the given files and folders (all of them, or an error).

    `artist` overrides what exports say; .txt files, which say nothing, get it or `default_artist`.
    """
    songs: list[Song] = []
    for path in find_files(paths):
        if path.suffix.lower() == ".json":
            songs.extend(read_export(path, artist))
        else:
            songs.append(read_text_file(path, artist or default_artist, album))
    return songs


def import_songs(songs: list[Song], cache_for: Callable[[str], SongCache]) -> ImportReport:
    """Store songs in their artists' caches; songs without lyrics are skipped and reported."""
    report = ImportReport()
    for song in songs:
        if not song.title:
            report.skipped.append((song.source, "a song with no title"))
        elif not song.lyrics.strip():
            report.skipped.append((song.title, "no lyrics"))
        else:
            cache_for(song.artist).put(song)
            report.imported.append(song.title)
    return report
