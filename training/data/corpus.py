"""Build the training corpus: clean every cached song, drop non-songs, collapse versions, split.

Output folder (written as one atomic swap, see `model.registry.files.swap_dir`):
  train.jsonl, val.jsonl  one song per line: id, title, album, year, lyrics
  manifest.json           counts, content hash, and every dropped or merged song with its reason
The split is by song and by hash of the song's base title, so adding songs later never moves an
old song across it (only the tiny-corpus fallback below can, and only while val would be empty).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from model.lyrics.rhyme import schemes
from model.lyrics.songform import common_form
from model.lyrics.style import figures
from model.registry.files import staging_dir, swap_dir
from training.data.cleaning import clean_lyrics, non_song_reason, normalize_characters
from training.data.song_cache import Song

CORPUS_FORMAT = 2  # bump when the files' shape or the cleaning rules change meaning
SAME_LYRICS_OVERLAP = 0.8  # word 5-gram Jaccard at or above this: one song under two titles
# Songs sharing this many word 5-grams (two or three lines) share a verse or a chorus: a remix
# with new verses, a demo under another title, a medley. They stay on one side of the split.
# In three real catalogues unrelated songs shared at most 7; related ones 15 and up.
RELATED_PHRASES = 12

# Words that mark a version of a song rather than a new one, in "(...)", "[...]" or "- ...".
_VERSION_WORDS = (
    r"taylor'?s version|from the vault|remix|mix|live|acoustic|demo|piano|version|remaster(ed)?|"
    r"singles?|radio edit|edit|extended|stripped|instrumental|karaoke|re-?recorded|mono|stereo|"
    r"feat|ft|featuring|with"
)
_VERSION_PART = re.compile(
    rf"\s*(\([^)]*\b(?:{_VERSION_WORDS})(?![a-z])[^)]*\)"
    rf"|\[[^\]]*\b(?:{_VERSION_WORDS})(?![a-z])[^\]]*\]"
    rf"|\s-\s.*\b(?:{_VERSION_WORDS})(?![a-z]).*$"
    r"|\s+remix$)",  # "Of the Soul Remix", without brackets
    re.IGNORECASE,
)


@dataclass(frozen=True)
class CorpusSong:
    song: Song
    lyrics: str  # cleaned
    key: str  # base title: what versions of one song share

    def record(self) -> dict[str, Any]:
        """Return the song as one line of train.jsonl / val.jsonl."""
        s = self.song
        return {"id": s.id, "title": s.title, "album": s.album, "year": s.year,
                "lyrics": self.lyrics}


@dataclass
class Corpus:
    train: list[CorpusSong] = field(default_factory=list)
    val: list[CorpusSong] = field(default_factory=list)
    dropped: list[dict[str, str]] = field(default_factory=list)  # id, title, reason
    merged: list[dict[str, str]] = field(default_factory=list)  # id, title, kept_id, reason
    related: list[dict[str, str]] = field(default_factory=list)  # id, title, with_id, reason


def base_title(title: str) -> str:
    """Return what versions of one song share: 'Love Story (Taylor's Version)' -> 'love story'."""
    t = normalize_characters(title)  # curly quotes, zero-width marks, look-alike letters
    while True:
        shorter = _VERSION_PART.sub("", t, count=1)
        if shorter == t:
            break
        t = shorter
    t = re.sub(r"[^\w\s]", "", t.casefold())
    return re.sub(r"\s+", " ", t).strip() or title.casefold().strip()


def _shingles(lyrics: str, n: int = 5) -> set[tuple[str, ...]]:
    words = re.findall(r"[\w']+", lyrics.casefold())
    return {tuple(words[i:i + n]) for i in range(max(1, len(words) - n + 1))}


def version_marks(title: str) -> int:
    """Count a title's version markers: 'Bad Blood (Remix) (Taylor's Version)' has two."""
    return len(_VERSION_PART.findall(normalize_characters(title)))


def _preference(entry: CorpusSong) -> tuple[int, str, str]:
    # Keep the title with the fewest version markers (the original; of re-recordings, the plain
    # one over its remix), then the earliest release, then the smallest id.
    return (version_marks(entry.song.title), entry.song.release_date or "9999", entry.song.id)


