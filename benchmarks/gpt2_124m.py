"""The real GPT-2 124M architecture with random weights: the same compute as `gpt2`, which
cannot be downloaded here. Its tokenizer is a small BPE trained on the fixture lyrics; token ids
stay below 600, but the model keeps GPT-2's 50,257-row embedding, so every step costs the same."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from tests.tiny_model import train_tokenizer

ROOT = Path(__file__).resolve().parent.parent


def build_gpt2_124m(folder: Path) -> Path:
    """Save a randomly initialised GPT-2 124M and a tokenizer to `folder`; return it."""
    songs = json.loads((ROOT / "examples" / "Lyrics_JuniperVale.json").read_text())["songs"]
    tokenizer = train_tokenizer([s["lyrics"] for s in songs])
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config()).save_pretrained(folder)  # 12 layers, 768 wide, 1024 context
    tokenizer.save_pretrained(folder)
    return folder
