"""Hostile input on a real loopback server: no 500s, JSON always, a bounded log."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import urllib.parse

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from bot.service.asks import EXCERPT_CHARS
from bot.web.routes import start_web
from swiftai.settings import Settings
from tests.bot.conftest import call, open_app


async def rows(app):
    async with app.store.db.execute("SELECT status, prompt, lines FROM generations") as cursor:
        return [tuple(r) for r in await cursor.fetchall()]


async def test_numbers_that_do_not_fit_are_400s_and_logged(serve_web):
    base, app = await serve_web()
    for body in ('{"prompt": "hi", "lines": Infinity}', '{"prompt": "hi", "n": 1e999}',
                 '{"prompt": "hi", "lines": ' + "9" * 400 + "}", '{"prompt": "hi", "n": 0}',
                 '{"prompt": "hi", "lines": 2.5}'):
        status, data, _ = await call("POST", f"{base}/api/lyrics", data=body,
                                     headers={"Content-Type": "application/json"})
        assert status == 400 and " must be " in data["error"], (body, data)
    assert [(s, p, n) for s, p, n in await rows(app)] == [("rejected", "hi", None)] * 5


async def test_songwrite_names_its_own_parameters(serve_web):
    base, _ = await serve_web()
    status, data, _ = await call("GET", f"{base}/api/songwrite",
                                 params={"prompt": "Back road", "num": "0"})
    assert status == 400 and data["error"] == "num must be between 1 and 3"
    status, data, _ = await call("GET", f"{base}/api/songwrite",
                                 params={"prompt": "Back road", "length": "Infinity"})
    assert status == 400 and data["error"].startswith("length must be a whole number")


async def test_a_url_over_8_kb_is_a_json_400(serve_web):
    base, _ = await serve_web()
    status, data, _ = await call("GET", f"{base}/api/songwrite", params={"prompt": "x" * 12_000})
    assert status == 400 and "too long (12000 characters" in data["error"]


async def test_refused_prompts_are_logged_as_a_bounded_excerpt(serve_web):
    base, app = await serve_web()
    status, _, _ = await call("POST", f"{base}/api/lyrics", json={"prompt": "z" * 15_000})
    assert status == 400
    assert await rows(app) == [("rejected", "z" * EXCERPT_CHARS, None)]


async def test_a_flood_of_refused_requests_is_rate_limited_and_cannot_grow_the_log(serve_web):
    base, app = await serve_web(COOLDOWN_SECONDS="60")
    statuses = []
    for _ in range(50):
        status, _, headers = await call("POST", f"{base}/api/lyrics",
                                           json={"prompt": "w" * 15_000})
        statuses.append(status)
    assert statuses == [400] + [429] * 49 and int(headers["Retry-After"]) > 0
    assert len(await rows(app)) == 1  # one refusal logged per cooldown, as for requests
    status, _, _ = await call("POST", f"{base}/api/lyrics", json={"prompt": "now a good one"})
    assert status == 200  # a refusal does not hold up a good request


# ---- property test: arbitrary JSON at every endpoint ---------------------------------------

@pytest.fixture
def live_server(tmp_path, tiny_base):
    """The real web app on a loopback port, run by its own loop in a thread (Hypothesis tests
    are not coroutines); yields its port."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run(coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(120)

    settings = Settings.from_env({"SWIFTAI_HOME": str(tmp_path / "home"),
                                  "BASE_MODEL": str(tiny_base), "COOLDOWN_SECONDS": "0",
                                  "BATCH_WINDOW_MS": "1"})
    app = run(open_app(settings, start_worker=True))
    runner, port = run(start_web(app, "127.0.0.1", 0))
    yield port
    run(app.close(timeout=10))
    run(runner.cleanup())
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


FIELDS = ("prompt", "album", "temperature", "lines", "n", "length", "num", "temp", "limit",
          "stream", "vote", "visitor")
scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-4, max_value=45)
           | st.floats() | st.text(st.characters(exclude_categories=()), max_size=30)
           | st.just("x" * 900) | st.sampled_from(["up", "down", "0123456789abcdef" * 2]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)
bodies = values | st.dictionaries(st.sampled_from(FIELDS), values, max_size=5)
queries = st.dictionaries(st.sampled_from(FIELDS), st.text(st.characters(exclude_categories=()),
                                                           max_size=40), max_size=4)


def fetch(port: int, method: str, path: str, body: bytes | None = None,
          content_type: str = "application/json") -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body, headers={"Content-Type": content_type})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@hypothesis_settings(max_examples=60, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, query=queries,
       path=st.sampled_from(["/api/lyrics", "/api/songwrite", "/api/recent", "/api/status",
                             "/healthz", "/api/nothing", "/api/songs/1/vote",
                             "/api/songs/99999999999999999999/vote", "/api/songs/%00/vote"]))
def test_arbitrary_input_at_any_endpoint_never_gets_a_500_and_always_json(live_server, body,
                                                                          query, path):
    encoded = urllib.parse.urlencode(query, errors="surrogatepass")
    payload = json.dumps(body).encode()  # NaN and Infinity included, as json.loads reads them
    for method in ("GET", "POST"):
        status, raw = fetch(live_server, method, f"{path}?{encoded}", payload)
        assert status < 500 or status == 503, (method, path, status, raw[:300])
        lines = raw.splitlines()  # one JSON object, or a stream of them (NDJSON) ending so:
        assert all(isinstance(json.loads(line), dict) for line in lines), (method, path, raw[:300])
        assert len(lines) == 1 or json.loads(lines[-1])["event"] in ("done", "error"), raw[-300:]
