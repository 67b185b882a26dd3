"""Preference tuning at training time (KTO on the votes, after the fine-tune) and the publish
gate a preference-tuned run must pass.

The tuned run is `train --feedback` with the "poor" run's recipe (2 steps), so the two share
their fine-tune exactly and differ only by what KTO did. With a tiny random model, TRL's advised
learning rate (1e-6) moves nothing visible in a few steps: the test uses 1e-3.
"""

import json
import shutil

import pytest
from safetensors.torch import load_file

from model.errors import RegistryError
from model.registry.runs import Registry
from tests.conftest import TINY_TRAIN, artist_models
from tests.training.conftest import cli, copy_runs
from training.feedback import ranker
from training.feedback.likelihood import pair_share
from training.feedback.preference import HELD_OUT_FILE, TUNE_FILE
from training.feedback.votes import read_votes
from training.release.publish import publish

KTO = ("--kto-learning-rate", "1e-3")


@pytest.fixture(scope="module")
def tuned(tmp_path_factory, tiny_family, example_corpus, voted):
    """A run trained like "poor", then KTO-tuned on the simulated listeners' votes."""
    home = tmp_path_factory.mktemp("tuned")
    result = cli(home, "train", "--corpus", str(example_corpus), "--base-model",
                 str(tiny_family("gpt2")), *TINY_TRAIN, "--max-steps", "2",
                 "--feedback", str(voted.path), *KTO, FEEDBACK_MIN_VOTES="20")
    assert result.returncode == 0, result.stderr
    (run,) = Registry(artist_models(home)).runs()
    return run, result


def test_train_with_feedback_tunes_the_adapted_layers_with_kto(tuned, trained):
    run, result = tuned
    kto = json.loads((run.path / "kto.json").read_text())
    votes = read_votes(run.path / TUNE_FILE).rows
    assert kto["steps"] > 0 and kto["desirable"] + kto["undesirable"] == len(votes)
    # Weights balance the labels: desirable x count == undesirable x count.
    assert kto["desirable_weight"] * kto["desirable"] == pytest.approx(
        kto["undesirable_weight"] * kto["undesirable"], rel=1e-3)
    plain = load_file(trained("poor").run.path / "model.safetensors")
    tuned_weights = load_file(run.path / "model.safetensors")
    # LoRA adapts the linear layers only: embeddings are the fine-tune's, to the bit (the same
    # recipe trained both), and the attention and MLP weights moved.
    assert tuned_weights["transformer.wte.weight"].equal(plain["transformer.wte.weight"])
    for name in ("transformer.h.0.attn.c_attn.weight", "transformer.h.1.mlp.c_fc.weight"):
        assert not tuned_weights[name].equal(plain[name]), name
    assert result.stdout.count("learning from") == 1


def test_kto_orders_the_votes_it_tuned_on_better(tuned, trained):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run, _ = tuned
    votes = read_votes(run.path / TUNE_FILE).rows
    shares = []
    for folder in (trained("poor").run.path, run.path):
        model = AutoModelForCausalLM.from_pretrained(folder)
        shares.append(pair_share(model, AutoTokenizer.from_pretrained(folder), votes, 64))
    assert shares[1] > shares[0], shares


def test_train_with_feedback_fits_the_ranking_and_reports_both(tuned, voted):
    run, _ = tuned
    data = ranker.read_ranking(run.path)
    assert data["votes"] == len(voted.rows) and data["weights"]["width"] < 0
    held = read_votes(run.path / HELD_OUT_FILE).rows
    assert len(held) + len(read_votes(run.path / TUNE_FILE).rows) == len(voted.rows)
    report = (run.path / "report.md").read_text()
    assert "## Ranking from votes" in report and "## Preference tuning (KTO)" in report
    assert f"{len(held)} held out" in report
    assert run.manifest["training"]["feedback"]["kto"]["steps"] > 0


def test_train_with_too_few_votes_refuses_before_training(tmp_path, tiny_family,
                                                          example_corpus, voted):
    home = tmp_path / "home"
    result = cli(home, "train", "--corpus", str(example_corpus), "--base-model",
                 str(tiny_family("gpt2")), *TINY_TRAIN, "--max-steps", "2",
                 "--feedback", str(voted.path), FEEDBACK_MIN_VOTES="1000")
    assert result.returncode == 1
    assert result.stderr == (f"error: too few votes to learn from in {voted.path} "
                             f"({len(voted.rows)} of 1000 votes): --feedback needs at least "
                             "1000, of both kinds (FEEDBACK_MIN_VOTES)\n")
    assert Registry(home / "models").runs() == []


def _registry_with(tmp_path, tuned, trained, *names):
    registry = Registry(tmp_path / "models")
    copy_runs(registry, trained, *names)
    shutil.copytree(tuned[0].path, registry.runs_dir / "tuned")
    return registry


def test_gate_refuses_a_tuned_run_over_2_percent_worse_in_perplexity(tmp_path, tuned, trained):
    registry = _registry_with(tmp_path, tuned, trained, "good")
    publish(registry, "good")
    with pytest.raises(RegistryError, match=r"worse by more than 2% than the current model good"):
        publish(registry, "tuned")
    assert registry.current().id == "good"


def test_gate_refuses_a_tuned_run_that_orders_voted_songs_no_better(tmp_path, tuned, trained):
    registry = _registry_with(tmp_path, tuned, trained)
    shutil.copytree(registry.runs_dir / "tuned", registry.runs_dir / "twin")
    publish(registry, "twin", force=True)  # worse than its tiny base; same weights as tuned
    with pytest.raises(RegistryError, match=r"orders its held-out voted songs no better than "
                       r"the current model twin \((\d\.\d+) vs \1 of.*; publish --force"):
        publish(registry, "tuned")
    assert registry.current().id == "twin"
