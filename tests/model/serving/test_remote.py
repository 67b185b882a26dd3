"""The OpenAI-compatible backend against a fake inference server on loopback."""

import asyncio
import time
from dataclasses import replace

import pytest

from model.errors import BadRequest, Offline
from model.lyrics.style import GENERIC
from model.serving import backends
from model.serving.protocol import GenRequest, Sampling, Served
from model.serving.remote import OpenAIBackend
from model.serving.worker import Worker
from model.writing.composer import Composer
from model.writing.request import Request
from tests.model.fake_openai import FakeInference, Fault


@pytest.fixture
def servers():
    started = []

    def start(**options):
        fake = FakeInference(**options).start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.close()


def remote(*fakes, folder=None, **options):
    options.setdefault("timeout", 5.0)
    options.setdefault("retries", 2)
    options.setdefault("probe_every", 0.1)
    return OpenAIBackend.load([f.url for f in fakes], options.pop("api_key", None),
                              options.pop("model", None), folder, **options)


def test_requests_carry_the_prompt_sampling_and_end_of_song(servers, tiny_albums):
    fake = servers(api_key="sk-test")
    backend = remote(fake, folder=tiny_albums, api_key="sk-test")
    served = Served(backend, None)
    assert backend.info.model_id == "swiftai"  # the first model the server lists
    assert served.info.albums == ["Porchlight", "Red"]  # from the run folder's tokenizer
    (three,) = backend.generate([GenRequest("<|album:Red|>\nRed lights", k=3,
                                            max_new_tokens=50, temperature=0.7)])
    assert [c.text for c in three] == [f"\nline {i} of song 1\nand a second line {i}"
                                       for i in range(3)]
    assert three[1].mean_logprob == pytest.approx(-2.0) and three[0].finish == "end"
    body = fake.completions()[0].body
    assert body["prompt"] == "<|album:Red|>\nRed lights" and body["n"] == 3
    assert body["max_tokens"] == 50 and body["temperature"] == 0.7 and body["top_p"] == 0.95
    assert body["stop"] == ["<|endoftext|>"]
    assert body["repetition_penalty"] == Sampling().repetition_penalty
    assert body["model"] == "swiftai" and body["logprobs"] == 1
    assert fake.completions()[0].headers["Authorization"] == "Bearer sk-test"
    backend.close()


def test_a_429_with_retry_after_is_waited_out_and_retried(servers):
    fake = servers()
    fake.faults = [Fault(status=429, retry_after="1")]
    backend = remote(fake)
    (done,) = backend.generate([GenRequest("hi")])
    first, second = fake.completions()
    assert done[0].text.startswith("\nline 0") and second.at - first.at >= 0.95
    backend.close()


def test_a_500_is_retried_with_backoff(servers):
    fake = servers()
    fake.faults = [Fault(status=500)]
    backend = remote(fake)
    (done,) = backend.generate([GenRequest("hi")])
    assert done and len(fake.completions()) == 2
    backend.close()


def test_a_bad_request_fails_alone_and_leaves_the_server_up(servers):
    fake = servers()
    fake.faults = [Fault(status=400)]
    backend = remote(fake)
    with pytest.raises(BadRequest, match="refused this request"):
        backend.generate([GenRequest("hi")])
    assert backend.unavailable() is None and backend.status()[0]["up"]
    backend.close()


def test_a_server_that_times_out_is_skipped_for_the_other(servers):
    slow, fine = servers(), servers()
    slow.faults = [Fault(delay=2.0)] * 5
    backend = remote(slow, fine, timeout=0.5, retries=0, probe_every=60)
    results = backend.generate([GenRequest(f"r{i}") for i in range(4)])
    assert all(r[0].text for r in results)
    assert [s["up"] for s in backend.status()] == [False, True]
    assert backend.status()[0]["error"] == "APITimeoutError"
    backend.close()


def test_requests_are_spread_over_the_servers_and_skip_one_that_is_down(servers):
    a, b = servers(), servers()
    backend = remote(a, b, probe_every=60)
    backend.generate([GenRequest(f"r{i}") for i in range(4)])
    assert len(a.completions()) == 2 and len(b.completions()) == 2
    b.stop()  # connection refused from now on
    results = backend.generate([GenRequest(f"s{i}") for i in range(4)])
    assert all(r[0].text for r in results) and len(a.completions()) == 6
    assert [s["up"] for s in backend.status()] == [True, False]
    backend.close()


