"""Models for the benchmarks, built here (the benchmarks import nothing from tests/).

`gpt2_124m` is the real GPT-2 124M architecture with random weights: the same compute as `gpt2`,
which cannot be downloaded here. Its tokenizer is a small byte-level BPE trained on the fixture
lyrics; token ids stay below 600, but the model keeps GPT-2's 50,257-row embedding, so every step
costs what it costs with the real tokenizer. torch and transformers are imported only when a
model is built, so a benchmark's serving process on CTranslate2 can stay free of them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
END = "<|endoftext|>"


def fixture_lyrics() -> list[str]:
    """Return the lyrics of the example artist (original lyrics written for this repository)."""
    export = json.loads((ROOT / "examples" / "Lyrics_JuniperVale.json").read_text("utf-8"))
    return [song["lyrics"] for song in export["songs"]]


def lyrics_tokenizer(vocab_size: int = 600) -> Any:
    """Train a byte-level BPE (GPT-2's kind) on the fixture lyrics."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(fixture_lyrics(), trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token=END, eos_token=END,
                                   unk_token=END)


def build_gpt2(folder: Path, **config: int) -> Path:
    """Save a randomly initialised GPT-2 (GPT-2 124M unless `config` says otherwise)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(**config)).save_pretrained(folder)
    lyrics_tokenizer().save_pretrained(folder)
    return folder


def build_gpt2_124m(folder: Path) -> Path:
    """Save a randomly initialised GPT-2 124M (12 layers, 768 wide, 1024 context)."""
    return build_gpt2(folder)
