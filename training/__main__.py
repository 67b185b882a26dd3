"""`python -m training`: download lyrics, build the corpus, fine-tune, evaluate, publish."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from model.errors import RegistryError
from model.serving.backends import CHOICES
from model.writing.request import FORMS
from swiftai.logs import one_line, route_library_logs
from swiftai.settings import ConfigError, Settings
from training.commands import data, models
from training.errors import TrainingError
from training.progress import Progress
from training.tuning import distributed
from training.tuning.options import add_flags

LOADS_MODELS = {"train", "run", "evaluate", "convert", "generate", "publish", "make-base"}


def _fetch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--refresh", action="store_true", help="list the artist's songs again")
    parser.add_argument("--retries", type=int, default=5, help="retries per request (default 5)")
    parser.add_argument("--backoff", type=float, default=1.0,
                        help="seconds before the first retry, doubling after (default 1)")
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds per request")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _corpus_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path,
                        help="corpus folder (default: $SWIFTAI_HOME/data/corpus/<artist>)")
    parser.add_argument("--val-fraction", type=float, default=0.1,
                        help="share of songs held out for validation (default 0.1)")


def _train_options(parser: argparse.ArgumentParser) -> None:
    add_flags(parser)  # one per TrainOptions field, with its help and default
    parser.add_argument("--resume", nargs="?", const="latest", metavar="RUN",
                        help="continue an interrupted run (default: the latest one)")


def _artist_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--artist", help="whose models: $SWIFTAI_HOME/models/<artist>/ "
                        "(default: SWIFTAI_ARTIST)")


def _progress_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--progress", choices=("bar", "json"), default="bar",
                        help="progress bars, or JSON lines on stdout for programs")


def build_parser() -> argparse.ArgumentParser:
    """Describe the command line."""
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: object) -> argparse.ArgumentParser:
        doc = handler.__doc__
        command = sub.add_parser(name, help=doc, description=doc)
        command.set_defaults(handler=handler)
        return command

    fetch = add("fetch", data.cmd_fetch)
    fetch.add_argument("--artist", help="artist name on Genius (default: SWIFTAI_ARTIST)")
    _fetch_options(fetch)

    imp = add("import", data.cmd_import)
    imp.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                     help="a lyricsgenius .json export, a .json list of songs, a .csv file with "
                     "a header row (title, lyrics, album), a .txt file, or a folder of them")
    imp.add_argument("--artist", help="artist of the songs (default: the file's, else "
                     "SWIFTAI_ARTIST)")
    imp.add_argument("--album", help="album of .txt songs")

    corpus = add("corpus", data.cmd_corpus)
    corpus.add_argument("--artist", help="whose songs (default: SWIFTAI_ARTIST)")
    _corpus_options(corpus)
    corpus.add_argument("--explain", action="store_true",
                        help="list every dropped or merged song and why")

    train = add("train", models.cmd_train)
    train.add_argument("--corpus", type=Path, help="corpus folder (default: the artist's)")
    train.add_argument("--artist", help="whose corpus, and whose registry the run goes to "
                       "(default: SWIFTAI_ARTIST)")
    train.add_argument("--feedback", nargs="?", const="", metavar="FILE",
                       help="then learn from listeners' votes (default: the artist's, fetched by "
                       "`feedback`)")
    _train_options(train)
    _progress_option(train)

    feedback = add("feedback", models.cmd_feedback)
    feedback.add_argument("--artist", help="whose votes (default: SWIFTAI_ARTIST)")
    feedback.add_argument("--file", type=Path, help="read this feedback file instead of asking "
                          "the bot")
    feedback.add_argument("--fit", action="store_true",
                          help="fit the published run's ranking weights from the votes")

    evaluate = add("evaluate", models.cmd_evaluate)
    evaluate.add_argument("run", nargs="?", help="run id (default: the current model)")
    evaluate.add_argument("--eval-songs", type=int, metavar="N",
                          help="validation openings to write whole songs from (default: the "
                          "run's, 8)")
    _artist_option(evaluate)

    _artist_option(add("models", models.cmd_models))

    prune = add("prune", models.cmd_prune)
    prune.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    _artist_option(prune)

    publish = add("publish", models.cmd_publish)
    publish.add_argument("run", help="run id (see `models`)")
    publish.add_argument("--force", action="store_true",
                         help="publish even if its validation perplexity is worse")
    _artist_option(publish)
    _progress_option(publish)

    _artist_option(add("rollback", models.cmd_rollback))

    convert = add("convert", models.cmd_convert)
    _artist_option(convert)
    convert.add_argument("run", nargs="?", help="run id (default: the current model)")
    convert.add_argument("--base", action="store_true",
                         help="convert the base model into $SWIFTAI_HOME/cache instead")
    convert.add_argument("--base-model", help="with --base: hub id or folder (default: "
                         "BASE_MODEL)")

    generate = add("generate", models.cmd_generate)
    generate.add_argument("--prompt", required=True, help="the first line of the song")
    generate.add_argument("--n", type=int, default=1, choices=range(1, 11), metavar="N",
                          help="how many songs (1-10)")
    generate.add_argument("--album", help="write in the style of this album")
    generate.add_argument("--temperature", type=float, help="sampling temperature (default 0.9)")
    generate.add_argument("--lines", type=int,
                          help="a verse's lyric lines (default: the artist's usual stanza)")
    generate.add_argument("--form", choices=FORMS, default="verse",
                          help="a verse, or a whole song in labelled sections")
    generate.add_argument("--seed", type=int, help="random seed, for repeatable output")
    generate.add_argument("--model", help="a run folder, local folder or hub id to use instead")
    generate.add_argument("--backend", choices=CHOICES, default="auto",
                          help="what runs the model (default auto: CTranslate2 where converted)")
    _artist_option(generate)

    make_base = add("make-base", models.cmd_make_base)
    make_base.add_argument("--out", type=Path,
                           help="folder to write (default: $SWIFTAI_HOME/base/smollm2-135m)")

    run = add("run", models.cmd_run)
    run.add_argument("--artist", help="artist (default: SWIFTAI_ARTIST)")
    run.add_argument("--skip-fetch", action="store_true", help="use the songs already cached")
    run.add_argument("--force", action="store_true", help="publish even if worse")
    run.add_argument("--feedback", metavar="FILE", help="votes to learn from (default: the "
                     "artist's, when there are enough)")
    _fetch_options(run)
    _corpus_options(run)
    _train_options(run)
    _progress_option(run)
    return parser


def _quiet_libraries() -> None:
    # transformers prints loading bars and advice on every load; our own progress says enough.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main(argv: list[str] | None = None) -> int:
    """Run one command; user errors become one line on stderr and exit status 1."""
    _quiet_libraries()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # urllib3 logs a long line per retry; each song that still fails gets one line of its own.
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    args = build_parser().parse_args(argv)
    if args.command in LOADS_MODELS:
        route_library_logs()  # each hub retry or warning printed once, not twice
    # With several training processes (accelerate launch), only process 0 reports.
    progress = Progress(json_lines=getattr(args, "progress", "bar") == "json",
                        enabled=distributed.is_main())
    try:
        return args.handler(args, Settings.load(), progress)
    except (TrainingError, ConfigError, RegistryError) as e:
        message = one_line(e, limit=None)  # even when a library's words are not one line
        progress.emit("error", message=message)
        print(f"error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: everything finished so far is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