def test_with_every_server_down_requests_are_refused_at_once_until_one_returns(servers):
    fake = servers()

    async def main():
        backend = remote(fake)
        # No habits: the fake's lines hold digits ("line 0"), a shape a lyric almost never has.
        served = Served(backend, None, replace(GENERIC, characters=None, shapes=None))
        worker = Worker(lambda: served, batch_window_ms=1)
        worker.start()
        await worker.ready()
        composer = Composer(worker)
        (first,) = await composer.write(Request("before"))
        fake.stop()
        for _ in range(100):  # the probe notices within a few tenths of a second
            if backend.unavailable():
                break
            await asyncio.sleep(0.05)
        started = time.monotonic()
        with pytest.raises(Offline, match="the songwriter is offline"):
            composer.start(Request("during"))
        refused_in = time.monotonic() - started
        fake.start()  # the same address comes back
        for _ in range(100):
            if not backend.unavailable():
                break
            await asyncio.sleep(0.05)
        (after,) = await composer.write(Request("after"))
        await worker.close()
        return first, refused_in, after

    first, refused_in, after = asyncio.run(main())
    assert first.text.startswith("before\nline 0") and after.text.startswith("after\nline 0")
    assert refused_in < 0.1


def test_the_backend_table_builds_it_and_it_loads_no_weights(servers, tiny_albums):
    fake = servers()
    options = [backends.OpenAIOptions(urls=(fake.url,), timeout=5.0)]
    served = backends.load("openai", tiny_albums, "20260101-000000-abcdef", options)
    # The log names the run the servers serve, not the servers' own name for it.
    assert served.info.backend == "openai" and served.info.model_id == "20260101-000000-abcdef"
    assert served.backend.remote and backends.is_remote("openai")
    served.close()


def test_each_artists_model_goes_only_to_the_servers_that_list_it(servers):
    juniper, marlow = servers(model="jv-merged"), servers(model="mk-merged")
    backends_ = [remote(juniper, marlow, model=name) for name in ("jv-merged", "mk-merged")]
    for backend in backends_:
        for _ in range(3):
            backend.generate([GenRequest("hi", max_new_tokens=5)])
    assert [c.body["model"] for c in juniper.completions()] == ["jv-merged"] * 3
    assert [c.body["model"] for c in marlow.completions()] == ["mk-merged"] * 3
    marlow.stop()
    for _ in range(60):  # the probe notices
        if backends_[1].unavailable():
            break
        time.sleep(0.05)
    assert backends_[1].unavailable() and backends_[0].unavailable() is None
    for backend in backends_:
        backend.close()


def test_a_greedy_request_asks_for_one_completion_and_repeats_it(servers):
    fake = servers()  # refuses n > 1 with temperature 0, as vLLM does
    backend = remote(fake)
    (three,) = backend.generate([GenRequest("hi", k=3, greedy=True)])
    assert len(three) == 3 and len({c.text for c in three}) == 1
    assert fake.completions()[0].body["n"] == 1
    backend.close()


@pytest.mark.parametrize("listed, context", [(64, 64), (None, 256)])
def test_a_fit_prompt_loses_its_oldest_lines_to_leave_room_in_the_context(
        servers, tiny_albums, listed, context):
    from model.serving.tokens import load_folder_tokenizer

    codec, spec = load_folder_tokenizer(tiny_albums)
    fake = servers(context=listed)  # none listed: the run's own context (n_positions 256)
    backend = remote(fake, folder=tiny_albums)
    lines = [f"verse line number {i} by the porch light" for i in range(60)]
    prompt = "<|album:Red|>\n" + "\n".join(lines) + "\n\n[Chorus]\n"
    backend.generate([GenRequest(prompt, max_new_tokens=20, stop=("\n\n",), fit=True)])
    backend.generate([GenRequest(prompt, max_new_tokens=20)])
    fitted, whole = (r.body["prompt"] for r in fake.completions())
    tokens = len(codec.encode(fitted, add_special_tokens=False).ids)
    assert prompt.endswith(fitted) and fitted.startswith("verse line number")
    assert context - 20 - 15 < tokens + len(spec.prefix_ids) <= context - 20  # a line at most lost
    assert whole == prompt  # not shortened without `fit`: the server refuses it or not
    backend.close()


def test_a_request_the_server_refuses_is_logged_in_one_line(servers, caplog):
    fake = servers()
    fake.faults = [Fault(status=400)]

    async def main():
        backend = remote(fake)
        worker = Worker(lambda: Served(backend, None), batch_window_ms=1)
        worker.start()
        await worker.ready()
        try:
            with pytest.raises(BadRequest, match="refused this request"):
                await Composer(worker).write(Request("hi"))
        finally:
            await worker.close()

    asyncio.run(main())
    records = [r for r in caplog.records if r.name == "model.serving.worker"]
    assert [r.levelname for r in records] == ["WARNING"] and records[0].exc_info is None
    assert "refused this request" in records[0].getMessage()


def test_a_closed_worker_stops_probing_the_servers(servers):
    fake = servers()

    async def main():
        backend = remote(fake, probe_every=0.05)
        worker = Worker(lambda: Served(backend, None), batch_window_ms=1)
        worker.start()
        await worker.ready()
        await worker.close()

    asyncio.run(main())
    time.sleep(0.2)  # a probe under way when the worker closed has answered by now
    probes = len(fake.requests)
    time.sleep(0.5)  # ten probe periods
    assert len(fake.requests) == probes
