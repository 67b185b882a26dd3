"""Any causal LM: tiny GPT-2, Llama and Qwen2 models (and a LoRA run) train, publish and write."""

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed

from model.registry.runs import Registry
from tests.training.conftest import cli, copy_runs
from training.data.dataset import add_album_tokens
from training.release.publish import publish
from training.tuning import lora


@pytest.mark.parametrize("name", ["good", "llama", "qwen2", "lora"])
def test_a_run_of_each_family_is_published_and_writes_lyrics(tmp_path, trained, name):
    registry = Registry(tmp_path / "models")
    copy_runs(registry, trained, name)
    run = registry.run(name)
    assert run.metrics["perplexity"] < run.metrics["base_perplexity"]
    ends = json.loads((run.path / "generation_config.json").read_text())["eos_token_id"]
    assert len(ends if isinstance(ends, list) else [ends]) == (2 if name == "qwen2" else 1)
    assert publish(registry, name).converted == "converted for CTranslate2"
    for backend in ("ctranslate2", "transformers"):
        result = cli(tmp_path, "generate", "--prompt", "We lit paper lanterns", "--album",
                     "Harbor Lights", "--lines", "4", "--seed", "1", "--backend", backend)
        assert result.returncode == 0, result.stderr
        text = result.stdout.strip()
        assert text.startswith("We lit paper lanterns")
        assert not any(s in text for s in ("<|", "</s>", "<s>", "endoftext")), text


def test_lora_trains_adapters_and_album_rows_and_saves_a_plain_model(trained, tiny_base):
    run = trained("lora").run
    assert run.manifest["options"]["lora"] and run.manifest["options"]["learning_rate"] == 1e-2
    assert run.manifest["training"]["lora_targets"] == ["c_attn", "c_fc", "c_proj"]
    assert not list(run.path.glob("adapter_*"))  # merged: an ordinary model folder
    # Where training started: the base, and album rows made the same way with the same seed.
    set_seed(42)
    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    start = AutoModelForCausalLM.from_pretrained(tiny_base, dtype=torch.float32)
    known = len(tokenizer)
    add_album_tokens(tokenizer, start, run.manifest["albums"])
    before = start.get_input_embeddings().weight.detach()
    after = load_file(run.path / "model.safetensors")["transformer.wte.weight"]
    albums = slice(known, len(tokenizer))
    assert torch.equal(after[:known], before[:known])  # frozen
    assert not torch.allclose(after[albums], before[albums])  # trained
    trained_c_attn = load_file(run.path / "model.safetensors")["transformer.h.0.attn.c_attn.weight"]
    assert not torch.allclose(trained_c_attn, start.transformer.h[0].attn.c_attn.weight)


def test_lora_plus_gives_every_b_matrix_its_ratio_of_the_rate_and_the_rest_the_rate(tiny_base):
    model = AutoModelForCausalLM.from_pretrained(tiny_base, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    add_album_tokens(tokenizer, model, ["Harbor Lights"])
    album_row = tokenizer.convert_tokens_to_ids(["<|album:Harbor Lights|>"])
    model = lora.add_adapters(model, 4, 8, album_row)
    rates = {id(p): group["lr"] for group in lora.optimizer(model, 1e-3, 0.01, 8).param_groups
             for p in group["params"]}
    trainable = {name: p for name, p in model.named_parameters() if p.requires_grad}
    assert len(rates) == len(trainable)  # every weight that trains is in one group
    b = [n for n in trainable if "lora_B" in n]
    assert b and all(rates[id(trainable[n])] == pytest.approx(8e-3) for n in b)
    rest = [n for n in trainable if "lora_B" not in n]
    assert any("token" in n for n in rest)  # the album row trains at the plain rate
    assert all(rates[id(trainable[n])] == pytest.approx(1e-3) for n in rest)
