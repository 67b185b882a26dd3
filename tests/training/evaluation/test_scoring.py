"""Validation songs scored several windows to a forward pass score exactly what one window at a
time scores: padding is never scored and never changes a real token's loss."""

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from model.serving.tokens import spec_of
from training.data.dataset import load_corpus
from training.evaluation.scoring import score_songs, score_windows


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_batched_scoring_matches_one_window_at_a_time(example_corpus, tiny_family, family):
    folder = tiny_family(family)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    spec = spec_of(tokenizer)
    songs = load_corpus(example_corpus).train[:6]
    windows = score_windows(tokenizer, spec, songs, block_size=48)
    assert len({len(ids) for ids, _ in windows}) > 1  # batches need padding
    one = score_songs(model, tokenizer, spec, songs, block_size=48, batch_size=1, fast=False)
    batched = score_songs(model, tokenizer, spec, songs, block_size=48, batch_size=5, fast=False)
    assert batched.tokens == one.tokens
    assert batched.loss == pytest.approx(one.loss, rel=1e-5)
    assert batched.token_accuracy == pytest.approx(one.token_accuracy, abs=1e-9)
