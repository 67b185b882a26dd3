"""The OpenAI backend on a real vLLM (`python -m pytest -m vllm`; `.ci/vllm` sets it up): the two
requests vLLM refused that the fake server let through."""

import pytest

from model.serving.protocol import GenRequest
from model.serving.remote import OpenAIBackend
from model.serving.tokens import load_folder_tokenizer
from tests.vllm_server import CONTEXT, MODEL

pytestmark = pytest.mark.vllm


@pytest.fixture
def backend(vllm):
    backend = OpenAIBackend.load([vllm.url], None, MODEL, vllm.folder, timeout=60, retries=0)
    yield backend
    backend.close()


def test_a_fit_prompt_longer_than_vllms_context_is_cut_to_fit(backend, vllm):
    codec, _ = load_folder_tokenizer(vllm.folder)
    prompt = "\n".join(f"the porch light burns on night {i}" for i in range(40)) + "\n\n"
    assert len(codec.encode(prompt).ids) > 256  # more than the run's context, and vLLM's
    (two,) = backend.generate([GenRequest(prompt, k=2, max_new_tokens=40, stop=("\n\n",),
                                          fit=True)])
    assert len(two) == 2 and all(c.tokens > 0 for c in two)
    assert backend.servers[0].contexts == {MODEL: CONTEXT}  # what vLLM lists is what fits


def test_a_greedy_request_for_three_gets_three_equal_completions(backend):
    (three,) = backend.generate([GenRequest("The porch light", k=3, greedy=True,
                                            max_new_tokens=12)])
    assert len(three) == 3 and len({c.text for c in three}) == 1 and three[0].tokens > 0
