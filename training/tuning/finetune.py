"""Fine-tune a causal LM on a corpus, with the Hugging Face Trainer.

Read top to bottom: load the corpus and any `AutoModelForCausalLM` base, add album tokens,
optionally wrap it with LoRA adapters, pack blocks, train with our evaluation and checkpoint
policy (training/tuning/trainer.py), put the best weights back, merge LoRA, save. The run's options
are saved first (`run.json`) so that `--resume` continues with exactly the same ones.
"""

from __future__ import annotations

import json
import math
import os
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
    TrainerCallback,
    TrainingArguments,
    default_data_collator,
    set_seed,
)
from transformers.trainer_callback import PrinterCallback

from model.errors import RegistryError
from model.lyrics.songtext import album_token
from model.registry.files import write_bytes_atomic, write_json_atomic
from model.serving.backends import locate
from model.serving.protocol import context_of
from model.serving.tokens import spec_of
from training.data.dataset import (
    Blocks,
    add_album_tokens,
    load_corpus,
    pack,
    score_batches,
    tokenize_songs,
)
from training.errors import TrainingError
from training.evaluation.scoring import score_windows, windows_key
from training.precision import cpu_bf16
from training.progress import Progress
from training.tuning import distributed, lora
from training.tuning.options import TrainOptions
from training.tuning.trainer import BEST_FILE, LyricsTrainer

__all__ = ["TrainOptions", "read_options", "start_run", "train"]


class _ProgressCallback(TrainerCallback):
    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.progress.tick(state.global_step, state.max_steps)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None,
               **kwargs: Any) -> None:
        logs = logs or {}
        self.progress.emit("train", step=state.global_step, total=state.max_steps,
                           loss=logs.get("loss"), eval_loss=logs.get("eval_loss"),
                           epoch=round(state.epoch or 0, 2))

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.progress.close()


def _on_cuda() -> bool:
    # `accelerate launch --cpu` trains on CPU even where a GPU is present.
    return torch.cuda.is_available() and os.environ.get("ACCELERATE_USE_CPU", "").lower() \
        not in ("1", "true", "yes")


def _half() -> torch.dtype:
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16  # pre-Ampere


def start_run(run_dir: Path, corpus_dir: Path, options: TrainOptions) -> None:
    """Create a run folder holding a copy of its corpus and the options it will train with.

    The copy makes a run self-contained: `--resume` trains on the same songs even if the corpus
    was rebuilt since, and publishing compares models on the run's own validation songs.
    """
    corpus = load_corpus(corpus_dir)  # refuse a broken corpus before making anything
    # training/release/runs.py may have made it (and locked it)
    run_dir.mkdir(parents=True, exist_ok=True)
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
            if distributed.is_main():
                shutil.rmtree(path, ignore_errors=True)
    return None


def load_base(options: TrainOptions, cuda: bool) -> tuple[Any, Any]:
    """Load the base model and its tokenizer, in the precision training keeps its weights in.

    A full fine-tune keeps fp32 weights (AdamW's small updates vanish in bf16) and computes in
    bf16 (fp16 on older cards) on CUDA through autocast. LoRA freezes the base, so on CUDA it
    is loaded in half precision: half the memory. CPU weights are fp32 (a CPU with native bf16
    computes in it through autocast: training/precision.py).
    """
    dtype = _half() if cuda and options.lora else torch.float32
    try:
        source = locate(options.base_model)  # offline: fail in seconds, or use the local cache
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    except (OSError, ValueError, RegistryError) as e:
        raise TrainingError(f"cannot load base model {options.base_model!r}: {e}") from e
    if tokenizer.eos_token is None:
        raise TrainingError(f"{options.base_model!r} has no end-of-text token (eos_token), so a "
                            "song's end cannot be marked")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token  # padding is masked out anyway
    model.config.pad_token_id = model.generation_config.pad_token_id = tokenizer.pad_token_id
    return tokenizer, model


