"""The Hugging Face backend: load a model folder, generate for a batch of requests at once.

Not thread-safe: fast tokenizers fail with "Already borrowed" when shared across threads, so one
thread owns a Generator (see the worker). Batches are left-padded; each request keeps its own
prompt, album style, temperature and length.
"""

from __future__ import annotations

import copy
import logging
import os
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig, LogitsProcessor

from model.backend import Request
from model.errors import BadRequest
from model.songtext import album_token, albums_in, clean_output

log = logging.getLogger(__name__)

# Our sampling defaults for lyrics, saved as each run's generation_config.json.
LYRICS_DEFAULTS = {
    "do_sample": True,
    "temperature": 0.9,  # a little under 1: fewer odd words, still varied
    "top_p": 0.95,  # nucleus sampling cuts the long tail of junk tokens
    "top_k": 0,  # off: top_p does the cutting
    "repetition_penalty": 1.15,  # discourages one line 20 times; a chorus still comes back
    "max_new_tokens": 200,  # about a verse and a chorus
}


class _RowTemperature(LogitsProcessor):
    """Divide each row's logits by that row's own temperature."""

    def __init__(self, temperatures: torch.Tensor) -> None:
        self.temperatures = temperatures[:, None]

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return scores / self.temperatures


def pick_device() -> torch.device:
    """Use CUDA when present; on CPU, use every core for one model."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    return torch.device("cpu")


class Generator:
    def __init__(self, model: Any, tokenizer: Any, defaults: GenerationConfig, model_id: str,
                 device: torch.device) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.defaults = defaults
        self.model_id = model_id
        self.device = device
        self.albums = albums_in(list(tokenizer.get_added_vocab()))

    @classmethod
    def load(cls, source: str | Path, model_id: str | None = None,
             device: torch.device | None = None) -> Generator:
        """Load a run folder, a local save_pretrained folder, or a hub id like 'gpt2'."""
        device = device or pick_device()
        tokenizer = AutoTokenizer.from_pretrained(source)
        tokenizer.padding_side = "left"  # generation continues from the right edge
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        dtype = torch.float32
        if device.type == "cuda":
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype).to(device).eval()
        try:
            defaults = GenerationConfig.from_pretrained(source)
        except OSError:
            defaults = GenerationConfig()
        # Our lyric defaults fill whatever the folder leaves at transformers' own defaults (a hub
        # model's config rarely sets sampling); a run folder we wrote already carries them.
        for key, value in LYRICS_DEFAULTS.items():
            if getattr(defaults, key, None) in (None, GenerationConfig().__dict__.get(key)):
                setattr(defaults, key, value)
        defaults.pad_token_id = tokenizer.pad_token_id
        defaults.eos_token_id = tokenizer.eos_token_id
        return cls(model, tokenizer, defaults, model_id or str(source), device)

    def prompt_text(self, request: Request) -> str:
        """Return what the model is fed: the album token when known, then the first line."""
        head = f"{album_token(request.album)}\n" if request.album in self.albums else ""
        return head + request.prompt.strip()

    def check(self, request: Request) -> None:
        """Refuse a prompt that leaves no room in the model's context for the song."""
        tokens = len(self.tokenizer(self.prompt_text(request))["input_ids"])
        room = self.model.config.max_position_embeddings
        wanted = request.max_new_tokens or self.defaults.max_new_tokens
        if tokens + wanted > room:
            raise BadRequest(f"the prompt is too long ({tokens} tokens; at most "
                             f"{room - wanted} fit before the song)")

    @torch.inference_mode()
    def generate_raw(self, requests: list[Request]) -> list[str]:
        """Return each request's generated continuation, decoded with special tokens kept."""
        texts = [self.prompt_text(r) for r in requests]
        batch = self.tokenizer(texts, return_tensors="pt", padding=True).to(self.device)
        default_t = self.defaults.temperature or 1.0
        temps = torch.tensor([r.temperature or default_t for r in requests], device=self.device)
        config = copy.deepcopy(self.defaults)
        config.temperature = 1.0  # each row's own temperature is applied by _RowTemperature
        config.max_new_tokens = max(r.max_new_tokens or config.max_new_tokens for r in requests)
        config.min_new_tokens = max(r.min_new_tokens or 0 for r in requests) or None
        output = self.model.generate(**batch, generation_config=config,
                                     logits_processor=[_RowTemperature(temps)])
        new_tokens = output[:, batch["input_ids"].shape[1]:]
        return self.tokenizer.batch_decode(new_tokens, skip_special_tokens=False)

    def generate(self, requests: list[Request]) -> list[str]:
        """Return clean lyrics for each request: its first line and what the model wrote."""
        raw = self.generate_raw(requests)
        return [clean_output(r.prompt.strip() + text, max_lines=r.lines)
                for r, text in zip(requests, raw, strict=True)]
