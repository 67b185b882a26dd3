"""Build tiny real models for tests: a BPE tokenizer trained on fixture lyrics and a 2-layer model,
saved with `save_pretrained` so the code under test loads them exactly as it would load `gpt2`.

Three families, each with its tokenizer's conventions, because code that only ever met GPT-2
assumes GPT-2 (one `<|endoftext|>`, no BOS):
- GPT-2: byte-level BPE, `<|endoftext|>` is BOS, EOS and UNK; nothing is put before a text.
- Llama: `<s>` put before every text by the tokenizer, `</s>` ends it, no pad token.
- Qwen2: `<|endoftext|>` ends text and pads, chat tokens `<|im_start|>`/`<|im_end|>`, two end ids
  in generation_config.json, and an embedding padded past the tokenizer (as Qwen2.5 ships).
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    GenerationConfig,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
)

END = "<|endoftext|>"
FAMILIES = ("gpt2", "llama", "qwen2")


def _bpe(texts: list[str], specials: list[str], vocab_size: int = 600) -> Tokenizer:
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(texts, trainer)
    return bpe


def train_tokenizer(texts: list[str], vocab_size: int = 600) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE like GPT-2's on `texts`."""
    return PreTrainedTokenizerFast(tokenizer_object=_bpe(texts, [END], vocab_size),
                                   bos_token=END, eos_token=END, unk_token=END)


def _save(folder: Path, model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast) -> Path:
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def make_tiny_gpt2(folder: Path, texts: list[str], seed: int = 0, n_positions: int = 256,
                   n_layer: int = 2, n_embd: int = 64) -> Path:
    """Save a tiny random GPT-2 and its tokenizer to `folder`; return the folder."""
    torch.manual_seed(seed)
    tokenizer = train_tokenizer(texts)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=n_positions, n_embd=n_embd,
                        n_layer=n_layer, n_head=2, bos_token_id=tokenizer.eos_token_id,
                        eos_token_id=tokenizer.eos_token_id)
    return _save(folder, GPT2LMHeadModel(config), tokenizer)


def make_tiny_llama(folder: Path, texts: list[str], seed: int = 0, head_dim: int = 16) -> Path:
    """Save a tiny random Llama whose tokenizer puts <s> before every text.

    vLLM's CPU attention takes only head sizes of 32 and up: the real-vLLM check asks for 32.
    """
    torch.manual_seed(seed)
    bpe = _bpe(texts, ["<unk>", "<s>", "</s>"])
    bpe.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bpe.token_to_id("<s>"))])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>",
                                        unk_token="<unk>")
    # Four heads of head_dim each: CTranslate2's Llama loader wants head_dim = hidden / heads.
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=4 * head_dim,
                         intermediate_size=8 * head_dim,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         head_dim=head_dim, max_position_embeddings=256,
                         bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False)
    return _save(folder, LlamaForCausalLM(config), tokenizer)


def make_tiny_qwen2(folder: Path, texts: list[str], seed: int = 0) -> Path:
    """Save a tiny random Qwen2: two end tokens, no BOS, embeddings padded past the tokenizer."""
    torch.manual_seed(seed)
    specials = [END, "<|im_start|>", "<|im_end|>"]
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=_bpe(texts, specials), eos_token=END,
                                        pad_token=END)
    padded = (len(tokenizer) // 64 + 2) * 64  # more rows than tokens, as Qwen2.5 ships
    config = Qwen2Config(vocab_size=padded, hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=256, eos_token_id=tokenizer.eos_token_id,
                         tie_word_embeddings=True)
    _save(folder, Qwen2ForCausalLM(config), tokenizer)
    ends = [tokenizer.convert_tokens_to_ids(t) for t in (END, "<|im_end|>")]
    GenerationConfig(eos_token_id=ends, pad_token_id=tokenizer.pad_token_id).save_pretrained(folder)
    return folder


def make_tiny(family: str, folder: Path, texts: list[str], seed: int = 0) -> Path:
    """Save a tiny random model of `family` (gpt2, llama or qwen2)."""
    builders = {"gpt2": make_tiny_gpt2, "llama": make_tiny_llama, "qwen2": make_tiny_qwen2}
    return builders[family](folder, texts, seed=seed)
