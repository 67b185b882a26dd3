"""`python -m training`: download lyrics, import files, build the corpus."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from dotenv import load_dotenv

from training.corpus import build_corpus, write_corpus
from training.errors import TrainingError
from training.genius import FetchOptions, fetch_artist, make_client
from training.lyric_files import import_songs, read_songs
from training.settings import Settings
from training.songs import SongCache

log = logging.getLogger("training")


def cmd_fetch(args: argparse.Namespace, settings: Settings) -> int:
    """Download every song of an artist from Genius into the cache."""
    artist = args.artist or settings.artist
    options = FetchOptions(retries=args.retries, backoff=args.backoff, timeout=args.timeout,
                           refresh=args.refresh)
    genius = make_client(settings.require_genius_token(), options, settings.genius_base_url)
    cache = SongCache(settings.raw_dir(artist))
    report = fetch_artist(genius, cache, artist, options, progress=not args.quiet)
    for title, reason in report.failed:
        print(f"failed: {title}: {reason}", file=sys.stderr)
    print(report.summary())
    if report.failed:
        print(f"{len(report.failed)} songs failed; run fetch again to retry just those",
              file=sys.stderr)
        return 1
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    """Import lyricsgenius JSON exports and folders of .txt files into the cache."""
    songs = read_songs(args.paths, args.artist, settings.artist, args.album)
    report = import_songs(songs, lambda artist: SongCache(settings.raw_dir(artist)))
    for title, reason in report.skipped:
        print(f"skipped: {title}: {reason}", file=sys.stderr)
    print(report.summary())
    if not report.imported:
        raise TrainingError("nothing was imported: every song was empty")
    return 0


def cmd_corpus(args: argparse.Namespace, settings: Settings) -> int:
    """Clean, de-duplicate and split the cached songs into train/val files."""
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
    if args.explain:
        for item in manifest["dropped"]:
            print(f"dropped: {item['title']}: {item['reason']}")
        for item in manifest["merged"]:
            print(f"merged: {item['title']}: {item['reason']}")
    c = manifest["counts"]
    print(f"{out}: {c['train']} train + {c['val']} val songs ({c['train_words']} + "
          f"{c['val_words']} words); {c['dropped']} dropped, {c['merged']} merged")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Describe the command line."""
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fetch = sub.add_parser("fetch", help=cmd_fetch.__doc__, description=cmd_fetch.__doc__)
    fetch.add_argument("--artist", help="artist name on Genius (default: SWIFTAI_ARTIST)")
    fetch.add_argument("--refresh", action="store_true", help="list the artist's songs again")
    fetch.add_argument("--retries", type=int, default=5, help="retries per request (default 5)")
    fetch.add_argument("--backoff", type=float, default=1.0,
                       help="seconds before the first retry, doubling after (default 1)")
    fetch.add_argument("--timeout", type=float, default=15.0, help="seconds per request")
    fetch.add_argument("--quiet", action="store_true", help="no progress bar")
    fetch.set_defaults(handler=cmd_fetch)

    imp = sub.add_parser("import", help=cmd_import.__doc__, description=cmd_import.__doc__)
    imp.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                     help="a lyricsgenius .json export, a .txt file, or a folder of them")
    imp.add_argument("--artist", help="artist of the songs (default: the export's, or "
                     "SWIFTAI_ARTIST for .txt files)")
    imp.add_argument("--album", help="album of .txt songs")
    imp.set_defaults(handler=cmd_import)

    corpus = sub.add_parser("corpus", help=cmd_corpus.__doc__, description=cmd_corpus.__doc__)
    corpus.add_argument("--artist", help="whose songs (default: SWIFTAI_ARTIST)")
    corpus.add_argument("--out", type=Path,
                        help="output folder (default: $SWIFTAI_HOME/data/corpus/<artist>)")
    corpus.add_argument("--val-fraction", type=float, default=0.1,
                        help="share of songs held out for validation (default 0.1)")
    corpus.add_argument("--explain", action="store_true",
                        help="list every dropped or merged song and why")
    corpus.set_defaults(handler=cmd_corpus)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; user errors become one line on stderr and exit status 1."""
    load_dotenv()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args, Settings.from_env(os.environ))
    except TrainingError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: everything finished so far is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