def train(run_dir: Path, progress: Progress, resume: bool = False) -> dict[str, Any]:
    """Fine-tune as recorded in `run_dir/run.json`; save the best model in `run_dir`.

    With `resume`, continue from the newest complete checkpoint, or from the start when the
    run was stopped before its first one (the same seed makes that exact too).
    """
    options = read_options(run_dir)
    corpus = load_corpus(run_dir / "data")
    last = last_complete_checkpoint(run_dir / "checkpoints") if resume else None
    cuda = _on_cuda()
    world = distributed.world_size()
    if options.batch_size % world:
        raise TrainingError(f"--batch-size {options.batch_size} does not split over {world} "
                            "processes; pick a multiple")

    set_seed(options.seed)  # album rows and LoRA adapters start the same in every run
    tokenizer, model = load_base(options, cuda)
    albums = corpus.albums if options.album_headers else []
    add_album_tokens(tokenizer, model, albums)
    targets: list[str] = []
    if options.lora:
        album_ids = tokenizer.convert_tokens_to_ids([album_token(a) for a in albums])
        targets = lora.target_modules(model)
        model = lora.add_adapters(model, options.lora_rank, options.lora_alpha, album_ids)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)

    block_size = min(options.block_size, context_of(model.config.to_dict()))
    spec = spec_of(tokenizer)
    train_blocks = pack(tokenize_songs(tokenizer, spec, corpus.train, set(albums)), block_size,
                        tokenizer.pad_token_id)
    scoring = score_batches(score_windows(tokenizer, spec, corpus.val, block_size),
                            options.batch_size // world, tokenizer.pad_token_id)

    # With ~150 blocks of 512 (a 200-song corpus) and batch 8: ~19 steps an epoch, so an
    # evaluation every ~9 steps. It costs ~5-7% of the time (val is ~10% of the songs, and a
    # forward pass a third of a training step); checkpoints were what cost, see trainer.py.
    steps_per_epoch = math.ceil(len(train_blocks) / (options.batch_size * options.grad_accum))
    eval_every = max(1, steps_per_epoch // max(1, options.evals_per_epoch))
    args = TrainingArguments(
        output_dir=str(run_dir / "checkpoints"),
        per_device_train_batch_size=options.batch_size // world,
        gradient_accumulation_steps=options.grad_accum,
        learning_rate=options.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=options.warmup_ratio,  # transformers 5: a float < 1 is a share of all steps
        weight_decay=options.weight_decay,
        max_grad_norm=options.max_grad_norm,
        num_train_epochs=options.epochs,
        max_steps=options.max_steps,
        eval_strategy="no",  # LyricsTrainer evaluates every `eval_every` steps, its own way
        save_strategy="no",  # and asks for checkpoints on its clock
        save_total_limit=1,  # a newer complete checkpoint replaces the older one
        logging_steps=max(1, min(10, eval_every // 2)),
        seed=options.seed,
        data_seed=options.seed,
        report_to="none",
        log_level_replica="error",  # the other processes keep quiet; process 0 reports
        disable_tqdm=True,  # our Progress shows one bar; the Trainer's would nest eval bars
        dataloader_num_workers=0,  # blocks are tensors in memory already
        dataloader_pin_memory=cuda,
        ddp_find_unused_parameters=False,  # every weight that trains is used in every step
        use_cpu=not cuda,
        bf16=(cuda and _half() == torch.bfloat16) or (not cuda and options.cpu_bf16
                                                       and cpu_bf16()),
        fp16=cuda and _half() == torch.float16,
    )
    optimizer = None
    if options.lora and options.lora_plus != 1:
        optimizer = lora.optimizer(model, options.learning_rate, options.weight_decay,
                                   options.lora_plus)
    trainer = LyricsTrainer(
        model=model,
        args=args,
        data_collator=default_data_collator,
        train_dataset=Blocks(train_blocks),
        processing_class=tokenizer,
        callbacks=[_ProgressCallback(progress)],
        score_batches=scoring,
        eval_every=eval_every,
        patience=options.patience,
        checkpoint_minutes=options.checkpoint_minutes,
        optimizers=(optimizer, None),  # None: the Trainer's own
    )
    trainer.remove_callback(PrinterCallback)  # it prints raw dicts; our callback reports instead
    if not distributed.is_main():
        trainer.remove_callback(_ProgressCallback)
    if last:
        trainer.best.load(last / BEST_FILE)
    started = time.monotonic()
    trainer.train(resume_from_checkpoint=str(last) if last else None)
    train_seconds = time.monotonic() - started
    if trainer.best.taken:
        trainer.best.restore()  # the best evaluation's weights, not the last step's
    if distributed.is_main():
        saved = time.monotonic()
        final = lora.merge(model) if options.lora else model
        final.save_pretrained(str(run_dir))
        tokenizer.save_pretrained(str(run_dir))
        write_json_atomic(run_dir / "train_log.json", trainer.state.log_history)
        trainer.timing["save"] = time.monotonic() - saved

    steps = trainer.state.global_step
    done = steps - (int(last.name.rsplit("-", 1)[1]) if last else 0)  # steps trained this time
    return {
        "steps": steps,
        "epochs": round(trainer.state.epoch or 0, 2),
        "best_eval_loss": trainer.state.best_metric,
        "best_step": trainer.state.best_global_step,
        # The kept weights' validation score, which evaluation reports rather than scoring the
        # same windows again (~25 s for 135M on 2 cores); None after a resume.
        "val_score": trainer.best_score and {**trainer.best_score,
                                             "windows": windows_key(corpus.val, block_size)},
        "eval_every": eval_every,
        "train_blocks": len(train_blocks),
        "val_windows": sum(len(b["input_ids"]) for b in scoring),
        "block_size": block_size,
        "albums": albums,
        "trainable_parameters": trainable,
        "lora_targets": targets,
        "processes": world,
        "tokens_per_second": round(done * options.batch_size * block_size
                                   / max(train_seconds, 1e-9)),
        "train_seconds": round(train_seconds, 1),
        "timing": {k: round(v, 2) for k, v in trainer.timing.items()},
        "resumed_from": last.name if last else None,
    }

