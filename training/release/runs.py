"""A run's record while it is made (training/pipeline.py makes it): its lock and status.json,
its sampling defaults, its manifest, its evaluation.

The manifest is written as soon as the weights are saved: it marks the run trained, and nothing
after it can lose the run. Evaluation then adds its metrics to the manifest. An evaluation that
fails leaves the run trained but not evaluated, with its one-line reason in status.json and the
traceback in the run's evaluate.log; `python -m training evaluate RUN` finishes it.
While a process trains or evaluates a run it holds the run's lock and keeps status.json naming
the stage, so `python -m training models` can tell a run in progress from one that failed (and
where), was killed, or is not evaluated. With several training processes, process 0 alone does
all of this; the others train.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from transformers import GenerationConfig

from model.registry.files import write_bytes_atomic, write_json_atomic
from model.registry.runs import LOCK_FILE, STATUS_FILE
from model.serving.protocol import Sampling
from model.serving.tokens import model_end_ids
from training.data.dataset import load_corpus
from training.errors import TrainingError, one_line
from training.evaluation.evaluate import evaluate
from training.progress import Progress
from training.tuning.finetune import read_options

EVALUATE_LOG = "evaluate.log"  # the traceback of the run's last failed evaluation


class EvaluationFailed(TrainingError):
    """A trained run's evaluation failed: the run is kept, and `evaluate RUN` finishes it."""

    def __init__(self, run_id: str, reason: str, evaluated_before: bool, log: Path) -> None:
        self.run_id = run_id
        self.reason = reason  # one line: what status.json and `models` show
        what = (f"evaluating run {run_id} again failed (its earlier metrics are kept)"
                if evaluated_before else f"run {run_id} is trained but not evaluated")
        super().__init__(f"{what}: {reason} (traceback in {log})")


class Tracker:
    """Hold a run's lock while this process makes it; keep its status.json up to date.

    The lock is taken on creation (`create` makes the folder first, so no other process ever
    sees the run unlocked) and released when the `with` block ends, recording how it ended.
    """

    def __init__(self, run_dir: Path, create: bool = False) -> None:
        self.run_dir = run_dir
        self.current: str | None = None
        if create:
            run_dir.mkdir(parents=True, exist_ok=False)
        self._fd = os.open(run_dir / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o644)
        for _ in range(50):  # a reader checking the lock holds it for microseconds
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                time.sleep(0.02)
        else:
            os.close(self._fd)
            raise TrainingError(f"run {run_dir.name} is being trained or evaluated by another "
                                "process")
        self.stage("start")

    def __enter__(self) -> Tracker:
        return self

    def stage(self, name: str) -> None:
        """Record that the run has entered stage `name`."""
        self.current = name
        self._write("running")

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: Any) -> None:
        if kind is KeyboardInterrupt:
            self._write("interrupted")
        elif isinstance(error, EvaluationFailed):
            self._write("failed", error.reason)
        elif error is not None:
            self._write("failed", str(error) or type(error).__name__)
        else:
            self._write("complete")
        os.close(self._fd)  # releases the lock

    def _write(self, state: str, message: str | None = None) -> None:
        write_json_atomic(self.run_dir / STATUS_FILE, {
            "state": state, "stage": self.current, "message": message,
            "updated": datetime.now(UTC).isoformat(timespec="seconds")})


def save_sampling_defaults(run_dir: Path) -> None:
    """Save our sampling defaults into a trained run, keeping the end tokens its base model
    declared (Qwen2 lists two)."""
    GenerationConfig(**Sampling().to_generation_config(),
                     eos_token_id=model_end_ids(run_dir) or None).save_pretrained(run_dir)


def evaluate_run(run_dir: Path, progress: Progress, cache: Path | None = None,
                 songs: int | None = None, exporter: str | None = None) -> dict[str, Any]:
    """Evaluate a trained run (again), holding its lock, and write its metrics into the
    manifest; return the manifest. Raise EvaluationFailed when the evaluation fails.

    `cache` keeps the base model's CTranslate2 conversion between evaluations; `songs` overrides
    the run's --eval-songs; `exporter` (OPENVINO_EXPORTER) writes the songs on OpenVINO."""
    if not (run_dir / "manifest.json").is_file():
        raise TrainingError(f"run {run_dir.name} has no trained model to evaluate (no "
                            "manifest.json)")
    with Tracker(run_dir) as tracker:
        return evaluate_trained(run_dir, tracker, progress, cache, songs, exporter)


def evaluate_trained(run_dir: Path, tracker: Tracker, progress: Progress, cache: Path | None,
                     songs: int | None = None, exporter: str | None = None) -> dict[str, Any]:
    """Evaluate a trained run whose lock `tracker` holds and write its metrics into the manifest;
    on any failure, keep the run and raise EvaluationFailed saying why in one line."""
    tracker.stage("evaluate")
    previous = _read_manifest(run_dir)
    log = run_dir / EVALUATE_LOG
    try:
        options = read_options(run_dir)
        corpus = load_corpus(run_dir / "data")
        progress.stage("evaluate", run=run_dir.name)
        metrics = evaluate(run_dir, corpus, options.base_model, options.block_size, progress,
                           songs=songs or options.eval_songs, cache=cache, exporter=exporter,
                           scored=(previous.get("training") or {}).get("val_score"))
    except Exception as e:  # whatever broke, the trained weights stay; the reason is recorded
        write_bytes_atomic(log, traceback.format_exc().encode())
        reason = one_line(e)
        progress.emit("evaluate", event="failed", run=run_dir.name, reason=reason)
        raise EvaluationFailed(run_dir.name, reason, bool(previous.get("metrics")), log) from e
    log.unlink(missing_ok=True)  # an earlier failure's traceback no longer applies
    return write_manifest(run_dir, training=previous.get("training"), metrics=metrics)


def write_manifest(run_dir: Path, training: dict[str, Any] | None,
                    metrics: dict[str, Any] | None) -> dict[str, Any]:
    """Write the run's manifest: what data, base model and options made it, and its metrics
    (None until it is evaluated); return it."""
    options = read_options(run_dir)
    corpus = load_corpus(run_dir / "data")
    previous = _read_manifest(run_dir)
    manifest = {
        "run": run_dir.name,
        "created": previous.get("created") or datetime.now(UTC).isoformat(timespec="seconds"),
        "base_model": options.base_model,
        "corpus": {"artist": corpus.manifest.get("artist"),
                   "content_hash": corpus.manifest.get("content_hash"),
                   "counts": corpus.manifest.get("counts")},
        "albums": corpus.albums if options.album_headers else [],
        "options": options.__dict__,
        "training": training,
        "metrics": metrics,
    }
    write_json_atomic(run_dir / "manifest.json", manifest)
    return manifest


def _read_manifest(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "manifest.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