def in_validation(key: str, val_fraction: float) -> bool:
    """Decide a song's side of the split from its base title alone (stable as songs are added)."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < val_fraction


def build_corpus(songs: list[Song], val_fraction: float = 0.1) -> Corpus:
    """Clean, filter, de-duplicate and split `songs`."""
    corpus = Corpus()
    entries: list[CorpusSong] = []
    for song in songs:
        lyrics = clean_lyrics(song.lyrics)
        reason = non_song_reason(song.title, lyrics)
        if reason:
            corpus.dropped.append({"id": song.id, "title": song.title, "reason": reason})
        else:
            entries.append(CorpusSong(song, lyrics, base_title(song.title)))

    kept: list[CorpusSong] = []
    shingles: list[set[tuple[str, ...]]] = []
    group: list[int] = []  # kept song -> the first kept song it shares lines with (itself)
    for entry in sorted(entries, key=_preference):
        mine = _shingles(entry.lyrics)
        reason, twin, near = None, None, []
        for i, (other, theirs) in enumerate(zip(kept, shingles, strict=True)):
            if other.key == entry.key:
                reason, twin = f"version of {other.song.title!r}", other
                break
            shared = len(mine & theirs)
            overlap = shared / len(mine | theirs)
            if overlap >= SAME_LYRICS_OVERLAP:
                reason, twin = f"same lyrics as {other.song.title!r} ({overlap:.0%})", other
                break
            if shared >= RELATED_PHRASES:
                near.append((i, shared))
        if twin is not None:
            corpus.merged.append({"id": entry.song.id, "title": entry.song.title,
                                  "kept_id": twin.song.id, "reason": reason})
            continue
        kept.append(entry)
        shingles.append(mine)
        roots = {_root(group, i) for i, _ in near}
        group.append(min(roots, default=len(kept) - 1))
        for root in roots:  # songs this one links become one group
            group[root] = group[-1]
        for i, shared in near:
            corpus.related.append({
                "id": entry.song.id, "title": entry.song.title, "with_id": kept[i].song.id,
                "reason": f"shares {shared} five-word phrases with {kept[i].song.title!r}"})

    # A group's side of the split is its first song's (the original, the earliest release).
    side = {id(entry): in_validation(kept[_root(group, i)].key, val_fraction)
            for i, entry in enumerate(kept)}
    for entry in sorted(kept, key=lambda e: (e.song.release_date or "9999",
                                             e.song.title.casefold())):
        (corpus.val if side[id(entry)] else corpus.train).append(entry)
    if not corpus.val and len(kept) >= 2 and val_fraction > 0:
        # Tiny corpora can hash every song to train; hold out the group closest to the line.
        # When every song shares lines with another, one song is held out all the same.
        roots = {_root(group, i) for i in range(len(kept))}
        closest = min(roots, key=lambda r: hashlib.sha256(kept[r].key.encode()).digest())
        held = [e for i, e in enumerate(kept) if _root(group, i) == closest]
        held = held if len(roots) >= 2 else held[:1]
        corpus.train = [e for e in corpus.train if all(e is not h for h in held)]
        corpus.val.extend(held)
    return corpus


def _root(group: list[int], i: int) -> int:
    while group[i] != i:
        i = group[i]
    return i


def _jsonl(entries: list[CorpusSong]) -> bytes:
    lines = (json.dumps(e.record(), ensure_ascii=False) + "\n" for e in entries)
    return "".join(lines).encode("utf-8")


def write_corpus(corpus: Corpus, out_dir: Path, artist: str, raw_count: int) -> dict[str, Any]:
    """Write train/val/manifest to a fresh folder, swap it in atomically; return the manifest."""
    train, val = _jsonl(corpus.train), _jsonl(corpus.val)
    lyrics = [e.lyrics for e in corpus.train + corpus.val]
    manifest = {
        "format": CORPUS_FORMAT,
        "artist": artist,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "content_hash": hashlib.sha256(train + b"\0" + val).hexdigest(),
        "counts": {"raw": raw_count, "train": len(corpus.train), "val": len(corpus.val),
                   "dropped": len(corpus.dropped), "merged": len(corpus.merged),
                   "train_words": sum(len(e.lyrics.split()) for e in corpus.train),
                   "val_words": sum(len(e.lyrics.split()) for e in corpus.val)},
        "albums": sorted({e.song.album for e in corpus.train + corpus.val if e.song.album}),
        "style": figures(lyrics).to_json(),  # the artist's: what generated songs are held to
        "form": common_form(lyrics),  # their most common sections, where headers say
        "schemes": schemes(lyrics),  # shares of AABB, ABAB, XAXA and none among 4-line groups
        "dropped": corpus.dropped,
        "merged": corpus.merged,
        "related": corpus.related,  # kept, but on one side of the split with a song they echo
    }
    staged = staging_dir(out_dir)
    try:
        (staged / "train.jsonl").write_bytes(train)
        (staged / "val.jsonl").write_bytes(val)
        text = json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
        (staged / "manifest.json").write_text(text, encoding="utf-8")
        swap_dir(out_dir, staged)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return manifest
