"""A run from start to finish: train, save sampling defaults, evaluate, write the manifest.

The manifest is written last and marks the run complete; until then the registry refuses it.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from transformers import GenerationConfig

from model.backend import Sampling
from model.files import write_json_atomic
from model.tokens import model_end_ids
from training.dataset import load_corpus
from training.evaluate import evaluate
from training.finetune import read_options, train
from training.progress import Progress


def finish_run(run_dir: Path, progress: Progress, resume: bool = False) -> dict[str, Any]:
    """Train the run in `run_dir` (or resume it), evaluate it, and mark it complete."""
    progress.stage("train", run=run_dir.name)
    summary = train(run_dir, progress, resume=resume)
    # Our sampling defaults, keeping the end tokens the base model declared (Qwen2 lists two).
    GenerationConfig(**Sampling().to_generation_config(),
                     eos_token_id=model_end_ids(run_dir) or None).save_pretrained(run_dir)
    manifest = evaluate_run(run_dir, progress, training=summary)
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)  # the best model is saved
    return manifest


def evaluate_run(run_dir: Path, progress: Progress,
                 training: dict[str, Any] | None = None) -> dict[str, Any]:
    """Evaluate a trained run and (re)write its manifest with the metrics."""
    options = read_options(run_dir)
    corpus = load_corpus(run_dir / "data")
    progress.stage("evaluate", run=run_dir.name)
    metrics = evaluate(run_dir, corpus, options.base_model, options.block_size, progress)
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
        "training": training or previous.get("training"),
        "metrics": metrics,
    }
    write_json_atomic(run_dir / "manifest.json", manifest)
    return manifest


def _read_manifest(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "manifest.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
