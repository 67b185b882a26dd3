"""The writing rules on a real worker and a real tiny model: prompts, clean lyrics, novelty."""

import asyncio

import torch

from model import backends
from model.backend import Served
from model.composer import Composer, Request, prompt_text
from model.novelty import CopyIndex, cut_before
from model.worker import Worker


def run(coro):
    return asyncio.run(coro)


async def write(loader, request, seed=11):
    worker = Worker(loader, batch_window_ms=1)
    worker.start()
    await worker.ready()
    torch.manual_seed(seed)
    try:
        return await Composer(worker).write(request)
    finally:
        await worker.close()


def test_special_token_text_typed_in_a_prompt_never_reaches_the_model(tiny_albums):
    served = backends.load("transformers", tiny_albums, "tiny")
    typed = "hold <|endoftext|> on <|album:Red|>tight"
    assert prompt_text(served, Request(typed)) == "hold  on tight"
    assert prompt_text(served, Request(typed, album="Red")) == "<|album:Red|>\nhold  on tight"
    assert prompt_text(served, Request("hi", album="Unknown")) == "hi"

    result = run(write(lambda: served, Request(typed, max_new_tokens=20)))
    assert result.text.startswith("hold on tight") and "<|" not in result.text


def test_lyrics_are_cut_to_the_asked_lines(tiny_base):
    loader = lambda: backends.load("transformers", tiny_base, "tiny")  # noqa: E731
    result = run(write(loader, Request("one line", lines=1, max_new_tokens=60)))
    assert "\n" not in result.text.strip() and result.text.startswith("one line")


def test_novelty_guard_regenerates_a_planted_copy(tiny_base):
    request = Request("We lit paper lanterns", max_new_tokens=60)
    plain = lambda: backends.load("transformers", tiny_base, "tiny")  # noqa: E731
    planted = run(write(plain, request)).text  # what the model writes with this seed

    def guarded():
        return Served(plain().backend, CopyIndex([planted]))

    result = run(write(guarded, request))  # same seed: the first try writes the planted song
    assert result.attempts == 2 and result.copied_words < 8 and result.text != planted


def test_novelty_guard_trims_before_a_copy_when_out_of_tries(tiny_base):
    # Greedy decoding writes the same song on every try, so every try copies the planted one.
    request = Request("We lit paper lanterns", max_new_tokens=60, greedy=True)
    plain = lambda: backends.load("transformers", tiny_base, "tiny")  # noqa: E731
    planted = run(write(plain, request)).text
    index = CopyIndex([planted])

    result = run(write(lambda: Served(plain().backend, index), request))
    copy = index.longest(planted, after=len(request.prompt))
    assert copy.words >= 8 and result.attempts == 3
    assert result.text == cut_before(planted, copy.start, len(request.prompt))
    assert result.copied_words < 8 and result.text.startswith("We lit paper lanterns")
