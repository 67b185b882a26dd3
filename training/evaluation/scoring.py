"""Loss, perplexity and next-token accuracy of a model on songs.

Only lyric tokens and the end token are scored, never the tokenizer's prefix (BOS) nor the album
header, so models with and without album tokens (a base model, an older run) are compared on
exactly the same tokens. Songs are tokenized exactly as training writes them (see TokenSpec).
Perplexity per word is also given: it compares models whose tokenizers differ. Windows go 8 to
a forward pass, in bf16 where the hardware multiplies it natively (training/precision.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import torch

from model.lyrics.songtext import album_token
from model.serving.tokens import TokenSpec
from model.writing.novelty import words_of
from training.data.dataset import IGNORE, score_batches
from training.precision import fast_maths

BATCH = 8  # windows a forward pass: half the CPU time of one at a time (SmolLM2-135M, 2 cores)


@dataclass(frozen=True)
class Score:
    loss: float  # mean cross-entropy per scored token, in nats
    perplexity: float
    token_accuracy: float  # share of tokens the model's top guess got right
    tokens: int
    word_perplexity: float  # exp(total nats / lyric words): comparable across tokenizers


def perplexity(nats: float) -> float:
    """Return exp(mean nats a token), capped where a diverged model's loss would overflow it."""
    return math.exp(min(nats, 50.0))


def score_of(loss: float, tokens: int, songs: list[dict[str, Any]]) -> Score:
    """Return the score of a mean loss over `tokens` scored tokens of `songs`, kept from an
    earlier scoring of the same windows (its per-word perplexity worked out again; its token
    accuracy not kept)."""
    words = sum(len(words_of(song["lyrics"])) for song in songs)
    return Score(loss=loss, perplexity=perplexity(loss), token_accuracy=math.nan,
                 tokens=tokens, word_perplexity=perplexity(loss * tokens / max(1, words)))


def windows_key(songs: list[dict[str, Any]], block_size: int) -> str:
    """Return the sha256 of what `score_windows` cuts: the songs as given and the block size. A
    score kept with this key (the trainer's) stands for a fresh one only while it matches."""
    text = json.dumps([songs, block_size], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def score_windows(tokenizer: Any, spec: TokenSpec, songs: list[dict[str, Any]],
                  block_size: int) -> list[tuple[list[int], list[int]]]:
    """Cut each song into the windows that are scored, with labels only on scored tokens.

    The same tokens as the report's perplexity: the song alone (no packing), its album header
    when the model has that album's token, and neither the prefix, the header nor the first
    lyric token scored (a model without album tokens could not predict them). Windows overlap by
    one token so that every scored token is predicted once. Returns (input ids, labels) pairs.
    """
    windows = []
    for song in songs:
        album = song.get("album")
        head = tokenizer(f"{album_token(album)}\n", add_special_tokens=False)["input_ids"] \
            if album in spec.albums else []
        body = tokenizer(spec.strip(song["lyrics"]), add_special_tokens=False)["input_ids"]
        ids = [*spec.prefix_ids, *head, *body, spec.eos_id]
        first_scored = len(spec.prefix_ids) + len(head) + 1
        for start in range(0, len(ids) - 1, block_size - 1):
            window = ids[start:start + block_size]
            labels = [t if start + i >= first_scored else IGNORE
                      for i, t in enumerate(window)]
            if len(window) >= 2 and any(label != IGNORE for label in labels[1:]):
                windows.append((window, labels))
    return windows


@torch.inference_mode()
def score_songs(model: Any, tokenizer: Any, spec: TokenSpec, songs: list[dict[str, Any]],
                block_size: int = 512, batch_size: int = BATCH, fast: bool = True) -> Score:
    """Score `songs` (dicts with `lyrics` and maybe `album`) in windows of `block_size`
    (`fast=False`: in fp32 even where bf16 is fast, to measure what it changes)."""
    device = next(model.parameters()).device
    total_loss, total_right, total_tokens = 0.0, 0, 0
    block_size = min(block_size, model.config.max_position_embeddings)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else spec.eos_id
    windows = score_windows(tokenizer, spec, songs, block_size)
    for batch in score_batches(windows, batch_size, pad_id):
        batch = {k: v.to(device) for k, v in batch.items()}
        with fast_maths(device) if fast else contextlib.nullcontext():
            logits = model(input_ids=batch["input_ids"],
                           attention_mask=batch["attention_mask"]).logits
        labels = batch["labels"][:, 1:]
        mask = labels != IGNORE
        scored = logits[:, :-1][mask].float()  # only scored rows: padding costs no softmax
        targets = labels[mask]
        total_loss += torch.nn.functional.cross_entropy(scored, targets, reduction="sum").item()
        total_right += int((scored.argmax(-1) == targets).sum())
        total_tokens += int(mask.sum())
    if total_tokens == 0:
        raise ValueError("no tokens to score")
    loss = total_loss / total_tokens
    words = sum(len(words_of(song["lyrics"])) for song in songs)
    return Score(loss=loss, perplexity=perplexity(loss),
                 token_accuracy=total_right / total_tokens, tokens=total_tokens,
                 word_perplexity=perplexity(total_loss / max(1, words)))
