"""The Hugging Face Trainer with our evaluation and checkpoint policy.

The Trainer's own policy wrote a full checkpoint (weights and optimizer state: 1.5 GB and ~4 s
for GPT-2 124M) at every evaluation, every ~10 steps, when a step of that model takes tens of
milliseconds on a data-centre GPU: the checkpoints cost more than the training. So:

- Evaluation scores the lyric tokens the report scores (not the BOS, the album header or the
  first lyric token; see `training.evaluation.scoring.score_windows`), as a sum over tokens, in
  one plain pass: the validation curve and report.md's perplexity are the same measure.
- The best weights so far are kept in host memory (pinned on CUDA, so copying them does not
  stall the GPU), not written at each evaluation: only the trainable ones (every weight for a
  full fine-tune; the adapters and album rows for LoRA).
- A full resumable checkpoint, with those best weights inside, is written at the first
  evaluation after `checkpoint_minutes` (process 0's clock decides for every process).
- Training stops after `patience` evaluations without a better validation loss.
- The best evaluation's score (loss, next-token accuracy, tokens) is kept as `best_score`:
  evaluation reports it for the kept weights instead of scoring the same windows again.

Evaluation and checkpoints stay at fixed steps, so a resumed run ends where one that was never
interrupted ends, whenever its checkpoints happened to be written.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from transformers import Trainer, TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from training.evaluation.scoring import perplexity

BEST_FILE = "best.safetensors"  # inside a checkpoint: the best weights when it was written


class BestWeights:
    """The trainable weights at the best evaluation so far, kept in host memory."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.params = {n: p for n, p in model.named_parameters() if p.requires_grad}
        pin = next(iter(self.params.values())).is_cuda
        self.kept = {n: torch.empty(p.shape, dtype=p.dtype, device="cpu", pin_memory=pin)
                     for n, p in self.params.items()}
        self.taken = False

    @torch.no_grad()
    def take(self) -> None:
        """Copy the current weights (queued on the GPU's stream: training waits for nothing)."""
        for name, param in self.params.items():
            self.kept[name].copy_(param.detach(), non_blocking=True)
        self.taken = True

    @torch.no_grad()
    def restore(self) -> None:
        """Put the kept weights back into the model."""
        self._settle()
        for name, param in self.params.items():
            param.copy_(self.kept[name])

    def save(self, path: Path) -> None:
        """Write the kept weights, atomically (a checkpoint holds them)."""
        self._settle()
        tmp = path.with_name(f".{path.name}.tmp")
        save_file(self.kept, str(tmp))
        os.replace(tmp, path)

    def load(self, path: Path) -> None:
        """Read weights a checkpoint kept."""
        if path.is_file():
            for name, tensor in load_file(str(path)).items():
                self.kept[name].copy_(tensor)
            self.taken = True

    def _settle(self) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()  # the non-blocking copies must have landed


class LyricsTrainer(Trainer):
    def __init__(self, *args: Any, score_batches: list[dict[str, torch.Tensor]], eval_every: int,
                 patience: int, checkpoint_minutes: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.score_batches = score_batches
        self.patience = patience
        self.checkpoint_seconds = checkpoint_minutes * 60
        self.best = BestWeights(self.model)
        self.best_score: dict[str, float] | None = None  # of the kept weights; None: not known
        self.timing = {"evaluate": 0.0, "checkpoint": 0.0, "evaluations": 0, "checkpoints": 0}
        self._last_checkpoint = self._save_started = time.monotonic()
        self.add_callback(_Policy(self, eval_every))

    def evaluate(self, *args: Any, **kwargs: Any) -> dict[str, float]:
        """Score the lyric tokens of the validation songs; keep the best weights; decide a
        checkpoint and early stopping. Every process gets the same answer."""
        started = time.monotonic()
        loss, accuracy, tokens, due = self._score()
        metrics = {"eval_loss": loss, "eval_perplexity": perplexity(loss)}
        if self.state.best_metric is None or loss < self.state.best_metric:
            self.state.best_metric = loss
            self.state.best_global_step = self.state.global_step
            self.best.take()
            self.best_score = {"loss": loss, "token_accuracy": accuracy, "tokens": tokens,
                               "step": self.state.global_step}
        if due:
            self._save_started = time.monotonic()
            self.control.should_save = True  # the Trainer writes the checkpoint after this call
            if self.args.should_save:  # process 0. Before trainer_state.json, the Trainer's last
                folder = Path(self.args.output_dir) / \
                    f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"  # file: then it is whole
                folder.mkdir(parents=True, exist_ok=True)
                self.best.save(folder / BEST_FILE)
        self.log(metrics)
        evals = [h["step"] for h in self.state.log_history if "eval_loss" in h]
        if sum(step > self.state.best_global_step for step in evals) >= self.patience:
            self.control.should_training_stop = True
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control,
                                                         metrics)
        self.timing["evaluate"] += time.monotonic() - started
        self.timing["evaluations"] += 1
        return metrics

    @torch.no_grad()
    def _score(self) -> tuple[float, float, int, bool]:
        """Return the mean loss over scored tokens, the share the model's top guess got right,
        the tokens scored, and whether a checkpoint is due."""
        model = self.model
        was_training = model.training
        model.eval()
        rank, world = self.args.process_index, self.args.world_size
        totals = torch.zeros(4, dtype=torch.float64, device=self.args.device)
        for batch in self.score_batches[rank::world]:
            batch = {k: v.to(self.args.device, non_blocking=True) for k, v in batch.items()}
            with self.accelerator.autocast():
                out = model(**batch)  # its loss: the mean over the batch's scored tokens
            labels = batch["labels"][:, 1:]
            mask = labels != -100
            totals[0] += out.loss.double() * mask.sum()
            totals[1] += mask.sum()
            totals[3] += (out.logits[:, :-1].argmax(-1)[mask] == labels[mask]).sum()
        if rank == 0:
            now = time.monotonic()
            totals[2] = float(now - self._last_checkpoint >= self.checkpoint_seconds)
        if world > 1:
            torch.distributed.all_reduce(totals)
        model.train(was_training)
        loss_sum, tokens, due, right = totals.tolist()
        return loss_sum / max(tokens, 1.0), right / max(tokens, 1.0), int(tokens), due > 0

    def checkpoint_written(self) -> None:
        """Restart the checkpoint clock (called once the Trainer has written one)."""
        now = time.monotonic()
        self.timing["checkpoint"] += now - self._save_started
        self.timing["checkpoints"] += 1
        self._last_checkpoint = now


class _Policy(TrainerCallback):
    """Evaluate every `eval_every` steps and after the last; restart the checkpoint clock."""

    def __init__(self, trainer: LyricsTrainer, eval_every: int) -> None:
        self.trainer = trainer
        self.eval_every = eval_every

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step % self.eval_every == 0 or state.global_step >= state.max_steps:
            control.should_evaluate = True

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.trainer.checkpoint_written()
