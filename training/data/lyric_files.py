"""Read lyrics files users already have into the song cache.

Four kinds:
- lyricsgenius `save_lyrics()` JSON exports, in the artist shape (`songs[]`) and the album shape
  (`tracks[].song`);
- a JSON list of songs: objects with a title and lyrics (text, or a list of lines) and optionally
  an album and an artist, either plain or in the shape of the Mac Miller dataset (`metadata`
  holds the title and `album_title`; `annotations` give sections as line ranges, which become
  inline `[Section]` headers so that song form is learned);
- CSV (or tab- or semicolon-separated) files whose header row names the title, lyrics and
  optionally album, artist and release date columns, in any case and order;
- plain `.txt` files, one song each, titled by the file name.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.data.song_cache import Song, SongCache
from training.errors import TrainingError


@dataclass
class ImportReport:
    imported: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # title or file, reason

    def summary(self) -> str:
        """Return the one-line count of what happened."""
        return f"{len(self.imported)} songs imported, {len(self.skipped)} skipped"


def read_export(path: Path, artist: str | None = None,
                default_artist: str | None = None) -> list[Song]:
    """Read a lyricsgenius JSON export (artist or album shape) or a JSON list of songs."""
    data = _load_json(path)
    if isinstance(data, dict) and isinstance(data.get("tracks"), list):  # an album
        album = data.get("name")
        album_artist = artist or _name(data.get("artist")) or default_artist
        bodies = [(t.get("song") or {}) for t in data["tracks"] if isinstance(t, dict)]
        return [_song_from_body(b, album_artist, path, album, data.get("release_date"))
                for b in bodies]
    if isinstance(data, dict) and isinstance(data.get("songs"), list):  # an artist
        return [_song_from_body(b, artist or data.get("name") or default_artist, path)
                for b in data["songs"] if isinstance(b, dict)]
    if isinstance(data, list):  # a list of songs
        songs = []
        for number, item in enumerate(data, 1):
            if not isinstance(item, dict):
                raise TrainingError(f"{path}: song {number} of the list is not an object "
                                    "with a title and lyrics")
            songs.append(_song_from_body(item, artist, path, number=number,
                                         default_artist=default_artist))
        return songs
    raise TrainingError(f"{path} is not a lyricsgenius export or a list of songs: expected "
                        "'songs', 'tracks' or a JSON list")


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        raise TrainingError(f"{path} is not UTF-8 text (bad byte at {e.start})") from e
    except json.JSONDecodeError as e:
        raise TrainingError(f"{path} is not valid JSON: {e.msg} (line {e.lineno})") from e


def _name(value: Any) -> str | None:
    """Return a name given as text or as an object with a "name" (anything else: None)."""
    value = value.get("name") if isinstance(value, dict) else value
    return value.strip() or None if isinstance(value, str) else None


def _song_from_body(body: dict[str, Any], artist: str | None, path: Path,
                    album: str | None = None, album_date: str | None = None,
                    number: int | None = None, default_artist: str | None = None) -> Song:
    """Make a song of a lyricsgenius song body, a plain object or a Mac Miller dataset entry."""
    meta = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    title = str(body.get("title") or body.get("full_title") or meta.get("title") or "").strip()
    artist = (artist or _name(body.get("artist")) or _name(body.get("primary_artist"))
              or _name(meta.get("artist")) or default_artist)
    if not artist:
        raise TrainingError(f"{path}: cannot tell the artist; pass --artist")
    where = f"{path}: song {number}" if number else f"{path}: {title!r}"
    lyrics = _lyrics(body.get("lyrics"), body.get("annotations"), where)
    album = (_name(body.get("album")) or _name(body.get("album_title"))
             or _name(meta.get("album_title")) or album)
    genius_id = body.get("id")
    if isinstance(genius_id, int):
        song_id = f"genius-{genius_id}"
    elif number is not None:  # a list of songs: two songs may share a title on two albums
        song_id = _local_id(artist, title, album or "")
    else:
        song_id = _local_id(artist, title)
    return Song(
        id=song_id, title=title, artist=artist, lyrics=lyrics, album=album,
        release_date=iso_date(body.get("release_date") or meta.get("release_date")
                              or body.get("year")) or album_date,
        url=body.get("url") if isinstance(body.get("url"), str) else None,
        source=f"import:{path.name}",
    )


def _lyrics(value: Any, annotations: Any, where: str) -> str:
    """Return lyrics given as text or as a list of lines, with annotated sections as headers."""
    if value is None or isinstance(value, str):
        return value or ""
    if not isinstance(value, list) or not all(isinstance(line, str) for line in value):
        raise TrainingError(f"{where}: lyrics must be text or a list of lines")
    if isinstance(annotations, list):
        value = with_section_headers(value, annotations)
    return "\n".join(value)


def with_section_headers(lines: list[str], annotations: list[Any]) -> list[str]:
    """Turn sections given as line ranges ({"section", "start", "end"}) into inline headers.

    A section's name goes before its first line as `[name]` and a blank line after its last, so
    the corpus step sees stanzas and headers as in any Genius text. A section with no lines
    (`[Instrumental Break]`) gives no header: it would name the lines after it, which no section
    claims. Ranges are clamped to the song.
    """
    starts: dict[int, list[str]] = {}
    ends: set[int] = set()
    for note in annotations:
        if not isinstance(note, dict) or not isinstance(note.get("section"), str):
            continue
        start, end = note.get("start"), note.get("end")
        if not isinstance(start, int):
            continue
        # Names come as "Verse 1: Name"; a few hold a note ("Intro: [?]"), or a stray "]" and a
        # scrap of a lyric after it ("Hook] and then").
        label = re.sub(r"\[[^\[\]]*\]", "", note["section"])
        label = label.split("]")[0].replace("[", "").strip()
        start = min(max(start, 0), len(lines))
        end = min(max(end, start), len(lines)) if isinstance(end, int) else None
        if label and end != start:
            starts.setdefault(start, []).append(label)
        if end is not None:
            ends.add(end)
    out: list[str] = []
    for i in range(len(lines) + 1):
        if i in starts or i in ends:
            out.append("")
        out.extend(f"[{label}]" for label in starts.get(i, ()))
        if i < len(lines):
            out.append(lines[i])
    return out


def iso_date(value: Any) -> str | None:
    """Return a release date as ISO text ("2016-07-28", "2016-07" or "2016"), or None.

    Takes ISO dates, years, and "28-07-2016" (day first, as the Mac Miller dataset writes
    them); of anything else that holds a four-digit year, the year.
    """
    if isinstance(value, int) and 1000 <= value <= 9999:
        return str(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if match := re.fullmatch(r"\d{4}(?:-\d{2}(?:-\d{2})?)?", text[:10]):
        return match.group(0)
    if match := re.fullmatch(r"(\d{1,2})[-.](\d{1,2})[-.](\d{4})", text):
        day, month, year = match.groups()
        return f"{year}-{int(month):02d}-{int(day):02d}"
    match = re.search(r"\b(\d{4})\b", text)
    return match.group(1) if match else None


def _local_id(artist: str, title: str, *more: str) -> str:
    key = "\0".join([artist, title, *(m for m in more if m)])
    digest = hashlib.sha256(key.casefold().encode()).hexdigest()
    return f"txt-{digest[:16]}"


# What a CSV header may call each column: compared case-folded, with "_", "-" and runs of
# spaces alike ("Song_Title" is "song title").
_COLUMNS = {
    "title": ("title", "song", "song title", "song name", "name", "track", "track title",
              "track name"),
    "lyrics": ("lyrics", "lyric", "song lyrics", "text", "words"),
    "album": ("album", "album title", "album name", "record"),
    "artist": ("artist", "artist name", "artists", "primary artist", "performer", "singer"),
    "release_date": ("release date", "released", "date", "year"),
}


def read_table(path: Path, artist: str | None, default_artist: str) -> list[Song]:
    """Read a CSV file whose header row names its title and lyrics (and album, artist) columns."""
    text = _read_text(path)
    header_line = text.partition("\n")[0]
    # The separator is whichever of comma, tab and semicolon the header row uses most.
    delimiter = max(",\t;", key=header_line.count)
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(rows, [])
        columns = _find_columns(header, path)
        songs = []
        for row in rows:
            if any(cell.strip() for cell in row):
                songs.append(_song_from_row(row, columns, path, artist, default_artist))
    except csv.Error as e:  # an unclosed quote, a stray one after a closing quote
        raise TrainingError(f"{path}: line {rows.line_num}: {e}") from e
    return songs


def _find_columns(header: list[str], path: Path) -> dict[str, int]:
    names = [re.sub(r"[\s_-]+", " ", cell.strip().casefold()) for cell in header]
    columns = {}
    for role, aliases in _COLUMNS.items():
        found = [i for i, name in enumerate(names) if name in aliases]
        if found:
            columns[role] = found[0]
    missing = [role for role in ("title", "lyrics") if role not in columns]
    if missing:
        found = ", ".join(repr(cell) for cell in header if cell.strip()) or "none"
        raise TrainingError(f"{path}: the header row names no {' or '.join(missing)} column "
                            f"(found: {found}); name them title, lyrics and album "
                            "(artist optional)")
    return columns


def _song_from_row(row: list[str], columns: dict[str, int], path: Path, artist: str | None,
                   default_artist: str) -> Song:
    def cell(role: str) -> str:
        i = columns.get(role)
        return row[i] if i is not None and i < len(row) else ""

    title = cell("title").strip()
    album = cell("album").strip() or None
    artist = artist or cell("artist").strip() or default_artist
    return Song(id=_local_id(artist, title, album or ""), title=title, artist=artist,
                lyrics=cell("lyrics"), album=album, release_date=iso_date(cell("release_date")),
                source=f"import:{path.name}")


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise TrainingError(f"{path} is not UTF-8 text (bad byte at {e.start}); "
                            "re-save it as UTF-8") from e


def read_text_file(path: Path, artist: str, album: str | None = None) -> Song:
    """Read one song from a .txt file; the title is the file name without a track number."""
    lyrics = _read_text(path)
    title = re.sub(r"^\d+\s*[-._ ]\s*", "", path.stem).strip() or path.stem
    return Song(id=_local_id(artist, title), title=title, artist=artist, lyrics=lyrics,
                album=album, source=f"import:{path.name}")


_SUFFIXES = (".json", ".csv", ".tsv", ".txt")


def find_files(paths: list[Path]) -> list[Path]:
    """Expand folders into the lyrics files inside them, sorted; refuse what is missing."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in _SUFFIXES)
            if not found:
                raise TrainingError(f"{path} holds no .json, .csv or .txt files")
            files.extend(found)
        elif path.is_file():
            if path.suffix.lower() not in _SUFFIXES:
                raise TrainingError(f"{path}: expected a .json export or list of songs, a .csv "
                                    "file or a .txt file")
            files.append(path)
        else:
            raise TrainingError(f"{path} does not exist")
    return files


