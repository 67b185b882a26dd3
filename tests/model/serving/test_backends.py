"""The backend table and the two local backends on tiny models of three families."""

import asyncio
import json
import shutil
import subprocess
import sys

import pytest

from model.errors import BadRequest
from model.serving import backends
from model.serving.ct2 import has_conversion
from model.serving.protocol import GenRequest
from model.serving.tokens import load_folder_tokenizer
from model.serving.worker import Worker
from tests.conftest import ROOT
from tests.model.fake_openai import FakeInference
from tests.tiny_model import FAMILIES
from training.release.convert import convert_folder

PROMPTS = ["I remember the lake in December", "Gravel on the back road", "hi"]


@pytest.fixture(scope="session")
def converted(tmp_path_factory, tiny_family, tiny_albums):
    """Copies of tiny models with float32 CTranslate2 conversions (exact, for comparisons)."""
    folders = {}
    for family in FAMILIES:
        source = tiny_albums if family == "gpt2" else tiny_family(family)
        folder = tmp_path_factory.mktemp(f"ct2-{family}") / "model"
        shutil.copytree(source, folder)
        convert_folder(folder, quantization="float32")
        folders[family] = folder
    return folders


@pytest.mark.parametrize("family", FAMILIES)
def test_each_tokenizer_tells_its_own_prefix_and_end_tokens(tiny_family, family):
    codec, spec = load_folder_tokenizer(tiny_family(family))
    served = backends.load("transformers", tiny_family(family), family)
    assert served.info.spec == spec  # the torch-free reading agrees with transformers'
    eos = codec.id_to_token(spec.eos_id)
    assert eos == {"gpt2": "<|endoftext|>", "llama": "</s>", "qwen2": "<|endoftext|>"}[family]
    assert [codec.id_to_token(i) for i in spec.prefix_ids] == (["<s>"] if family == "llama"
                                                               else [])
    ends = [codec.id_to_token(i) for i in spec.end_ids]
    assert ends == ([eos, "<|im_end|>"] if family == "qwen2" else [eos])
    assert set(spec.specials) >= {eos, *ends}


@pytest.mark.parametrize("family", FAMILIES)
def test_both_backends_write_the_same_text_greedily(converted, family):
    folder = converted[family]
    batch = [GenRequest(p, max_new_tokens=24, greedy=True) for p in PROMPTS]
    if family == "gpt2":
        batch.append(GenRequest("<|album:Red|>\nRed lights", max_new_tokens=24, greedy=True))
    hf = backends.load("transformers", folder, "m").backend.generate(batch)
    ct2 = backends.load("ctranslate2", folder, "m",
                        [backends.CTranslate2Options(compute_type="float32")])
    assert ct2.info.backend == "ctranslate2"
    fast = ct2.backend.generate(batch)
    assert [c[0].text for c in fast] == [c[0].text for c in hf]
    assert [c[0].finish for c in fast] == [c[0].finish for c in hf]
    for slow, quick in zip(hf, fast, strict=True):
        assert quick[0].mean_logprob == pytest.approx(slow[0].mean_logprob, abs=0.05)


@pytest.mark.parametrize("name", ["transformers", "ctranslate2"])
def test_a_local_backend_declares_itself_local_always_available_with_no_servers(converted, name):
    served = backends.load(name, converted["gpt2"], "m")
    assert served.backend.remote is backends.is_remote(name) is False
    assert served.unavailable() is None and served.backend.status() is None
    served.close()  # nothing to release, and no error saying so


def test_options_of_another_backend_are_left_aside_for_the_chosen_ones_defaults(converted):
    given = [backends.TransformersOptions(seed=1), backends.CTranslate2Options("float32")]
    served = backends.load("ctranslate2", converted["gpt2"], "m", given)
    assert served.backend.generator.compute_type == "float32"
    assert backends.load("ctranslate2", converted["gpt2"], "m",
                         given[:1]).backend.generator.compute_type.startswith("int8")


