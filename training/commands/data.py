"""The data commands: `fetch` (Genius), `import` (lyrics files) and `corpus`, each writing the
song cache or the corpus. They import neither torch nor transformers."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from swiftai.settings import Settings
from training.data.corpus import build_corpus, write_corpus
from training.data.genius import FetchOptions, FetchReport, fetch_artist, make_client
from training.data.lyric_files import import_songs, read_songs
from training.data.song_cache import SongCache
from training.errors import TrainingError
from training.progress import Progress


def cmd_fetch(args: argparse.Namespace, settings: Settings, progress: Progress) -> int:
    """Download every song of an artist from Genius into the cache."""
    report = fetch(args, settings, progress)
    if report.failed:
        progress.say(f"{len(report.failed)} songs failed; run fetch again to retry just those")
        return 1
    return 0


def fetch(args: argparse.Namespace, settings: Settings, progress: Progress) -> FetchReport:
    """Run a fetch and print its report; return it."""
    artist = args.artist or settings.artist
    options = FetchOptions(retries=args.retries, backoff=args.backoff, timeout=args.timeout,
                           refresh=args.refresh)
    client = make_client(settings.require_genius_token(), options, settings.genius_base_url)
    cache = SongCache(settings.raw_dir(artist))
    report = fetch_artist(client, cache, artist, options, progress=progress.bars and not args.quiet)
    for title, reason in report.failed:
        print(f"failed: {title}: {reason}", file=sys.stderr)
    progress.say(report.summary())
    progress.emit("fetch", new=len(report.new), cached=len(report.cached),
                  failed=len(report.failed), skipped=len(report.skipped))
    return report


def cmd_import(args: argparse.Namespace, settings: Settings, progress: Progress) -> int:
    """Import lyricsgenius exports, JSON lists of songs, CSV files and .txt folders."""
    songs = read_songs(args.paths, args.artist, settings.artist, args.album)
    report = import_songs(songs, lambda artist: SongCache(settings.raw_dir(artist)))
    for title, reason in report.skipped:
        print(f"skipped: {title}: {reason}", file=sys.stderr)
    progress.say(report.summary())
    if not report.imported:
        raise TrainingError("nothing was imported: every song was empty")
    return 0


def cmd_corpus(args: argparse.Namespace, settings: Settings, progress: Progress) -> int:
    """Clean, de-duplicate and split the cached songs into train/val files."""
    make_corpus(args, settings, progress)
    return 0


def make_corpus(args: argparse.Namespace, settings: Settings, progress: Progress) -> Path:
    """Build the corpus and print its summary; return its folder."""
    artist = args.artist or settings.artist
    raw_dir = settings.raw_dir(artist)
    songs = SongCache(raw_dir).songs()
    if not songs:
        raise TrainingError(f"no songs for {artist!r} in {raw_dir}: run "
                            f"`python -m training fetch --artist {artist!r}` or `import` first")
    corpus = build_corpus(songs, val_fraction=args.val_fraction)
    if not corpus.train:
        raise TrainingError(f"none of the {len(songs)} songs of {artist!r} is usable "
                            "(see --explain); the corpus was not written")
    out = args.out or settings.corpus_dir(artist)
    try:
        manifest = write_corpus(corpus, out, artist, raw_count=len(songs))
    except FileExistsError as e:
        raise TrainingError(str(e)) from e
    if getattr(args, "explain", False):
        for item in manifest["dropped"]:
            progress.say(f"dropped: {item['title']}: {item['reason']}")
        for item in manifest["merged"]:
            progress.say(f"merged: {item['title']}: {item['reason']}")
        for item in manifest["related"]:
            progress.say(f"kept on one side of the split: {item['title']}: {item['reason']}")
        if not manifest["dropped"] and not manifest["merged"]:
            progress.say("nothing was dropped or merged: every song is in the corpus")
    c = manifest["counts"]
    progress.say(f"{out}: {c['train']} train + {c['val']} val songs ({c['train_words']} + "
                 f"{c['val_words']} words); {c['dropped']} dropped, {c['merged']} merged")
    progress.emit("corpus", train=c["train"], val=c["val"])
    return out