def read_songs(paths: list[Path], artist: str | None, default_artist: str,
               album: str | None = None) -> list[Song]:
    """Read every song from the given files and folders (all of them, or an error).

    `artist` overrides what files say; songs whose file says nothing get it or `default_artist`.
    """
    songs: list[Song] = []
    for path in find_files(paths):
        if path.suffix.lower() == ".json":
            songs.extend(read_export(path, artist, default_artist))
        elif path.suffix.lower() in (".csv", ".tsv"):
            songs.extend(read_table(path, artist, default_artist))
        else:
            songs.append(read_text_file(path, artist or default_artist, album))
    return songs


def import_songs(songs: list[Song], cache_for: Callable[[str], SongCache]) -> ImportReport:
    """Store songs in their artists' caches; songs without lyrics are skipped and reported."""
    report = ImportReport()
    stored: set[tuple[str, str]] = set()
    for song in songs:
        if not song.title:
            report.skipped.append((song.source, "a song with no title"))
        elif not song.lyrics.strip():
            report.skipped.append((song.title, "no lyrics"))
        elif (song.artist, song.id) in stored:  # one file would overwrite the other's song
            report.skipped.append((song.title, "listed twice (same title and album); the "
                                   "first is kept"))
        else:
            stored.add((song.artist, song.id))
            cache_for(song.artist).put(song)
            report.imported.append(song.title)
    return report
