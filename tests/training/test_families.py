"""Any causal LM: tiny GPT-2, Llama and Qwen2 models train, publish and write lyrics."""

import pytest

from model.registry import Registry
from training.publish import publish

from .conftest import cli, copy_runs


@pytest.mark.parametrize("name", ["good", "llama", "qwen2"])
def test_a_run_of_each_family_is_published_and_writes_lyrics(tmp_path, trained, name):
    registry = Registry(tmp_path / "models")
    copy_runs(registry, trained, name)
    run = registry.run(name)
    assert run.metrics["perplexity"] < run.metrics["base_perplexity"]
    assert publish(registry, name).converted == "converted for CTranslate2"
    for backend in ("ctranslate2", "transformers"):
        result = cli(tmp_path, "generate", "--prompt", "We lit paper lanterns", "--album",
                     "Harbor Lights", "--lines", "4", "--seed", "1", "--backend", backend)
        assert result.returncode == 0, result.stderr
        text = result.stdout.strip()
        assert text.startswith("We lit paper lanterns")
        assert not any(s in text for s in ("<|", "</s>", "<s>", "endoftext")), text

