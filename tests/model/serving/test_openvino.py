"""The OpenVINO backend on OpenVINO GenAI itself, serving tiny models our converter exported.

Marked `openvino` (`.ci/openvino`): the export runs optimum-cli from a side venv. The tests of
the converter's failures need no exporter and run in the default suite.
"""

import json
import subprocess
import sys

import pytest

from model.serving import backends
from model.serving.openvino import has_ir
from model.serving.protocol import GenRequest
from tests.conftest import ROOT
from tests.tiny_model import FAMILIES
from training.errors import TrainingError
from training.release.convert import convert_openvino

PROMPTS = ["I remember the lake in December", "Gravel on the back road", "hi"]
EXACT = [backends.OpenVINOOptions(precision="f32")]


def load(folder, options=EXACT):
    return backends.load("openvino", folder, "m", options)


@pytest.mark.openvino
@pytest.mark.parametrize("family", FAMILIES)
def test_openvino_writes_what_transformers_writes_greedily(ov_converted, family):
    folder = ov_converted[family]
    batch = [GenRequest(p, max_new_tokens=24, greedy=True) for p in PROMPTS]
    if family == "gpt2":  # an album token, fed as our ids
        batch.append(GenRequest("<|album:Red|>\nRed lights", max_new_tokens=24, greedy=True))
    hf = backends.load("transformers", folder, "m").backend.generate(batch)
    served = load(folder)
    assert served.info.backend == "openvino"
    fast = served.backend.generate(batch)
    assert [c[0].text for c in fast] == [c[0].text for c in hf]
    assert [c[0].finish for c in fast] == [c[0].finish for c in hf]
    for slow, quick in zip(hf, fast, strict=True):
        # OpenVINO's are the raw log-probabilities, transformers' those after the repetition
        # penalty: close, not equal, on a tiny model that repeats itself.
        assert quick[0].mean_logprob == pytest.approx(slow[0].mean_logprob, abs=0.2)


@pytest.mark.openvino
def test_auto_serves_on_openvino_where_the_folder_has_an_ir(ov_converted):
    served = backends.load("auto", ov_converted["llama"], "m")
    assert served.info.backend == "openvino"
    assert served.backend.generate([GenRequest("hi", k=2, max_new_tokens=4)])[0][1].tokens <= 4


@pytest.mark.openvino
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("texts", [
    (" and the rain came down\n", " gravel gravel gravel\n", " oh"),
    # A re-ending's rows: one stem, read once, then each row's own ending; one row is the
    # stem itself and another runs longer.
    (" and the rain came down\n", " and the rain came in\n", " and the rain\n",
     " and the rain came down the gravel road\n")])
def test_openvino_scores_given_continuations_as_transformers_does(ov_converted, family, texts):
    # Scored together, as a crowd's re-endings are: heads of different lengths, padded.
    batch = [GenRequest(prompt, k=len(texts), score=texts) for prompt in PROMPTS[:2]]
    hf = backends.load("transformers", ov_converted[family], "m").backend
    ov = load(ov_converted[family]).backend.generate(batch)
    for request, scored in zip(batch, ov, strict=True):
        (alone,) = hf.generate([request])
        assert [c.text for c in scored] == list(texts)
        assert {c.finish for c in scored} == {"scored"}
        assert [c.tokens for c in scored] == [c.tokens for c in alone]  # padding not scored
        for slow, quick in zip(alone, scored, strict=True):
            assert quick.mean_logprob == pytest.approx(slow.mean_logprob, abs=1e-3)


@pytest.mark.openvino
def test_line_steps_of_different_k_stop_at_the_newline_beside_a_scoring_request(ov_converted):
    backend = load(ov_converted["gpt2"]).backend
    batch = [GenRequest(prompt + "\n", k=k, max_new_tokens=12, stop=("\n",))
             for prompt, k in zip(PROMPTS, (3, 6, 1), strict=True)]
    batch.insert(1, GenRequest("Gravel on", k=2, score=(" the road\n", " a star\n")))
    answers = backend.generate(batch)
    assert [len(lines) for lines in answers] == [3, 2, 6, 1]
    assert {c.finish for c in answers[1]} == {"scored"}
    for lines in answers[:1] + answers[2:]:
        assert all("\n" not in c.text and c.mean_logprob < 0 and c.tokens <= 12 for c in lines)
        assert {c.finish for c in lines} <= {"stop", "length", "end"}


@pytest.mark.openvino
def test_a_stop_string_cuts_the_sample_where_it_is_completed(ov_converted):
    (stopped,) = load(ov_converted["qwen2"]).backend.generate(
        [GenRequest("so", k=4, max_new_tokens=60, stop=("e",))])
    for completion in stopped:
        assert "e" not in completion.text and completion.finish in ("stop", "end")
        assert completion.tokens < 60


@pytest.mark.openvino
def test_the_same_prompt_gets_new_samples_each_time_unless_seeded(ov_converted):
    # OpenVINO seeds every request with 0 by default: the same prompt, the same lines.
    request = GenRequest("We lit paper lanterns\n", k=3, max_new_tokens=16, stop=("\n",))
    backend = load(ov_converted["llama"]).backend
    first, again = (tuple(c.text for c in backend.generate([request])[0]) for _ in range(2))
    assert first != again
    seeded = [tuple(c.text for c in load(ov_converted["llama"], [
        backends.OpenVINOOptions(seed=7, precision="f32")]).backend.generate([request])[0])
        for _ in range(2)]
    assert seeded[0] == seeded[1]


@pytest.mark.openvino
def test_serving_on_openvino_never_imports_torch(ov_converted):
    code = (
        "import sys, json\n"
        "from model.serving import backends\n"
        "from model.serving.protocol import GenRequest\n"
        f"served = backends.load('openvino', {str(ov_converted['gpt2'])!r}, 'm')\n"
        "out = served.backend.generate([GenRequest('hello', k=2, max_new_tokens=5),\n"
        "                               GenRequest('hello', k=2, score=(' a', ' b'))])\n"
        "print(json.dumps([out[0][0].tokens, 'torch' in sys.modules,\n"
        "                  'transformers' in sys.modules]))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    tokens, torch_loaded, transformers_loaded = json.loads(done.stdout)
    assert tokens > 0 and not torch_loaded and not transformers_loaded


def test_a_missing_exporter_is_named_in_one_line_and_leaves_no_folder(tiny_base, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    with pytest.raises(TrainingError, match="the OpenVINO exporter 'no-such-optimum-cli' is not "
                                            "there"):
        convert_openvino(folder, "no-such-optimum-cli")
    assert list(folder.iterdir()) == []


def test_a_failing_export_says_the_exporters_last_line_and_leaves_no_folder(tmp_path):
    # A real program in the exporter's place that fails as optimum-cli does: an error, exit 1.
    exporter = tmp_path / "optimum-cli"
    exporter.write_text("#!/bin/sh\necho 'loading...' >&2\n"
                        "echo 'ValueError: Unsupported architecture Nope' >&2\nexit 1\n")
    exporter.chmod(0o755)
    folder = tmp_path / "model"
    folder.mkdir()
    with pytest.raises(TrainingError) as caught:
        convert_openvino(folder, str(exporter))
    assert str(caught.value) == ("OpenVINO cannot convert model: ValueError: Unsupported "
                                 "architecture Nope")
    assert list(folder.iterdir()) == [] and not has_ir(folder)


def test_the_openvino_backend_without_an_ir_says_how_to_make_one(tmp_path):
    with pytest.raises(Exception, match="no OpenVINO conversion: run `python -m training "
                                        "convert`"):
        backends.load("openvino", tmp_path, "m")
