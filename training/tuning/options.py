"""Training options, declared once: the dataclass below is the run's record (run.json), and the
command line's flags and their help are derived from it.

Defaults are chosen for a ~200-song corpus (~80k tokens: about 150 blocks of 512, ~20 steps an
epoch at batch 8). Nothing here imports torch, so `python -m training fetch` stays quick.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from training.errors import TrainingError

FULL_LEARNING_RATE = 5e-5  # the usual GPT-2 fine-tune rate; 1e-4 learns faster, forgets more
# Adapters start at zero and are small: they need a larger step. 12 steps on Taylor Swift
# (SmolLM2-135M): validation perplexity 10.62 -> 9.49 at 2e-4, 8.36 at 1e-3, 7.98 at 2e-3, 7.84
# at 3e-3; with LoRA+ (B matrices 8x faster, below) 7.75 at 1e-3 and 7.83 at 2e-3.
LORA_LEARNING_RATE = 1e-3
# What a run.json written before an option existed was trained with: a resumed run keeps it (its
# optimizer's saved state fits only the parameter groups it had).
BEFORE_OPTION = {"lora_plus": 1.0}
# The least each of these may be: below it a run fails deep in the Trainer (an empty batch) or
# quietly learns less (LoRA+ under 1 slows every B matrix; 0 freezes them).
LEAST = {"block_size": 2, "batch_size": 1, "grad_accum": 1, "lora_rank": 1, "lora_plus": 1.0}


def option(default: Any, help: str) -> Any:
    """Declare an option with its default and the help its flag shows."""
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class TrainOptions:
    base_model: str = option("gpt2", "hub id or local save_pretrained folder of any causal LM "
                             "(default: BASE_MODEL, gpt2)")
    block_size: int = option(512, "tokens per training block")  # a song or two; GPT-2 has 1024
    batch_size: int = option(8, "blocks per optimizer step, over all processes")  # ~20 an epoch
    grad_accum: int = option(1, "steps to accumulate, to keep the batch when memory is short")
    learning_rate: float | None = option(
        None, f"peak learning rate (default {FULL_LEARNING_RATE:g}; {LORA_LEARNING_RATE:g} "
        "with --lora)")
    warmup_ratio: float = option(0.1, "share of steps spent warming up")  # new tokens settle
    weight_decay: float = option(0.01, "AdamW weight decay")  # mild: tiny corpus, early stopping
    max_grad_norm: float = option(1.0, "gradient clipping")  # new album rows start with big grads
    epochs: float = option(8.0, "upper bound on epochs")  # early stopping ends ~200 songs at 3-5
    max_steps: int = option(-1, "stop after this many steps; > 0 overrides --epochs")
    evals_per_epoch: int = option(2, "validation passes an epoch")  # cheap: ~7% of the compute
    patience: int = option(2, "stop after this many evaluations without a better one")
    checkpoint_minutes: float = option(
        10.0, "minutes between resumable checkpoints (0: at every evaluation)")  # ~1% of the time
    seed: int = option(42, "random seed")
    album_headers: bool = option(True, "start each song with its <|album:...|> token")
    lora: bool = option(False, "train LoRA adapters, not every weight; merged at the end")
    lora_rank: int = option(16, "rank of each LoRA adapter")  # plenty for one artist's style
    lora_alpha: int = option(32, "LoRA scale: updates are multiplied by alpha / rank")  # 2x rank
    # 12 steps on Taylor Swift: can't-tell 0.72-0.77 -> 0.61-0.67 (docs/benchmarks.md)
    lora_plus: float = option(8.0, "LoRA+: each adapter's B matrix learns this many times "
                              "faster than its A (1: plain LoRA)")
    cpu_bf16: bool = option(True, "compute in bf16 on a CPU that multiplies it natively "
                            "(AVX512-BF16, AMX)")  # ~2x faster steps; the weights stay fp32
    eval_songs: int = option(8, "validation openings evaluation writes whole songs from")  # 8
    # songs on CTranslate2 take ~30 s a model on 2 cores (135M); all 19 of a real corpus, ~70 s
    # Preference tuning on votes (KTO, training/feedback/kto.py), with LoRA adapters of the rank
    # above.
    kto_learning_rate: float = option(1e-6, "KTO learning rate")  # TRL: <= 1e-6 with beta 0.1
    kto_beta: float = option(0.1, "KTO beta: higher keeps closer to the fine-tuned model")
    kto_batch_size: int = option(4, "voted songs per KTO step")  # TRL: >= 4 (its KL estimate)
    kto_epochs: float = option(1.0, "passes over the voted songs")  # a few hundred votes: ~60 steps

    def __post_init__(self) -> None:
        for name, least in LEAST.items():
            if getattr(self, name) < least:
                raise TrainingError(f"--{name.replace('_', '-')} must be at least {least:g}, "
                                    f"not {getattr(self, name):g}")
        if self.learning_rate is None:  # resolved here, so run.json records the rate used
            rate = LORA_LEARNING_RATE if self.lora else FULL_LEARNING_RATE
            object.__setattr__(self, "learning_rate", rate)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainOptions:
        """Rebuild options saved in a run's run.json."""
        data = {**BEFORE_OPTION, **data}
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    @classmethod
    def from_args(cls, args: argparse.Namespace, **given: Any) -> TrainOptions:
        """Build options from parsed flags (see `add_flags`); `given` fills what flags left out."""
        for f in dataclasses.fields(cls):
            value = getattr(args, f.name, None)
            if value is not None:
                given[f.name] = value
        return cls(**given)


def add_flags(parser: argparse.ArgumentParser) -> None:
    """Add one flag per option: `--block-size`, `--lora`, `--no-album-headers`, ...

    Unset flags stay None, so the dataclass's default (or what the caller gives) applies.
    """
    types = typing.get_type_hints(TrainOptions)
    for f in dataclasses.fields(TrainOptions):
        flag = "--" + f.name.replace("_", "-")
        kind = types[f.name]
        help = f.metadata["help"]
        if kind is bool:
            if f.default:
                parser.add_argument("--no-" + flag[2:], dest=f.name, action="store_const",
                                    const=False, help=f"do not {help[0].lower()}{help[1:]}")
            else:
                parser.add_argument(flag, dest=f.name, action="store_const", const=True,
                                    help=help)
            continue
        kind = next(t for t in typing.get_args(kind) or (kind,) if t is not type(None))
        parser.add_argument(flag, type=kind, metavar={int: "N", float: "X"}.get(kind, "NAME"),
                            help=help + _default_of(f.default, help))


def _default_of(default: Any, help: str) -> str:
    if default is None or "default" in help:
        return ""
    return f" (default {default:g})" if isinstance(default, float) else f" (default {default})"
