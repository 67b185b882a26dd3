"""Evaluation writes its songs on transformers, and says why, when CTranslate2 cannot convert,
load or run a model. Every failure here is CTranslate2's own, on real files."""

import io
import json
import shutil

import torch
from transformers import GPTNeoConfig, GPTNeoForCausalLM

from model.registry.runs import Registry
from tests.conftest import EXAMPLE_EXPORT, TINY_TRAIN, artist_models
from tests.tiny_model import train_tokenizer
from tests.training.conftest import cli
from training.progress import Progress
from training.release.runs import evaluate_run


def evaluate_copy(trained, tmp_path, damage):
    """Copy the tiny "good" run, damage its conversion, evaluate it; return metrics, report
    and the progress lines."""
    run = tmp_path / "run"
    shutil.copytree(trained("good").run.path, run)
    damage(run / "ct2")
    out = io.StringIO()
    metrics = evaluate_run(run, Progress(json_lines=True, stream=out), cache=tmp_path / "cache",
                           songs=2)["metrics"]
    return metrics, (run / "report.md").read_text(), out.getvalue()


def test_a_corrupt_conversion_is_evaluated_on_transformers_and_says_why(trained, tmp_path,
                                                                        capsys):
    def truncate(ct2):
        weights = ct2 / "model.bin"
        weights.write_bytes(weights.read_bytes()[:4096])

    metrics, report, _ = evaluate_copy(trained, tmp_path, truncate)
    assert metrics["song_backend"] == "transformers"
    reason = metrics["song_fallback"]
    assert reason.startswith(f"CTranslate2 cannot load the conversion in {tmp_path / 'run'}: "
                             "RuntimeError: ")
    assert metrics["base_song_backend"] == "ctranslate2" and metrics["base_song_fallback"] is None
    assert metrics["style"]["words_per_line"]["fine_tuned"] > 0  # the songs were written
    assert f"on transformers for the fine-tuned one ({reason})" in report
    assert f"fine-tuned model's songs on transformers: {reason}" in capsys.readouterr().err


def test_a_conversion_that_fails_while_writing_is_evaluated_on_transformers(trained, tmp_path):
    def cut_vocabulary(ct2):  # loads, then samples ids its vocabulary no longer has
        words = ct2 / "vocabulary.json"
        words.write_text(json.dumps(json.loads(words.read_text())[:5]))

    metrics, report, progress = evaluate_copy(trained, tmp_path, cut_vocabulary)
    assert metrics["song_backend"] == "transformers"
    assert metrics["song_fallback"].startswith("CTranslate2 failed writing songs: ValueError: "
                                               "Invalid token ID ")
    records = [json.loads(line) for line in progress.splitlines()]
    songs = [r for r in records if r.get("form") == "song" and r["model"] == "fine-tuned"]
    assert [r["backend"] for r in songs] == ["ctranslate2", "transformers"]
    assert songs[1]["fallback"] == metrics["song_fallback"]
    assert metrics["song_fallback"] in report


def tiny_gpt_neo(folder):
    """Save a tiny random GPT-Neo, an architecture CTranslate2 has no converter for."""
    songs = json.loads(EXAMPLE_EXPORT.read_text(encoding="utf-8"))["songs"]
    tokenizer = train_tokenizer([s["lyrics"] for s in songs])
    torch.manual_seed(0)
    config = GPTNeoConfig(vocab_size=len(tokenizer), max_position_embeddings=256,
                          hidden_size=64, num_layers=2, num_heads=2,
                          attention_types=[[["global", "local"], 1]], window_size=32,
                          bos_token_id=tokenizer.eos_token_id,
                          eos_token_id=tokenizer.eos_token_id)
    GPTNeoForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_a_model_ctranslate2_cannot_convert_is_evaluated_on_transformers(hermetic_env,
                                                                         example_corpus,
                                                                         tmp_path):
    base = tiny_gpt_neo(tmp_path / "gpt-neo")
    result = cli(hermetic_env, "train", "--corpus", str(example_corpus), "--base-model",
                 str(base), *TINY_TRAIN, "--max-steps", "2", "--eval-songs", "2")
    assert result.returncode == 0, result.stderr
    [run] = Registry(artist_models(hermetic_env)).runs()
    m = run.metrics
    assert m["base_song_backend"] == m["song_backend"] == "transformers"
    assert m["base_song_fallback"].startswith(f"CTranslate2 cannot convert base model "
                                              f"'{base}': ")
    assert m["song_fallback"].startswith(f"CTranslate2 cannot convert {run.id}: ")
    assert "GPTNeoConfig" in m["base_song_fallback"] and "GPTNeoConfig" in m["song_fallback"]
    assert f"base model's songs on transformers: {m['base_song_fallback']}" in result.stdout
    report = (run.path / "report.md").read_text()
    assert f"on transformers for the base model ({m['base_song_fallback']})" in report


def test_an_openvino_export_that_fails_is_evaluated_on_ctranslate2_and_says_why(trained,
                                                                               tmp_path):
    # A real program in optimum-cli's place that fails the way it does on an odd architecture.
    exporter = tmp_path / "optimum-cli"
    exporter.write_text("#!/bin/sh\necho 'ValueError: Unsupported model type nope' >&2\nexit 1\n")
    exporter.chmod(0o755)
    run = tmp_path / "run"
    shutil.copytree(trained("good").run.path, run)
    out = io.StringIO()
    metrics = evaluate_run(run, Progress(json_lines=True, stream=out), cache=tmp_path / "cache",
                           songs=2, exporter=str(exporter))["metrics"]
    assert metrics["song_backend"] == "ctranslate2"
    assert metrics["song_fallback"] == ("OpenVINO cannot serve it: OpenVINO cannot convert run: "
                                        "ValueError: Unsupported model type nope")
    assert metrics["base_song_backend"] == "ctranslate2"
    assert metrics["base_song_fallback"].startswith("OpenVINO cannot serve it: OpenVINO cannot "
                                                    "convert ")
    assert not (run / "openvino").exists()  # nothing half-written is left for publish to find
    assert f"on ctranslate2 for the fine-tuned one ({metrics['song_fallback']})" in (
        run / "report.md").read_text()
