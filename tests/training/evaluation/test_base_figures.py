"""Evaluation keeps the base model's figures in the cache folder: a second evaluation of the same
base on the same corpus reuses them; a changed corpus or an unreadable file measures again."""

import io
import json
import shutil

import pytest

from training.evaluation import base_figures
from training.progress import Progress
from training.release.runs import evaluate_run

BASE_KEYS = ("base_perplexity", "base_loss", "base_token_accuracy", "base_bleu",
             "base_song_copy_rate")


def evaluate_twice(trained, tmp_path, between=lambda run, cache: None):
    """Evaluate a copy of the tiny "good" run twice on one cache, calling `between` in between;
    return both metrics and the second evaluation's progress records."""
    run = tmp_path / "run"
    shutil.copytree(trained("good").run.path, run)
    cache = tmp_path / "cache"
    first = evaluate_run(run, Progress(json_lines=True, stream=io.StringIO()), cache=cache,
                         songs=1)["metrics"]
    between(run, cache)
    out = io.StringIO()
    second = evaluate_run(run, Progress(json_lines=True, stream=out), cache=cache,
                          songs=1)["metrics"]
    return first, second, [json.loads(line) for line in out.getvalue().splitlines()]


def base_events(records):
    return [r for r in records if r.get("stage") == "evaluate" and r.get("model") == "base"]


def kept_files(cache):
    return sorted((cache / base_figures.FOLDER).glob("*.json"))


def test_a_second_evaluation_reuses_the_base_models_figures(trained, tmp_path):
    first, second, records = evaluate_twice(trained, tmp_path)
    assert base_events(records) == [{"stage": "evaluate", "model": "base", "cached": True}]
    assert {k: second[k] for k in BASE_KEYS} == {k: first[k] for k in BASE_KEYS}
    assert {k: v["base"] for k, v in second["style"].items()} == \
        {k: v["base"] for k, v in first["style"].items()}
    assert len(kept_files(tmp_path / "cache")) == 1


@pytest.mark.slow
def test_a_changed_validation_song_measures_the_base_model_again(trained, tmp_path):
    def add_a_line(run, cache):
        val = run / "data" / "val.jsonl"
        songs = [json.loads(line) for line in val.read_text().splitlines()]
        songs[-1]["lyrics"] += "\nand one more line we wrote for this test"
        val.write_text("".join(json.dumps(song) + "\n" for song in songs))

    first, second, records = evaluate_twice(trained, tmp_path, add_a_line)
    assert second["val_tokens"] > first["val_tokens"]
    assert [r.get("cached") for r in base_events(records)] == [None, None]  # measured, songs
    assert second["base_loss"] != first["base_loss"]
    assert len(kept_files(tmp_path / "cache")) == 2


@pytest.mark.slow
def test_an_unreadable_cache_file_is_measured_again_with_a_one_line_warning(trained, tmp_path,
                                                                             capsys):
    def truncate(run, cache):
        [kept] = kept_files(cache)
        kept.write_text(kept.read_text()[:100])

    first, second, records = evaluate_twice(trained, tmp_path, truncate)
    assert not any(r.get("cached") for r in base_events(records))
    assert second["base_loss"] == first["base_loss"]
    warnings = [line for line in capsys.readouterr().err.splitlines()
                if "cached figures" in line]
    assert len(warnings) == 1
    assert warnings[0].startswith("base model's cached figures unreadable (")
    assert warnings[0].endswith("measuring the base model again")
    [kept] = kept_files(tmp_path / "cache")
    assert json.loads(kept.read_text())["figures"]["metrics"]["loss"] == first["base_loss"]