@pytest.mark.parametrize("name", ["transformers", "ctranslate2"])
def test_samples_mixed_settings_and_stop_strings_on_each_backend(converted, name):
    served = backends.load(name, converted["qwen2"], "m")
    batch = [GenRequest("hi", k=3, max_new_tokens=10), GenRequest("yo", max_new_tokens=5,
                                                                   temperature=1.5),
             GenRequest("so", k=2, max_new_tokens=60, stop=("e",))]
    three, one, stopped = served.backend.generate(batch)
    assert len(three) == 3 and len(one) == 1
    assert all(c.tokens <= 10 and c.mean_logprob < 0 for c in three)
    assert one[0].tokens <= 5
    for completion in stopped:  # stopped early, at the string, and cut before it
        assert "e" not in completion.text and completion.finish in ("stop", "end")
        assert completion.tokens < 60


def test_transformers_samples_at_the_asked_temperature_not_also_at_the_models(converted,
                                                                              tmp_path):
    # generate() used to apply the model's own temperature after the row's: a model whose
    # generation_config.json says 0.001 wrote one near-greedy text however hot a row asked.
    folder = tmp_path / "model"
    shutil.copytree(converted["gpt2"], folder)
    config = json.loads((folder / "generation_config.json").read_text(encoding="utf-8"))
    config.update(do_sample=True, temperature=0.001)
    (folder / "generation_config.json").write_text(json.dumps(config), encoding="utf-8")
    served = backends.load("transformers", folder, "m")
    [cold] = served.backend.generate([GenRequest("hi", k=8, max_new_tokens=6)])
    [hot] = served.backend.generate([GenRequest("hi", k=8, max_new_tokens=6, temperature=1.5)])
    assert len({c.text for c in cold}) == 1  # the model's own 0.001: greedy in effect
    assert len({c.text for c in hot}) > 1


def test_auto_uses_ctranslate2_only_where_a_conversion_is(converted, tiny_family):
    assert backends.resolve("auto", converted["llama"]) == "ctranslate2"
    assert backends.resolve("auto", tiny_family("llama")) == "transformers"
    assert backends.resolve("auto", None) == "transformers"
    assert backends.load("auto", converted["llama"], "m").info.backend == "ctranslate2"
    with pytest.raises(Exception, match="unknown serving backend"):
        backends.resolve("vllm", None)


