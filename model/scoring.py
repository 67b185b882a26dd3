"""Loss, perplexity and next-token accuracy of a model on songs.

Only lyric tokens and the end token are scored, never the tokenizer's prefix (BOS) nor the album
header, so models with and without album tokens (a base model, an older run) are compared on
exactly the same tokens. Songs are tokenized exactly as training writes them (see TokenSpec).
Perplexity per word is also given: it compares models whose tokenizers differ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from model.novelty import words_of
from model.songtext import album_token
from model.tokens import TokenSpec


@dataclass(frozen=True)
class Score:
    loss: float  # mean cross-entropy per scored token, in nats
    perplexity: float
    token_accuracy: float  # share of tokens the model's top guess got right
    tokens: int
    word_perplexity: float  # exp(total nats / lyric words): comparable across tokenizers


@torch.inference_mode()
def score_songs(model: Any, tokenizer: Any, spec: TokenSpec, songs: list[dict[str, Any]],
                block_size: int = 512) -> Score:
    """Score `songs` (dicts with `lyrics` and maybe `album`) in windows of `block_size`."""
    device = next(model.parameters()).device
    total_loss, total_right, total_tokens, total_words = 0.0, 0, 0, 0
    block_size = min(block_size, model.config.max_position_embeddings)
    for song in songs:
        album = song.get("album")
        head = tokenizer(f"{album_token(album)}\n", add_special_tokens=False)["input_ids"] \
            if album in spec.albums else []
        # As training writes it: text that spells a special token is not lyrics.
        body = tokenizer(spec.strip(song["lyrics"]), add_special_tokens=False)["input_ids"]
        ids = [*spec.prefix_ids, *head, *body, spec.eos_id]
        # The first lyric token is predicted from the header alone, or from nothing without
        # one: skip it in both cases so that every model scores exactly the same tokens.
        first_scored = len(spec.prefix_ids) + len(head) + 1
        total_words += len(words_of(song["lyrics"]))
        for start in range(0, len(ids) - 1, block_size - 1):
            window = ids[start:start + block_size]
            if len(window) < 2:
                break
            inputs = torch.tensor([window], device=device)
            logits = model(inputs).logits[0, :-1].float()
            targets = inputs[0, 1:]
            positions = torch.arange(start + 1, start + len(window), device=device)
            mask = positions >= first_scored
            if not mask.any():
                continue
            losses = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
            total_loss += losses[mask].sum().item()
            total_right += (logits.argmax(-1) == targets)[mask].sum().item()
            total_tokens += int(mask.sum().item())
    if total_tokens == 0:
        raise ValueError("no tokens to score")
    loss = total_loss / total_tokens
    return Score(loss=loss, perplexity=math.exp(min(loss, 50.0)),
                 token_accuracy=total_right / total_tokens, tokens=total_tokens,
                 word_perplexity=math.exp(min(total_loss / max(1, total_words), 50.0)))
