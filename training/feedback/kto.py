"""Preference tuning from listeners' 👍/👎 with KTO (TRL's KTOTrainer), after the fine-tune.

KTO learns from unpaired thumbs: each voted song is (what the model was given, what it wrote,
liked or not), and no two songs need share a prompt. LoRA adapters train on the fine-tuned run,
whose own weights, adapters off, are the reference the KL term keeps it close to; the adapters are
merged at the end, so the run stays an ordinary model folder.

TRL's advice for KTO, followed by the defaults (training/tuning/options.py): a per-step batch of at
least 4 (the KL term is estimated from the batch's other songs), a learning rate at or under 1e-6
with beta 0.1, and weights that make desirable x count equal undesirable x count. The optional
`.[feedback]` extra installs TRL; its KTOTrainer moved between releases (`trl.experimental.kto`,
now `trl`), so the extra pins a release.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
from transformers.trainer_callback import PrinterCallback

from model.registry.files import write_json_atomic
from training.errors import TrainingError
from training.feedback.likelihood import continuation, pair_share
from training.feedback.votes import Vote
from training.progress import Progress
from training.tuning import lora
from training.tuning.options import TrainOptions

KTO_FILE = "kto.json"  # in the run folder: written once the run is preference-tuned


def _trl() -> tuple[Any, Any]:
    try:
        from trl import KTOConfig, KTOTrainer
    except ImportError as e:
        raise TrainingError("preference tuning needs TRL: pip install -e \".[feedback]\"") from e
    return KTOConfig, KTOTrainer


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # TRL and datasets announce every preprocessing pass; our progress says where we are.
    from datasets.utils import logging as datasets_logging

    loggers = [logging.getLogger(name) for name in ("trl", "datasets")]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.ERROR)
    bars = datasets_logging.is_progress_bar_enabled()
    datasets_logging.disable_progress_bar()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="trl")
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated")
        try:
            yield
        finally:
            for log, level in zip(loggers, levels, strict=True):
                log.setLevel(level)
            if bars:
                datasets_logging.enable_progress_bar()


class _Ticks(TrainerCallback):
    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.progress.tick(state.global_step, state.max_steps)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.progress.close()


def weights(liked: int, disliked: int) -> tuple[float, float]:
    """Return (desirable, undesirable) loss weights making weight x count equal for both."""
    if liked == 0 or disliked == 0:
        raise TrainingError("KTO needs both 👍 and 👎 songs")
    return (disliked / liked, 1.0) if disliked > liked else (1.0, liked / disliked)


def tune(run_dir: Path, votes: list[Vote], held: list[Vote], options: TrainOptions,
         progress: Progress) -> dict[str, Any]:
    """KTO-tune the model saved in `run_dir` on `votes`; save it back, merged; return (and keep
    in kto.json) what was done, with the held-out pairs' ordering before and after."""
    kto_config, kto_trainer = _trl()
    from datasets import Dataset

    liked = sum(v.label for v in votes)
    desirable, undesirable = weights(liked, len(votes) - liked)
    if len(votes) < options.kto_batch_size:
        raise TrainingError(f"{len(votes)} voted songs to tune on: fewer than one batch of "
                            f"{options.kto_batch_size}")
    cuda = torch.cuda.is_available()
    half = cuda and torch.cuda.is_bf16_supported()
    tokenizer = AutoTokenizer.from_pretrained(run_dir)
    # fp32 weights, as the fine-tune saved them: merging the adapters into bf16 would round them.
    model = AutoModelForCausalLM.from_pretrained(run_dir, dtype=torch.float32)
    if cuda:
        model.to("cuda")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    max_length = min(options.block_size, model.config.max_position_embeddings)
    model.eval()
    before = pair_share(model, tokenizer, held, max_length)
    rows = [dict(zip(("prompt", "completion"), continuation(v), strict=True), label=v.label)
            for v in votes]
    # KTO samples in order (each batch's KL term pairs its songs with their neighbours'
    # prompts), so mix the labels once, reproducibly.
    dataset = Dataset.from_list(rows).shuffle(seed=options.seed)
    args = kto_config(
        output_dir=str(run_dir / "kto-checkpoints"),
        per_device_train_batch_size=options.kto_batch_size,
        learning_rate=options.kto_learning_rate,
        beta=options.kto_beta,
        num_train_epochs=options.kto_epochs,
        desirable_weight=desirable,
        undesirable_weight=undesirable,
        max_length=max_length,
        lr_scheduler_type="cosine",
        warmup_steps=options.warmup_ratio,  # transformers 5: a float < 1 is a share of all steps
        max_grad_norm=options.max_grad_norm,
        activation_checkpointing=False,  # a LoRA pass over a few hundred songs fits as it is
        save_strategy="no",
        logging_steps=1,
        report_to="none",
        disable_tqdm=True,
        seed=options.seed,
        data_seed=options.seed,
        dataloader_num_workers=0,
        use_cpu=not cuda,
        bf16=half,
        fp16=cuda and not half,
    )
    started = time.monotonic()
    with _quiet():
        trainer = kto_trainer(model=model, args=args, train_dataset=dataset,
                              processing_class=tokenizer, callbacks=[_Ticks(progress)],
                              peft_config=lora.config(model, options.lora_rank,
                                                      options.lora_alpha))
        trainer.remove_callback(PrinterCallback)  # raw dicts; our progress reports instead
        trainer.train()
    seconds = time.monotonic() - started
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    tuned = lora.merge(trainer.model)
    tuned.eval()
    after = pair_share(tuned, tokenizer, held, max_length)
    tuned.save_pretrained(str(run_dir))
    summary = {
        "desirable": liked, "undesirable": len(votes) - liked, "held_out": len(held),
        "desirable_weight": round(desirable, 4), "undesirable_weight": round(undesirable, 4),
        "learning_rate": options.kto_learning_rate, "beta": options.kto_beta,
        "batch_size": options.kto_batch_size, "epochs": options.kto_epochs,
        "steps": trainer.state.global_step,
        "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None,
        "share_before": before and round(before, 4), "share_after": after and round(after, 4),
        "seconds": round(seconds, 1),
    }
    write_json_atomic(run_dir / KTO_FILE, summary)
    return summary