def test_auto_prefers_an_openvino_ir_to_a_conversion_once_it_is_whole(converted, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(converted["llama"], folder)
    (folder / "openvino").mkdir()
    (folder / "openvino" / "openvino_model.xml").write_text("<net/>")
    assert backends.resolve("auto", folder) == "ctranslate2"  # an export cut short: no weights
    (folder / "openvino" / "openvino_model.bin").write_bytes(b"\0")
    assert backends.resolve("auto", folder) == "openvino"  # (tests marked openvino load one)


def test_a_missing_model_folder_fails_fast_with_advice(tmp_path):
    with pytest.raises(Exception, match="not a model folder"):
        backends.load("transformers", tmp_path / "nope", "m")
    with pytest.raises(Exception, match="no CTranslate2 conversion"):
        backends.load("ctranslate2", tmp_path, "m")


def test_a_conversion_is_replaced_whole(converted, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(converted["llama"], folder)
    convert_folder(folder, quantization="float32")
    assert has_conversion(folder)
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []


def test_serving_on_ctranslate2_never_imports_torch(converted):
    folder = converted["gpt2"]
    code = (
        "import sys, json\n"
        "from model.serving import backends\n"
        "from model.serving.protocol import GenRequest\n"
        f"served = backends.load('ctranslate2', {str(folder)!r}, 'm')\n"
        "out = served.backend.generate([GenRequest('hello', max_new_tokens=5)])\n"
        "print(json.dumps([out[0][0].tokens, 'torch' in sys.modules,\n"
        "                  'transformers' in sys.modules]))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    tokens, torch_loaded, transformers_loaded = json.loads(done.stdout)
    assert tokens > 0 and not torch_loaded and not transformers_loaded


@pytest.mark.parametrize("family", FAMILIES)
def test_both_backends_score_given_continuations_alike(converted, family):
    texts = (" and the rain came down\n", " gravel gravel gravel\n")
    request = GenRequest("Gravel on the back road", k=2, score=texts)
    hf = backends.load("transformers", converted[family], "m").backend.generate([request])[0]
    ct2 = backends.load("ctranslate2", converted[family], "m",
                        [backends.CTranslate2Options(compute_type="float32")]).backend.generate([request])[0]
    assert [c.text for c in hf] == list(texts) and [c.finish for c in ct2] == ["scored"] * 2
    codec, _ = load_folder_tokenizer(converted[family])
    assert [c.tokens for c in hf] == [c.tokens for c in ct2] == \
        [len(codec.encode(t, add_special_tokens=False).ids) for t in texts]
    for slow, quick in zip(hf, ct2, strict=True):
        assert quick.mean_logprob == pytest.approx(slow.mean_logprob, abs=0.02)


def test_a_continuation_the_model_wrote_scores_above_noise(converted):
    backend = backends.load("transformers", converted["llama"], "m").backend
    written = backend.generate([GenRequest("Gravel on", max_new_tokens=8, greedy=True)])[0][0]
    (scored,) = backend.generate([GenRequest("Gravel on", score=(written.text,))])[0]
    unlikely = backend.generate([GenRequest("Gravel on", score=(" zq zq zq zq",))])[0][0]
    assert scored.mean_logprob > unlikely.mean_logprob


@pytest.mark.parametrize("name", ["transformers", "ctranslate2"])
def test_line_steps_stop_at_the_newline_on_each_backend(converted, name):
    served = backends.load(name, converted["gpt2"], "m")
    (lines,) = served.backend.generate([GenRequest("We lit paper lanterns\n", k=4,
                                                   max_new_tokens=30, stop=("\n",))])
    assert len(lines) == 4
    assert all("\n" not in c.text for c in lines)
    assert {c.finish for c in lines} <= {"stop", "length", "end"}


@pytest.mark.parametrize("name", ["transformers", "ctranslate2"])
def test_line_steps_of_different_k_in_one_batch_each_get_their_own_k(converted, name):
    served = backends.load(name, converted["gpt2"], "m")
    batch = [GenRequest(prompt + "\n", k=k, max_new_tokens=12, stop=("\n",))
             for prompt, k in zip(PROMPTS, (3, 6, 2), strict=True)]
    answers = served.backend.generate(batch)
    assert [len(lines) for lines in answers] == [3, 6, 2]
    assert all("\n" not in c.text and c.mean_logprob is not None
               for lines in answers for c in lines)


@pytest.mark.parametrize("name", ["transformers", "ctranslate2", "openai",
                                  pytest.param("openvino", marks=pytest.mark.openvino)])
def test_a_blank_prompt_fails_alone_with_one_line_on_each_backend(request, converted, name):
    # CTranslate2 fails a whole batch on an empty prompt, and a model fed nothing writes
    # whatever a web page starts with: every backend refuses one in `check`, per request.
    fake = FakeInference().start() if name == "openai" else None
    options = [backends.OpenAIOptions(urls=(fake.url,))] if fake else []
    folder = (request.getfixturevalue("ov_converted") if name == "openvino" else converted)["gpt2"]
    served = backends.load(name, folder, "m", options)

    async def main():
        worker = Worker(lambda: served, batch_window_ms=50)
        worker.start()
        await worker.ready()
        try:
            tickets = [worker.submit_nowait(GenRequest(prompt, k=2, max_new_tokens=6,
                                                       stop=("\n",)))
                       for prompt in ("", "We lit paper lanterns\n", " \n\n ")]
            return await asyncio.gather(*tickets, return_exceptions=True)
        finally:
            await worker.close()

    try:
        empty, line, blank = asyncio.run(main())
    finally:
        if fake:
            fake.close()
    for refused in (empty, blank):
        assert isinstance(refused, BadRequest)
        assert str(refused) == "the prompt is empty: there is nothing to continue"
    assert len(line.completions) == 2  # the request beside them was served
    if fake:  # the server was never asked to continue nothing
        assert [r.body["prompt"] for r in fake.completions()] == ["We lit paper lanterns\n"]
