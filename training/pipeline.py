"""`python -m training run`, read top to bottom in `run`: fetch -> corpus -> train -> learn from
votes -> evaluate -> publish, stopping at the first stage that fails. `train` is the same
function with the data stages and the publish left out; the commands (training/commands/) build
a `Job` from their flags and call it.

With several training processes (`accelerate launch`), process 0 fetches, builds the corpus,
creates the run folder, evaluates and publishes; the others learn the folder from it and train.
The data commands use the first two stages from here without a model, so torch and
transformers are imported inside the functions that need them: they take seconds to import.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from model.errors import RegistryError
from model.registry.runs import Registry, artist_registry, move_single_artist_home
from swiftai.settings import Settings
from training.data.corpus import build_corpus, write_corpus
from training.data.genius import FetchOptions, FetchReport, fetch_artist, make_client
from training.data.song_cache import SongCache
from training.errors import TrainingError
from training.progress import Progress
from training.tuning import distributed
from training.tuning.options import TrainOptions

if TYPE_CHECKING:
    from training.feedback.preference import Plan
    from training.release.publish import Published


@dataclass(frozen=True)
class Job:
    """What a `run` or `train` command asks for, read once from its flags."""

    options: TrainOptions  # a new run's options (a resumed run keeps its own)
    artist: str | None = None  # as named on the command line (None: SWIFTAI_ARTIST)
    get_songs: bool = False  # fetch the songs and build the corpus first
    fetch: FetchOptions | None = None  # how to fetch (None: use the songs already cached)
    quiet: bool = False  # no progress bar while fetching
    val_fraction: float = 0.1  # share of songs the corpus holds out for validation
    corpus: Path | None = None  # the corpus folder (default: the artist's)
    resume: str | None = None  # continue this interrupted run instead ("latest": the newest)
    votes: Literal["no", "if enough", "required"] = "no"  # learn from listeners' votes?
    votes_file: Path | None = None  # whose votes (default: those `feedback` stored for the artist)
    publish: bool = False  # then serve the run
    force: bool = False  # publish even if it is worse than the current model


def run(job: Job, settings: Settings, progress: Progress) -> dict[str, Any] | None:
    """Do the stages `job` asks for; return the run's manifest (None in the other processes of a
    multi-process run)."""
    from training.data.dataset import load_corpus
    from training.evaluation.evaluate import summary_line
    from training.feedback.preference import add_votes, learn
    from training.release.runs import (
        EvaluationFailed,
        Tracker,
        evaluate_trained,
        save_sampling_defaults,
        write_manifest,
    )
    from training.tuning.finetune import start_run, train

    artist = job.artist or settings.artist
    registry = registry_for(settings, artist)
    corpus_dir = job.corpus or settings.corpus_dir(artist)
    resume = job.resume is not None
    tracker: Tracker | None = None  # process 0's hold on the run folder

    def prepare() -> Path:  # process 0 only: the data, then the run folder, locked
        nonlocal tracker
        if job.get_songs:
            progress.stage("fetch")
            if job.fetch is None:
                progress.say("fetch skipped (--skip-fetch): using the songs already cached")
            else:
                # A dead Genius raises GeniusUnreachable here and ends the run, the model
                # untouched; a few broken pages should not block a retrain: fetch() lists them.
                report = fetch(settings, artist, job.fetch, progress, quiet=job.quiet)
                if report.failed:
                    progress.say(f"continuing without {len(report.failed)} songs that failed "
                                 "to download")
            progress.stage("corpus")
            make_corpus(settings, artist, progress, job.val_fraction, out=job.corpus)
        if job.resume is not None:
            run_dir = _run_to_resume(registry, job.resume, job.artist)
            progress.say(f"resuming run {run_dir.name}")
            tracker = Tracker(run_dir)
            return run_dir
        votes = votes_for_run(job, settings, _corpus_artist(corpus_dir) or artist, progress)
        load_corpus(corpus_dir)  # refuse a broken corpus before making anything
        tracker = Tracker(registry.new_run_dir(), create=True)  # locked from its first moment
        start_run(tracker.run_dir, corpus_dir, job.options)
        if votes is not None:
            add_votes(tracker.run_dir, votes)
        return tracker.run_dir

    run_dir = distributed.from_main(prepare)
    if tracker is None:  # another training process: it trains; process 0 does the rest
        train(run_dir, progress, resume=resume)
        return None

    try:
        with tracker:  # status.json names each stage; how it ended is recorded on the way out
            if not resume:
                progress.say(f"run {run_dir.name}: training on {corpus_dir}")
            tracker.stage("train")
            progress.stage("train", run=run_dir.name)
            summary = train(run_dir, progress, resume=resume)

            tracker.stage("feedback")
            summary["feedback"] = learn(run_dir, progress)  # None: no (or too few) votes

            save_sampling_defaults(run_dir)
            write_manifest(run_dir, training=summary, metrics=None)  # trained: kept from now on
            shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)  # the best model is saved

            manifest = evaluate_trained(run_dir, tracker, progress, settings.cache_dir,
                                        exporter=settings.openvino_exporter)
    except EvaluationFailed as e:  # the run is kept: say how to finish it
        raise TrainingError(f"{e}; finish it with `{_command('evaluate', e.run_id, job.artist)}`"
                            f", then `{_command('publish', e.run_id, job.artist)}`") from e
    progress.say(f"run {manifest['run']}: {summary_line(manifest['metrics'])}; report: "
                 f"{registry.runs_dir / manifest['run'] / 'report.md'}")
    if not job.publish:
        return manifest

    progress.stage("publish")
    try:
        publish_run(registry, manifest["run"], job.force, progress, settings.openvino_exporter)
    except RegistryError as e:
        raise TrainingError(f"trained run {manifest['run']} was not published: {e}") from e
    return manifest


def fetch(settings: Settings, artist: str, options: FetchOptions, progress: Progress,
          quiet: bool = False) -> FetchReport:
    """Download an artist's songs from Genius into the cache and print the report; return it."""
    client = make_client(settings.require_genius_token(), options, settings.genius_base_url)
    cache = SongCache(settings.raw_dir(artist))
    report = fetch_artist(client, cache, artist, options, progress=progress.bars and not quiet)
    for title, reason in report.failed:
        print(f"failed: {title}: {reason}", file=sys.stderr)
    progress.say(report.summary())
    progress.emit("fetch", new=len(report.new), cached=len(report.cached),
                  failed=len(report.failed), skipped=len(report.skipped))
    return report


