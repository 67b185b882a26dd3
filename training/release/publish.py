"""Publishing: make a run the served model, or go back to the one before; prune old runs.

`models/current` only ever moves to a run that has been loaded, tried and scored, in one atomic
rename; the CTranslate2 conversion is written into the run before the link moves. `history.json`
is the stack of published ids, written before the link moves on publish and after it on rollback,
so that a crash between the two is recognisable (see `rollback_target`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.errors import RegistryError
from model.registry.files import write_json_atomic
from model.registry.runs import Registry, Run
from model.serving.ct2 import has_conversion
from model.serving.openvino import has_ir
from swiftai.logs import one_line
from training.errors import TrainingError
from training.evaluation.base_figures import local_folder, model_hash
from training.evaluation.scoring import Score, score_of, score_songs, windows_key
from training.feedback.likelihood import pair_share
from training.feedback.preference import PERPLEXITY_SLACK, gate, held_out
from training.feedback.votes import Vote
from training.release.convert import convert_folder, convert_openvino, ct2_available


@dataclass(frozen=True)
class Published:
    run: Run
    previous: Run | None
    perplexity: float  # the new run's, on its validation songs
    previous_perplexity: float | None  # the model compared with, on the same songs
    per: str  # "token", or "word" when the two tokenizers differ (token counts do not compare)
    converted: str  # what happened to the CTranslate2 conversion, in a few words
    against: str | None = None  # what it was compared with: "run <id>" or "base model <name>"
    scored: tuple[str, ...] = ()  # the models scored here; the others' evaluation scores stood


def point_current(registry: Registry, run: Run) -> None:
    """Move the `current` link to `run` in one atomic rename."""
    registry.root.mkdir(parents=True, exist_ok=True)
    tmp = registry.root / f".current.{secrets.token_hex(4)}"
    tmp.symlink_to(Path("runs") / run.id)
    os.replace(tmp, registry.current_link)
    fd = os.open(registry.root, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def rollback_target(registry: Registry) -> tuple[Run, list[str]]:
    """Return the run published before the current one, and the history without the current.

    Entries above the current run are publishes that crashed before their link moved.
    """
    current = registry.current()
    if current is None:
        raise RegistryError("nothing is published yet")
    stack = registry.history()
    while stack and stack[-1] != current.id:
        stack.pop()
    stack = stack[:-1]
    if not stack:
        raise RegistryError(f"{current.id} is the only model ever published; "
                            "nothing to roll back to")
    return registry.run(stack[-1]), stack


def rollback(registry: Registry) -> Run:
    """Serve the previously published run again."""
    target, stack = rollback_target(registry)
    registry.check(target)
    # Link first: a crash before the history write leaves the old current above the new one
    # in the stack, which rollback_target already treats as an unfinished entry.
    point_current(registry, target)
    write_json_atomic(registry.history_path, stack)
    return target


def try_load(run: Run) -> Any:
    """Load a run with transformers and generate a few tokens; raise RegistryError if it fails."""
    from model.serving.hf import TransformersBackend
    from model.serving.protocol import GenRequest

    try:
        backend = TransformersBackend.load(run.path, model_id=run.id)
        backend.generate([GenRequest("Hello", max_new_tokens=4)])
    except Exception as e:  # any failure here means the folder is broken: say so, keep serving
        raise RegistryError(f"run {run.id} is corrupt: it does not load and generate "
                            f"({type(e).__name__}: {e})") from e
    return backend


def kept_score(run: Run, model: str, songs: list[dict[str, Any]], block_size: int,
               files_hash: str | None = None) -> Score | None:
    """Return the validation score `run`'s evaluation kept of `model` ("fine_tuned": the run
    itself, or "base", whose files must hash to `files_hash`) on these very windows; None when
    it kept none, or for other songs or another model. A run's weights never change."""
    scores = run.metrics.get("scores") or {}
    kept = scores.get(model)
    if not kept or scores.get("windows") != windows_key(songs, block_size):
        return None
    if model == "base" and (files_hash is None or kept.get("model_hash") != files_hash):
        return None
    return score_of(kept["loss"], kept["tokens"], songs)


def _score(run: Run, songs: list[dict[str, Any]], block_size: int,
           voted: list[Vote] | None = None) -> tuple[Score, float | None, bool]:
    """Score a run on validation songs and, when given voted songs, how it orders their pairs;
    say whether it was scored here (its evaluation's score of the same windows stands)."""
    backend = try_load(run)  # the load check, whatever is kept
    score = kept_score(run, "fine_tuned", songs, block_size)
    fresh = score is None
    if score is None:
        score = score_songs(backend.model, backend.tokenizer, backend.info.spec, songs,
                            block_size)
    share = pair_share(backend.model, backend.tokenizer, voted, block_size) if voted else None
    return score, share, fresh


def _score_base(name: str, run: Run, songs: list[dict[str, Any]],
                block_size: int) -> tuple[Score, bool]:
    """Score the base model a run started from (a hub id or folder) on the same songs, or take
    the run's evaluation's score of those very files; say whether it was scored here."""
    from model.serving.backends import locate
    from model.serving.hf import TransformersBackend

    folder = local_folder(name)
    kept = kept_score(run, "base", songs, block_size, folder and model_hash(folder))
    if kept is not None:
        return kept, False
    try:
        backend = TransformersBackend.load(locate(name), model_id=name)
    except Exception as e:  # unreachable, deleted, broken: the comparison cannot be made
        raise RegistryError(f"cannot compare with the base model {name!r}: {one_line(e)}; publish "
                            "--force to publish without the comparison") from e
    return score_songs(backend.model, backend.tokenizer, backend.info.spec, songs,
                       block_size), True


