"""LoRA with PEFT: train thin adapters beside frozen weights, then merge them into the model.

A full fine-tune holds ~16 bytes a parameter (fp32 weights and gradients, two AdamW moments);
with LoRA the base stays frozen (2 bytes a parameter in bf16 on a GPU) and only two small
matrices per linear layer train. The album tokens' embedding rows train too. Merged at the end,
a run is an ordinary model folder: the registry, publish and every backend serve it unchanged.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import torch
from transformers.pytorch_utils import Conv1D

LORA_DROPOUT = 0.05  # the usual small dropout on the adapters' input; the corpus is tiny


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # PEFT reads a transformers property that transformers 5 deprecates; nothing for a user to do.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated",
                                category=FutureWarning)
        yield


def target_modules(model: Any) -> list[str]:
    """Return the names of the model's linear layers, the output head excepted.

    Found per architecture: `c_attn`, `c_fc`, `c_proj` for GPT-2 (Conv1D layers), `q_proj`, ...,
    `down_proj` for Llama and Qwen2. Adapting every one (attention and MLP) learns a style
    better than attention alone, for about the same memory.
    """
    head = model.get_output_embeddings()
    return sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                   if isinstance(module, torch.nn.Linear | Conv1D) and module is not head})


def config(model: Any, rank: int, alpha: int, token_ids: list[int] | None = None) -> Any:
    """Return the LoRA configuration for `model`: adapters on every linear layer (and the rows
    of `token_ids` trained too)."""
    from peft import LoraConfig

    conv1d = any(isinstance(m, Conv1D) for m in model.modules())
    return LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=LORA_DROPOUT,
                      target_modules=target_modules(model), task_type="CAUSAL_LM",
                      fan_in_fan_out=conv1d,  # GPT-2's Conv1D stores weights transposed
                      trainable_token_indices=token_ids or None)


def add_adapters(model: Any, rank: int, alpha: int, token_ids: list[int]) -> Any:
    """Freeze `model` and wrap it with LoRA adapters; the rows of `token_ids` train too."""
    from peft import get_peft_model

    with _quiet():
        return get_peft_model(model, config(model, rank, alpha, token_ids))


def optimizer(model: Any, lr: float, weight_decay: float, ratio: float) -> torch.optim.Optimizer:
    """AdamW for the adapters, with LoRA+ (PEFT's): each B matrix learns `ratio` times faster
    than its A. B starts at zero and A at random, so at one rate B moves too slowly for the
    few steps a CPU affords (Hayou et al., 2024: LoRA+)."""
    from peft.optimizers import create_loraplus_optimizer

    return create_loraplus_optimizer(model, torch.optim.AdamW, lr=lr, loraplus_lr_ratio=ratio,
                                     weight_decay=weight_decay, loraplus_weight_decay=weight_decay)


def merge(model: Any) -> Any:
    """Fold the adapters (and trained token rows) into the weights; return the plain model."""
    with _quiet():
        return model.merge_and_unload()
