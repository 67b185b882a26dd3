"""Loss, perplexity and next-token accuracy of a model on songs.

Only lyric tokens and the end token are scored, never the album header, so models with and
without album tokens (a base model, an older run) are compared on exactly the same tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from model.songtext import album_token


@dataclass(frozen=True)
class Score:
    loss: float  # mean cross-entropy per scored token, in nats
    perplexity: float
    token_accuracy: float  # share of tokens the model's top guess got right
    tokens: int


@torch.inference_mode()
def score_songs(model: Any, tokenizer: Any, songs: list[dict[str, Any]],
                block_size: int = 512) -> Score:
    """Score `songs` (dicts with `lyrics` and maybe `album`) in windows of `block_size`."""
    known = set(tokenizer.get_added_vocab())
    device = next(model.parameters()).device
    total_loss, total_right, total_tokens = 0.0, 0, 0
    block_size = min(block_size, model.config.max_position_embeddings)
    for song in songs:
        album = song.get("album")
        head = tokenizer(f"{album_token(album)}\n", add_special_tokens=False)["input_ids"] \
            if album and album_token(album) in known else []
        body = tokenizer(song["lyrics"], add_special_tokens=False)["input_ids"]
        ids = head + body + [tokenizer.eos_token_id]
        # The first lyric token is predicted from the header alone, or from nothing without
        # one: skip it in both cases so that every model scores exactly the same tokens.
        first_scored = len(head) + 1
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
                 token_accuracy=total_right / total_tokens, tokens=total_tokens)