def _convert(run: Run, exporter: str | None) -> str:
    """Write the run's conversions; say in one line each what was written, or why not.

    One its evaluation already wrote is kept: a trained run's weights never change, and a
    conversion is only ever put in place whole."""
    if not ct2_available():
        said = "no CTranslate2 conversion (the ctranslate2 package is not installed)"
    else:
        try:
            if not has_conversion(run.path):
                convert_folder(run.path)
            said = "converted for CTranslate2"
        except TrainingError as e:  # transformers still serves it; say why auto will not use CT2
            said = f"no CTranslate2 conversion: {e}"
    if exporter is None:  # OpenVINO not asked for (OPENVINO_EXPORTER unset)
        return said
    try:
        if not has_ir(run.path):
            convert_openvino(run.path, exporter)
    except TrainingError as e:  # the other backends still serve it
        return f"{said}; no OpenVINO conversion: {e}"
    return f"{said}; converted for OpenVINO"


def publish(registry: Registry, run_id: str, force: bool = False,
            exporter: str | None = None) -> Published:
    """Make `run_id` the served model, unless it is broken or worse than what it replaces.

    It replaces the current model, or (the first publish) the base model the run started from,
    which the bot serves until then. Both are scored on the new run's validation songs, so the
    comparison is fair even when the corpus changed; per word when their tokenizers differ.
    A run that is not evaluated (its evaluation failed) is refused. `force` skips the
    comparison and the evaluation, never the load check. `exporter` (OPENVINO_EXPORTER) also
    writes an OpenVINO IR.
    """
    run = registry.run(run_id)
    registry.check(run)
    if not run.evaluated and not force:
        raise RegistryError(f"run {run.id} is {run.status.describe()}; finish it with "
                            f"`python -m training evaluate {run.id}` first, or publish --force "
                            "to publish it without its evaluation")
    current = registry.current()
    if current is not None and current.id == run.id:
        raise RegistryError(f"run {run.id} is already the current model")
    block_size = (run.manifest or {}).get("options", {}).get("block_size", 512)
    songs = run.val_songs()
    voted = held_out(run.path)  # a preference-tuned run's held-out votes; none for others
    new, new_share, fresh = _score(run, songs, block_size, voted)
    scored = (run.id,) if fresh else ()
    per, perplexity, previous_perplexity, against = "token", new.perplexity, None, None
    base = (run.manifest or {}).get("base_model")
    if current is not None or (base and not force):
        old_share = None
        if current is not None:
            old, old_share, fresh = _score(current, songs, block_size, voted)
            against, compared = f"the current model {current.id}", current.id
        else:
            old, fresh = _score_base(base, run, songs, block_size)
            against, compared = f"its base model {base}", base
        scored += (compared,) if fresh else ()
        same_tokens = old.tokens == new.tokens
        per = "token" if same_tokens else "word"
        perplexity = new.perplexity if same_tokens else new.word_perplexity
        previous_perplexity = old.perplexity if same_tokens else old.word_perplexity
        allowed = previous_perplexity * (1 + (PERPLEXITY_SLACK if voted else 0.0))
        if not perplexity <= allowed and not force:  # NaN is never better
            slack = f" by more than {PERPLEXITY_SLACK:.0%}" if voted else ""
            raise RegistryError(
                f"run {run.id} has validation perplexity {perplexity:.2f} per {per}, worse{slack} "
                f"than {against} at {previous_perplexity:.2f} on the same songs; "
                "publish --force to publish it anyway")
        if current is not None:
            refusal = gate(run.id, current.id, (new_share, old_share))
            if refusal and not force:
                raise RegistryError(refusal)
    converted = _convert(run, exporter)
    write_json_atomic(registry.history_path, [*registry.history(), run.id])
    point_current(registry, run)
    return Published(run, current, perplexity, previous_perplexity, per, converted, against,
                     scored)


def prune(registry: Registry, dry_run: bool = False) -> list[tuple[Run, str]]:
    """Delete failed and abandoned runs, and trained runs older than the current one, except
    the current run and the previous (rollback's target); return what went and why.

    Runs in progress and runs newer than the current one (a candidate not yet published, or a
    trained run whose evaluation failed, waiting for `evaluate`) stay: a run that is not
    evaluated is not a failed one.
    Each folder is renamed to a hidden name first, so it vanishes from the registry at once.
    """
    current = registry.current()
    keep = {current.id} if current else set()
    if current is not None:
        with contextlib.suppress(RegistryError):  # raised when only one was ever published
            keep.add(rollback_target(registry)[0].id)
    doomed = []
    for run in registry.runs():
        status = run.status
        if run.id in keep or status.state == "running":
            continue
        if status.state in ("failed", "abandoned"):
            doomed.append((run, status.describe()))
        elif current is not None and run.id < current.id:
            published = run.id in registry.history()
            doomed.append((run, "an older published run" if published else
                           "older than the current run and never published"))
    if dry_run:
        return doomed
    gone = {run.id for run, _ in doomed}
    if gone & set(registry.history()):
        write_json_atomic(registry.history_path,
                          [i for i in registry.history() if i not in gone])
    for run, _ in doomed:
        hidden = run.path.with_name(f".pruned-{run.id}")
        os.replace(run.path, hidden)
        shutil.rmtree(hidden)
    return doomed
