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


def words_tokenizer(vocab_size: int = 50257) -> Any:
    """Train a byte-level BPE of GPT-2's size on the example lyrics and the CMU dictionary's
    words, so that every id a model of that vocabulary samples decodes to text."""
    import pronouncing
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    pronouncing.init_cmu()
    words = sorted({word.strip("'") for word, _ in pronouncing.pronunciations})
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator([*fixture_lyrics(), *words], trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[END], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token=END, eos_token=END,
                                   unk_token=END)


def _sampled_share(logits: Any, token: int) -> float:
    """Return the mean chance `token` is drawn under our sampling defaults (the repetition
    penalty on it, as it stands in every line prompt; temperature; top-k; top-p)."""
    import torch

    from model.serving.protocol import Sampling

    sampling = Sampling()
    logits = logits.reshape(-1, logits.shape[-1]).clone()
    logits[:, token] /= sampling.repetition_penalty  # positive here: divided, as samplers do
    top, ids = (logits / sampling.temperature).topk(sampling.top_k, dim=-1)
    chances = top.softmax(-1)
    kept = chances.cumsum(-1) - chances < sampling.top_p  # the nucleus, its first token always
    chances = torch.where(kept, chances, 0.0)
    chances = chances / chances.sum(-1, keepdim=True)
    return float((chances * (ids == token)).sum(-1).mean())


def build_song_gpt2_124m(folder: Path, tokens_per_line: float = 10.0) -> Path:
    """Save GPT-2 124M with random weights that writes lines: a tokenizer covering all its ids
    (random words, not empty text), and the newline made about 1/`tokens_per_line` likely, so
    lines end on their own as a trained model's do. Only the final layer norm's bias and the
    newline's output row are set; the compute is GPT-2 124M's."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    # Untied: the newline's output row changes, not what the model reads after a newline.
    model = GPT2LMHeadModel(GPT2Config(tie_word_embeddings=False)).eval()
    tokenizer = words_tokenizer(model.config.vocab_size)
    newline = tokenizer.convert_tokens_to_ids("\u010a")  # byte-level BPE's "\n"
    # One hidden dimension carries a constant (the final layer norm passes only its bias), and
    # only the newline's row reads it strongly: the newline's logit rises by the same amount
    # whatever came before, so lines do not collapse into runs of newlines.
    dim = 0
    with torch.no_grad():
        model.transformer.ln_f.weight[dim] = 0.0
        model.lm_head.weight[newline, dim] = 1.0
        probe = torch.randint(0, model.config.vocab_size, (4, 64))
        low, high = 0.0, 40.0  # the constant: bisect toward P(newline) = 1 / tokens_per_line
        for _ in range(12):
            middle = (low + high) / 2
            model.transformer.ln_f.bias[dim] = middle
            share = _sampled_share(model(probe).logits, newline)
            low, high = (middle, high) if share < 1 / tokens_per_line else (low, middle)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