def make_corpus(settings: Settings, artist: str, progress: Progress, val_fraction: float,
                out: Path | None = None, explain: bool = False) -> Path:
    """Build an artist's corpus from the cached songs and print its summary; return its folder."""
    raw_dir = settings.raw_dir(artist)
    songs = SongCache(raw_dir).songs()
    if not songs:
        raise TrainingError(f"no songs for {artist!r} in {raw_dir}: run "
                            f"`python -m training fetch --artist {artist!r}` or `import` first")
    corpus = build_corpus(songs, val_fraction=val_fraction)
    if not corpus.train:
        raise TrainingError(f"none of the {len(songs)} songs of {artist!r} is usable "
                            "(see --explain); the corpus was not written")
    out = out or settings.corpus_dir(artist)
    try:
        manifest = write_corpus(corpus, out, artist, raw_count=len(songs))
    except FileExistsError as e:
        raise TrainingError(str(e)) from e
    if explain:
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


def votes_for_run(job: Job, settings: Settings, artist: str, progress: Progress) -> Plan | None:
    """Return the votes a new run learns from, or None.

    `train --feedback [FILE]` insists on enough of them; `run` takes the artist's stored votes
    (or `--feedback FILE`) when there are enough and says so when there are not.
    """
    from training.feedback.preference import Plan
    from training.feedback.votes import read_votes, votes_path

    if job.votes == "no":
        return None
    required = job.votes == "required"
    path = job.votes_file or votes_path(settings, artist)
    if not required and not path.is_file():
        progress.say(f"using the default ranking (no votes yet: `python -m training feedback "
                     f"--artist {artist!r}` fetches them into {path})")
        return None
    votes = read_votes(path, artist)
    if votes.skipped:
        progress.say(f"{path}: {len(votes.skipped)} bad rows skipped (see `training feedback "
                     f"--file {path}`)")
    plan = Plan(votes.rows, str(path), settings.feedback_min_votes)
    if required and not plan.enough:
        raise TrainingError(f"too few votes to learn from in {path} ({plan.shortfall()}): "
                            f"--feedback needs at least {plan.min_votes}, of both kinds "
                            "(FEEDBACK_MIN_VOTES)")
    if plan.enough and distributed.world_size() > 1:
        raise TrainingError("preference tuning runs in one process: train with votes without "
                            "`accelerate launch`")
    progress.say(plan.note())
    return plan


def publish_run(registry: Registry, run_id: str, force: bool, progress: Progress,
                exporter: str | None = None) -> Published:
    """Serve a run (see release/publish.py) and say how it compared; return what happened."""
    from training.evaluation.evaluate import verdict
    from training.release.publish import publish

    result = publish(registry, run_id, force=force, exporter=exporter)
    before = (f"{result.previous_perplexity:.2f} ({result.against}) -> "
              if result.previous_perplexity is not None else "")
    progress.say(f"published {result.run.id}: validation perplexity {before}"
                 f"{result.perplexity:.2f} per {result.per}; {result.converted}")
    progress.emit("publish", run=result.run.id, perplexity=round(result.perplexity, 2),
                  previous_perplexity=result.previous_perplexity and
                  round(result.previous_perplexity, 2), per=result.per,
                  verdict=verdict(result.run.metrics))  # /retrain says it beside perplexity
    return result


def registry_for(settings: Settings, artist: str) -> Registry:
    """Return an artist's model registry, moving a single-artist home into place first."""
    moved = move_single_artist_home(settings.models_dir, [settings.artist, *settings.artists])
    if moved is not None:
        print(f"moved the single-artist model registry to {moved}", file=sys.stderr)
    return artist_registry(settings.models_dir, artist)


def _run_to_resume(registry: Registry, wanted: str, artist: str | None) -> Path:
    if wanted != "latest":
        found = registry.run(wanted)
        if found.complete and not found.evaluated:
            raise TrainingError(f"run {found.id} finished training; only its evaluation is "
                                f"missing: `{_command('evaluate', found.id, artist)}` finishes it")
        if found.complete:
            raise TrainingError(f"run {found.id} already finished; nothing to resume")
        return found.path
    unfinished = [r for r in registry.runs() if r.status.state in ("abandoned", "failed")]
    if not unfinished:
        raise TrainingError("no interrupted run to resume")
    return unfinished[-1].path


def _command(name: str, run_id: str, artist: str | None) -> str:
    """Return the command line that does `name` to a run of the artist named (if one was)."""
    return f"python -m training {name} {run_id}" + \
        (f" --artist {shlex.quote(artist)}" if artist else "")


def _corpus_artist(corpus_dir: Path) -> str | None:
    """Return the artist a corpus was built for (None when it cannot say)."""
    try:
        return json.loads((corpus_dir / "manifest.json").read_text(encoding="utf-8"))["artist"]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # load_corpus refuses a broken corpus with its own message
