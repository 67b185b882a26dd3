"""A tuned model served with its reference (the model it was tuned from), on every backend."""

import asyncio
import shutil

import pytest

from model.errors import BadRequest
from model.serving import backends
from model.serving.protocol import GenRequest
from model.serving.worker import Worker
from tests.model.fake_openai import FakeInference, word_logprob
from training.release.convert import convert_folder

TEXTS = (" and the rain came down\n", " gravel gravel gravel\n")
EXACT = [backends.CTranslate2Options(compute_type="float32")]


@pytest.fixture(scope="module")
def pair(tmp_path_factory, tiny_base, tiny_second):
    """Copies of two tiny models (other weights, one tokenizer) with float32 conversions."""
    folders = {}
    for name, source in (("tuned", tiny_base), ("reference", tiny_second)):
        folder = tmp_path_factory.mktemp(f"reference-{name}") / "model"
        shutil.copytree(source, folder)
        convert_folder(folder, quantization="float32")
        folders[name] = folder
    return folders


def scores(completions):
    return [c.mean_logprob for c in completions]


@pytest.mark.parametrize("name", ["transformers", "ctranslate2"])
def test_reference_requests_are_scored_by_the_reference_the_rest_by_the_tuned(pair, name):
    served = backends.load(name, pair["tuned"], "m", EXACT, reference=pair["reference"])
    batch = [GenRequest("Gravel on the back road\n", k=2, score=TEXTS),
             GenRequest("Gravel on the back road\n", k=2, score=TEXTS, reference=True),
             GenRequest("We lit paper lanterns\n", k=2, max_new_tokens=8, stop=("\n",))]
    tuned, reference, lines = served.backend.generate(batch)
    alone = {which: backends.load(name, pair[which], "m", EXACT).backend.generate(batch[:1])[0]
             for which in ("tuned", "reference")}
    assert scores(tuned) == pytest.approx(scores(alone["tuned"]), abs=1e-4)
    assert scores(reference) == pytest.approx(scores(alone["reference"]), abs=1e-4)
    assert scores(reference) != pytest.approx(scores(tuned), abs=1e-3)
    assert len(lines) == 2 and all(c.finish != "scored" for c in lines)
    assert served.info.model_id == "m"  # the reference only ranks: the run is the tuned one


def test_the_reference_only_scores(pair):
    served = backends.load("transformers", pair["tuned"], "m", reference=pair["reference"])
    with pytest.raises(BadRequest, match="only scores given lines"):
        served.backend.check(GenRequest("Gravel on\n", reference=True))


@pytest.mark.parametrize("name", ["transformers", "ctranslate2", "openai"])
def test_a_reference_request_fails_alone_where_no_reference_is_served(pair, name):
    fake = FakeInference().start() if name == "openai" else None
    options = [backends.OpenAIOptions(urls=(fake.url,))] if fake else EXACT
    served = backends.load(name, pair["tuned"], "m", options)

    async def main():
        worker = Worker(lambda: served, batch_window_ms=50)
        worker.start()
        await worker.ready()
        try:
            return await asyncio.gather(
                worker.submit_nowait(GenRequest("Gravel on\n", k=2, score=TEXTS,
                                                reference=True)),
                worker.submit_nowait(GenRequest("Gravel on\n", k=2, score=TEXTS)),
                return_exceptions=True)
        finally:
            await worker.close()

    try:
        refused, scored = asyncio.run(main())
    finally:
        if fake:
            fake.close()
    assert isinstance(refused, BadRequest)
    assert str(refused) == "no reference model is served beside this one"
    assert len(scored.completions) == 2  # the request beside it was served
    if fake:  # the server was asked once, for the plain scoring
        assert len(fake.completions()) == 1


def test_a_remote_reference_is_the_base_model_named_on_the_same_servers(pair):
    fake = FakeInference(model="artist-lora", also=("base",)).start()
    try:
        served = backends.load("openai", pair["tuned"], "m",
                               [backends.OpenAIOptions(urls=(fake.url,), model="artist-lora")],
                               reference="base")
        (scored,) = served.backend.generate([GenRequest("Gravel on", k=1,
                                                        score=(" lanterns tremble",),
                                                        reference=True)])
        line = served.backend.generate([GenRequest("Gravel on\n", k=1, stop=("\n",))])
    finally:
        fake.close()
    asked = fake.completions()
    assert [(r.body["model"], bool(r.body.get("echo"))) for r in asked] == [
        ("base", True), ("artist-lora", False)]
    assert scored[0].mean_logprob == pytest.approx(
        (word_logprob("lanterns") + word_logprob("tremble")) / 2)
    assert len(line[0]) == 1
