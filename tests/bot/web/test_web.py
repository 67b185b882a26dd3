"""The web page and HTTP API on a loopback port, with a tiny model; and one real browser test."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys

import aiohttp
import aiosqlite
import pytest

from bot.storage.store import Store
from tests.bot.conftest import call
from tests.conftest import ROOT
from tests.processes import free_port, terminate

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


async def test_lyrics_api_writes_songs_and_logs_them_as_web(serve_web):
    base, app = await serve_web()
    status, data, _ = await call("POST", f"{base}/api/lyrics",
                                 json={"prompt": "We lit paper lanterns", "n": 2, "lines": 4})
    assert status == 200 and data["prompt"] == "We lit paper lanterns"
    assert len(data["songs"]) == 2
    for song in data["songs"]:
        assert song["text"].startswith("We lit paper lanterns")
        assert song["model"] == app.default.worker.stats().model_id and "copied_words" in song
        row = await app.store.generation(song["id"])
        assert (row.source, row.user_id, row.status, row.lines) == ("web", "web:127.0.0.1",
                                                                    "ok", 4)


@pytest.mark.parametrize(("body", "message"), [
    ("not json", "must be JSON"),
    ([1, 2], "JSON object"),
    ({}, "prompt is required"),
    ({"prompt": "   "}, "empty"),
    ({"prompt": "x" * 201}, "too long"),
    ({"prompt": "hi", "temperature": "hot"}, "temperature must be a number"),
    ({"prompt": "hi", "temperature": 5}, "temperature must be between"),
    ({"prompt": "hi", "lines": 0}, "lines must be between"),
    ({"prompt": "hi", "n": 4}, "n must be between 1 and 3"),
    ({"prompt": "hi", "form": "sonnet"}, "form must be one of verse, song"),
    ({"prompt": "hi", "album": "Nope"}, "unknown album 'Nope'"),
    ({"prompt": "\ud800\u202e"}, "empty"),  # nothing left once surrogates and bidi go
])
async def test_bad_input_is_a_400_with_a_clear_message(serve_web, body, message):
    base, _ = await serve_web()
    kwargs = ({"data": body, "headers": {"Content-Type": "application/json"}}
              if isinstance(body, str) else {"json": body})
    status, data, _ = await call("POST", f"{base}/api/lyrics", **kwargs)
    assert status == 400 and message in data["error"]


async def test_a_client_asking_too_fast_gets_429_with_retry_after(serve_web):
    base, _ = await serve_web(COOLDOWN_SECONDS="600")
    assert (await call("POST", f"{base}/api/lyrics", json={"prompt": "one"}))[0] == 200
    status, data, headers = await call("POST", f"{base}/api/lyrics", json={"prompt": "two"})
    assert status == 429 and "slow down" in data["error"]
    assert 590 <= int(headers["Retry-After"]) <= 600


async def test_a_full_queue_is_a_503_and_health_waits_for_the_model(serve_web):
    base, app = await serve_web(start_worker=False, QUEUE_SIZE="1")
    assert (await call("GET", f"{base}/healthz"))[0] == 503
    first = asyncio.create_task(call("POST", f"{base}/api/lyrics", json={"prompt": "first"}))
    while app.default.worker.stats().queue_depth == 0:
        await asyncio.sleep(0.01)  # wait for the first request to be queued, not for a result
    status, data, headers = await call("POST", f"{base}/api/lyrics", json={"prompt": "second"})
    assert status == 503 and "busy" in data["error"] and headers["Retry-After"] == "5"
    app.default.worker.start()
    assert (await first)[0] == 200
    status, health, _ = await call("GET", f"{base}/healthz")
    assert status == 200 and health["model"] == app.default.worker.stats().model_id
    assert (await app.store.generation(1)).status == "busy"


async def test_the_seed_songwrite_api_still_works(serve_web):
    base, _ = await serve_web()
    status, data, _ = await call(
        "GET", f"{base}/api/songwrite", params={"prompt": "Back road", "length": "3",
                                                "num": "2", "temp": "0.8"})
    assert status == 200 and len(data["lyrics"]) == 2
    for text in data["lyrics"]:
        assert text.startswith("Back road")
        assert len([line for line in text.split("\n") if line and line[0] != "["]) <= 3
    status, data, _ = await call("GET", f"{base}/api/songwrite", params={"num": "x"})
    assert status == 400


async def test_status_recent_and_page(serve_web, tiny_base):
    base, app = await serve_web()
    _, written, _ = await call("POST", f"{base}/api/lyrics", json={"prompt": "recent one"})
    await app.store.vote(written["songs"][0]["id"], "someone", 1)
    status, facts, _ = await call("GET", f"{base}/api/status")
    assert status == 200 and facts["model"] == tiny_base.name and facts["fine_tuned"] is False
    assert facts["generations_today"] == 1 and facts["albums"] == []
    status, recent, _ = await call("GET", f"{base}/api/recent")
    assert [(s["prompt"], s["votes_up"]) for s in recent["songs"]] == [("recent one", 1)]
    assert (await call("GET", f"{base}/api/recent", params={"limit": "x"}))[0] == 400
    async with aiohttp.ClientSession() as session, session.get(base + "/") as response:
        page = await response.text()
    assert response.status == 200 and '<form id="ask">' in page


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed (apt-get install chromium)")
async def test_a_person_can_write_a_song_in_a_real_browser(serve_web, tmp_path):
    from playwright.async_api import async_playwright

    base, _ = await serve_web()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = await browser.new_page()
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        await page.goto(base + "/")
        await page.fill("#prompt", "Paper lanterns in the rain")
        await page.click("#submit")
        song = page.locator("#songs .song pre").first
        await song.wait_for(timeout=60_000)
        assert (await song.text_content()).startswith("Paper lanterns in the rain")
        await page.wait_for_function("() => !document.querySelector('#submit').disabled")
        # The new song is the result above, not listed again under recent songs.
        assert await page.locator("#recent .song").count() == 0
        await page.reload()
        recent = page.locator("#recent .song strong").first
        await recent.wait_for(timeout=10_000)
        assert await recent.text_content() == "Paper lanterns in the rain"
        assert errors == []  # the Content-Security-Policy lets the page's own code run
        await page.set_viewport_size({"width": 390, "height": 844})  # a phone
        await page.screenshot(path=str(tmp_path / "phone.png"))  # renders at phone width
        assert (tmp_path / "phone.png").stat().st_size > 10_000
        await browser.close()


async def wait_healthy(port: int, seconds: float = 60) -> None:
    """Poll /healthz until the process on `port` has loaded its model."""
    for _ in range(int(seconds * 10)):
        try:
            if (await call("GET", f"http://127.0.0.1:{port}/healthz"))[0] == 200:
                return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise TimeoutError(f"nothing healthy on port {port} after {seconds} s")


async def test_without_a_token_the_process_serves_only_the_web_page(hermetic_env, tiny_base):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BASE_MODEL": str(tiny_base),
           "WEB_PORT": str(port)}
    env.pop("DISCORD_TOKEN", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", env=env, stderr=asyncio.subprocess.PIPE)
    try:
        await wait_healthy(port)
        status, data, _ = await call("POST", f"http://127.0.0.1:{port}/api/lyrics",
                                     json={"prompt": "web only"})
        assert status == 200 and data["songs"][0]["text"].startswith("web only")
        err = await terminate(process)
    finally:
        if process.returncode is None:
            process.kill()
    log = err.decode()
    assert process.returncode == 0, log[-2000:]
    assert log.count("serving the web page only") == 1
    assert '"POST /api/lyrics HTTP/1.1" 200' in log  # one access line per request
    assert "generation 1: web" in log  # and one per generation


SECURITY = ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options",
            "Referrer-Policy")


async def test_every_response_carries_the_security_headers(serve_web):
    base, _ = await serve_web()
    async with aiohttp.ClientSession() as session:
        for method, path, kwargs in [
                ("GET", "/", {}), ("GET", "/api/status", {}), ("GET", "/nowhere", {}),
                ("GET", "/api/lyrics", {}), ("POST", "/api/lyrics", {"json": {}}),
                ("POST", "/api/lyrics", {"data": "x"}), ("GET", "/favicon.ico", {})]:
            async with session.request(method, base + path, **kwargs) as response:
                missing = [h for h in SECURITY if h not in response.headers]
                assert not missing, (method, path, response.status, missing)
                assert response.headers["X-Content-Type-Options"] == "nosniff"
                policy = response.headers["Content-Security-Policy"]
                assert "frame-ancestors 'none'" in policy and "'unsafe-inline'" not in policy


async def test_a_post_that_is_not_json_is_a_415_and_writes_nothing(serve_web):
    base, app = await serve_web()
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        status, data, _ = await call("POST", f"{base}/api/lyrics", data='{"prompt": "hi"}',
                                     headers={"Content-Type": content_type})
        assert status == 415 and "application/json" in data["error"]
    assert await app.store.generation(1) is None


async def test_a_wrong_method_is_a_405_that_says_what_is_allowed(serve_web):
    base, _ = await serve_web()
    status, data, headers = await call("GET", f"{base}/api/lyrics")
    assert status == 405 and "error" in data and headers["Allow"] == "POST"
    status, _, headers = await call("DELETE", f"{base}/healthz")
    assert status == 405 and set(headers["Allow"].split(",")) == {"GET", "HEAD"}


async def test_the_favicon_is_an_icon_not_a_404(serve_web):
    base, _ = await serve_web()
    async with aiohttp.ClientSession() as session, session.get(base + "/favicon.ico") as r:
        assert r.status == 200 and r.content_type == "image/svg+xml"
        assert (await r.text()).startswith("<svg")


async def test_health_says_when_to_retry_while_the_model_loads(serve_web):
    base, _ = await serve_web(start_worker=False)
    status, data, headers = await call("GET", f"{base}/healthz")
    assert status == 503 and data["ok"] is False and int(headers["Retry-After"]) > 0


async def fill_the_disk(app) -> None:
    """Let the database grow no more (SQLite's own 'database or disk is full'), then fill it."""
    db = app.store.db
    async with db.execute("PRAGMA page_count") as cursor:
        (pages,) = await cursor.fetchone()
    await db.execute(f"PRAGMA max_page_count = {pages}")
    for size in (2000, 200, 20, 1):  # big rows first, then smaller ones into what is left
        for _ in range(200):
            try:
                await db.execute("INSERT INTO generations (source, user_id, prompt, status) "
                                 "VALUES ('web', 'filler', ?, 'rejected')", ("x" * size,))
                await db.commit()
            except aiosqlite.OperationalError as e:
                assert "full" in str(e)
                await db.rollback()
                break


async def test_a_full_disk_never_turns_user_errors_into_500s_and_health_says_so(serve_web):
    base, app = await serve_web()
    await fill_the_disk(app)
    status, data, _ = await call("POST", f"{base}/api/lyrics", json={"prompt": "   "})
    assert status == 400 and "empty" in data["error"]  # refused, though it could not be logged
    status, data, headers = await call("POST", f"{base}/api/lyrics", json={"prompt": "a song"})
    assert status == 503 and int(headers["Retry-After"]) > 0  # written, but not storable
    status, health, headers = await call("GET", f"{base}/healthz")
    assert status == 503 and "full" in health["reason"] and "Retry-After" in headers
    await app.store.db.execute("PRAGMA max_page_count = 1000000")
    assert (await call("POST", f"{base}/api/lyrics", json={"prompt": "room again"}))[0] == 200
    assert (await call("GET", f"{base}/healthz"))[0] == 200


async def test_shutdown_answers_what_it_cannot_finish_with_503_and_logs_it(serve_web):
    base, app = await serve_web(start_worker=False)  # no worker: nothing can finish in time
    asked = [asyncio.create_task(call("POST", f"{base}/api/lyrics", json={"prompt": f"n{i}"}))
             for i in range(3)]
    while app.default.worker.stats().queue_depth < 3:
        await asyncio.sleep(0.01)
    await app.drain(timeout=0.2)
    late = await call("POST", f"{base}/api/lyrics", json={"prompt": "after the stop"})
    for status, data, headers in [*await asyncio.gather(*asked), late]:
        assert status == 503 and "shutting down" in data["error"]
        assert headers["Retry-After"] == "60"
    await app.close()
    store = await Store.open(app.settings.database)  # the log was closed last, with every row
    async with store.db.execute("SELECT prompt, status, error FROM generations") as cursor:
        rows = sorted(tuple(r) for r in await cursor.fetchall())
    await store.close()
    assert [r[:2] for r in rows] == [("after the stop", "error"), ("n0", "error"),
                                     ("n1", "error"), ("n2", "error")]
    assert all("shutting down" in r[2] for r in rows)


async def test_no_public_response_shows_where_the_model_lives(serve_web, tiny_base):
    base, _ = await serve_web()
    bodies = []
    async with aiohttp.ClientSession() as session:
        for method, path, kwargs in [
                ("POST", "/api/lyrics", {"json": {"prompt": "where do you live"}}),
                ("GET", "/api/songwrite", {"params": {"prompt": "and you"}}),
                ("GET", "/api/status", {}), ("GET", "/api/recent", {}), ("GET", "/healthz", {})]:
            async with session.request(method, base + path, **kwargs) as response:
                assert response.status == 200, path
                bodies.append(await response.text())
    assert all(str(tiny_base) not in body for body in bodies)
    assert f'"model": "{tiny_base.name}"' in bodies[0]  # named by the folder's name alone
