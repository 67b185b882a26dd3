"""Fine-tune a causal LM on a corpus, with the Hugging Face Trainer.

Read top to bottom: load corpus and base model, add album tokens, pack blocks, pick defaults for
a small corpus, train with early stopping, save the best model into the run folder. The run's
options are saved first (`run.json`) so that `--resume` continues with exactly the same ones.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    EarlyStoppingCallback,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    default_data_collator,
)
from transformers.trainer_callback import PrinterCallback

from model.files import write_bytes_atomic, write_json_atomic
from model.tokens import spec_of
from training.dataset import Blocks, add_album_tokens, load_corpus, pack, tokenize_songs
from training.errors import TrainingError
from training.options import TrainOptions
from training.progress import Progress


class _ProgressCallback(TrainerCallback):
    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None,
               **kwargs: Any) -> None:
        logs = logs or {}
        self.progress.emit("train", step=state.global_step, total=state.max_steps,
                           loss=logs.get("loss"), eval_loss=logs.get("eval_loss"),
                           epoch=round(state.epoch or 0, 2))


def _precision() -> dict[str, bool]:
    if not torch.cuda.is_available():
        return {}  # fp32 on CPU: half precision there is slower and less accurate
    if torch.cuda.is_bf16_supported():
        return {"bf16": True}  # Ampere and newer: bf16 needs no loss scaling
    return {"fp16": True}


def start_run(run_dir: Path, corpus_dir: Path, options: TrainOptions) -> None:
    """Create a run folder holding a copy of its corpus and the options it will train with.

    The copy makes a run self-contained: `--resume` trains on the same songs even if the corpus
    was rebuilt since, and publishing compares models on the run's own validation songs.
    """
    corpus = load_corpus(corpus_dir)  # refuse a broken corpus before making anything
    run_dir.mkdir(parents=True, exist_ok=False)
    for name in ("train.jsonl", "val.jsonl", "manifest.json"):
        write_bytes_atomic(run_dir / "data" / name, (corpus.path / name).read_bytes())
    write_json_atomic(run_dir / "run.json", {"corpus": str(corpus_dir.resolve()),
                                             "options": asdict(options)})


def read_options(run_dir: Path) -> TrainOptions:
    """Return the options a run was started with."""
    try:
        data = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise TrainingError(f"{run_dir} has no readable run.json; cannot resume it") from e
    return TrainOptions.from_json(data["options"])


def last_complete_checkpoint(folder: Path) -> Path | None:
    """Return the newest checkpoint that was completely saved; delete any half-saved newer one.

    The Trainer writes a checkpoint in place and its trainer_state.json last, so a run killed
    while saving leaves a newest folder without a readable state: resuming from it would fail.
    """
    if not folder.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in folder.iterdir()
             if (m := re.fullmatch(r"checkpoint-(\d+)", p.name)) and p.is_dir()]
    for _, path in sorted(found, reverse=True):
        try:
            json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
            return path
        except (OSError, json.JSONDecodeError):
            shutil.rmtree(path, ignore_errors=True)
    return None


def train(run_dir: Path, progress: Progress, resume: bool = False) -> dict[str, Any]:
    """Fine-tune as recorded in `run_dir/run.json`; save the best model in `run_dir`."""
    options = read_options(run_dir)
    corpus = load_corpus(run_dir / "data")
    last = last_complete_checkpoint(run_dir / "checkpoints") if resume else None
    if resume and last is None:
        raise TrainingError(f"{run_dir} has no checkpoint to resume from; start a new run")

    try:
        tokenizer = AutoTokenizer.from_pretrained(options.base_model)
        model = AutoModelForCausalLM.from_pretrained(options.base_model)
    except (OSError, ValueError) as e:
        raise TrainingError(f"cannot load base model {options.base_model!r}: {e}") from e
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token  # padding is masked out anyway
    albums = corpus.albums if options.album_headers else []
    add_album_tokens(tokenizer, model, albums)

    block_size = min(options.block_size, model.config.max_position_embeddings)
    known = set(albums)
    spec = spec_of(tokenizer)
    train_blocks = pack(tokenize_songs(tokenizer, spec, corpus.train, known), block_size,
                        tokenizer.pad_token_id)
    val_blocks = pack(tokenize_songs(tokenizer, spec, corpus.val, known), block_size,
                      tokenizer.pad_token_id)

    # Evaluate (and checkpoint) twice an epoch: with ~20 steps an epoch that is every ~10 steps.
    steps_per_epoch = math.ceil(len(train_blocks) / (options.batch_size * options.grad_accum))
    eval_every = max(1, steps_per_epoch // 2)
    args = TrainingArguments(
        output_dir=str(run_dir / "checkpoints"),
        per_device_train_batch_size=options.batch_size,
        per_device_eval_batch_size=options.batch_size,
        gradient_accumulation_steps=options.grad_accum,
        learning_rate=options.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=options.warmup_ratio,  # transformers 5: a float < 1 is a share of all steps
        weight_decay=options.weight_decay,
        max_grad_norm=options.max_grad_norm,
        num_train_epochs=options.epochs,
        max_steps=options.max_steps,
        eval_strategy="steps",
        eval_steps=eval_every,
        save_strategy="steps",
        save_steps=eval_every,
        save_total_limit=2,  # the best and the latest
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        logging_steps=max(1, min(10, eval_every // 2)),
        seed=options.seed,
        data_seed=options.seed,
        report_to="none",
        disable_tqdm=not progress.bars,
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        **_precision(),
    )
    trainer = Trainer(
        model=model,
        args=args,
        data_collator=default_data_collator,
        train_dataset=Blocks(train_blocks),
        eval_dataset=Blocks(val_blocks),
        processing_class=tokenizer,
        callbacks=[EarlyStoppingCallback(early_stopping_patience=options.patience),
                   _ProgressCallback(progress)],
    )
    trainer.remove_callback(PrinterCallback)  # it prints raw dicts; our callback reports instead
    started = time.monotonic()
    result = trainer.train(resume_from_checkpoint=str(last) if last else None)
    trainer.save_model(str(run_dir))  # the best model, thanks to load_best_model_at_end
    tokenizer.save_pretrained(str(run_dir))
    (run_dir / "training_args.bin").unlink(missing_ok=True)  # a pickle; run.json says it all
    write_json_atomic(run_dir / "train_log.json", trainer.state.log_history)

    steps = trainer.state.global_step
    return {
        "steps": steps,
        "epochs": round(trainer.state.epoch or 0, 2),
        "best_eval_loss": trainer.state.best_metric,
        "train_blocks": len(train_blocks),
        "val_blocks": len(val_blocks),
        "block_size": block_size,
        "albums": albums,
        "tokens_per_second": round(result.metrics.get("train_samples_per_second", 0) * block_size),
        "train_seconds": round(time.monotonic() - started, 1),
        "resumed_from": Path(last).name if last else None,
    }
