"""Build tiny real GPT-2s for tests: a BPE tokenizer trained on fixture lyrics and a 2-layer model,
saved with `save_pretrained` so the code under test loads them exactly as it would load `gpt2`."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

END = "<|endoftext|>"


def train_tokenizer(texts: list[str], vocab_size: int = 600) -> GPT2TokenizerFast:
    """Train a byte-level BPE like GPT-2's on `texts`."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[END],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(texts, trainer)
    return GPT2TokenizerFast(tokenizer_object=bpe, bos_token=END, eos_token=END, unk_token=END)


def make_tiny_gpt2(folder: Path, texts: list[str], seed: int = 0, n_positions: int = 256,
                   n_layer: int = 2, n_embd: int = 64) -> Path:
    """Save a tiny random GPT-2 and its tokenizer to `folder`; return the folder."""
    torch.manual_seed(seed)
    tokenizer = train_tokenizer(texts)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=n_positions, n_embd=n_embd,
                        n_layer=n_layer, n_head=2, bos_token_id=tokenizer.eos_token_id,
                        eos_token_id=tokenizer.eos_token_id)
    model = GPT2LMHeadModel(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
