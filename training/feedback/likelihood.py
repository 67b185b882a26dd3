"""How likely a model finds the songs listeners voted on: what preference tuning improves
(training/feedback/kto.py) and what the publish gate compares between a tuned run and the
model it would replace (training/feedback/preference.py).
"""

from __future__ import annotations

from typing import Any

import torch

from training.errors import TrainingError
from training.feedback import ranker
from training.feedback.votes import Vote


def continuation(vote: Vote) -> tuple[str, str]:
    """Return (what the model was given, what it wrote) for a voted song: the shown song starts
    with the user's first line, which the model did not write."""
    prompt = vote.prompt.strip()
    if vote.completion.startswith(prompt):
        return prompt, vote.completion[len(prompt):]
    return prompt + "\n", vote.completion


@torch.inference_mode()
def likelihoods(model: Any, tokenizer: Any, votes: list[Vote], max_length: int) -> list[float]:
    """Return each voted song's mean log-probability per token of what the model wrote (its end
    token included), tokenized as preference tuning tokenizes it."""
    device = next(model.parameters()).device
    limit = min(max_length, getattr(model.config, "max_position_embeddings", max_length))
    out = []
    for vote in votes:
        prompt, completion = continuation(vote)
        head = tokenizer(prompt)["input_ids"]
        ids = [*tokenizer(prompt + completion)["input_ids"], tokenizer.eos_token_id][:limit]
        # Tokens may merge across the boundary: the song starts where the two differ (as TRL
        # takes it), and its first token is always predicted from at least one before it.
        same = [a == b for a, b in zip(head, ids, strict=False)]
        start = max(1, same.index(False) if False in same else len(same))
        if len(ids) <= start:
            raise TrainingError(f"generation {vote.generation_id}: its prompt fills the "
                                f"{limit}-token context; nothing of the song is left to score")
        inputs = torch.tensor([ids], device=device)
        logits = model(inputs).logits[0, :-1].float()
        picked = torch.log_softmax(logits, -1).gather(1, inputs[0, 1:, None])[:, 0]
        out.append(picked[start - 1:].mean().item())
    return out


def pair_share(model: Any, tokenizer: Any, votes: list[Vote], max_length: int) -> float | None:
    """Return the share of (👍, 👎) pairs whose 👍 song the model finds more likely (None when
    the votes are all of one kind)."""
    labels = [v.label for v in votes]
    if all(labels) or not any(labels):
        return None
    return ranker.pair_accuracy(likelihoods(model, tokenizer, votes, max_length), labels)
