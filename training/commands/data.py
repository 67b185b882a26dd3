"""The data commands: `fetch` (Genius), `import` (lyrics files) and `corpus`, each writing the
song cache or the corpus (`fetch` and `corpus` are the pipeline's first two stages). They import
neither torch nor transformers."""

from __future__ import annotations

import argparse
import sys

from swiftai.settings import Settings
from training.data.genius import FetchOptions
from training.data.lyric_files import import_songs, read_songs
from training.data.song_cache import SongCache
from training.errors import TrainingError
from training.pipeline import fetch, make_corpus
from training.progress import Progress


def cmd_fetch(args: argparse.Namespace, settings: Settings, progress: Progress) -> int:
    """Download every song of an artist from Genius into the cache."""
    report = fetch(settings, args.artist or settings.artist, fetch_options(args), progress,
                   quiet=args.quiet)
    if report.failed:
        progress.say(f"{len(report.failed)} songs failed; run fetch again to retry just those")
        return 1
    return 0


def fetch_options(args: argparse.Namespace) -> FetchOptions:
    """Return the fetch options the flags of `fetch` and `run` ask for."""
    return FetchOptions(retries=args.retries, backoff=args.backoff, timeout=args.timeout,
                        refresh=args.refresh)


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
    make_corpus(settings, args.artist or settings.artist, progress, args.val_fraction,
                out=args.out, explain=args.explain)
    return 0
