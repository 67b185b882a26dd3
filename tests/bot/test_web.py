"""The web page and HTTP API on a loopback port, with a tiny model; and one real browser test."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sys

import aiohttp
import pytest

from tests.bot.conftest import call
from tests.conftest import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


async def test_lyrics_api_writes_songs_and_logs_them_as_web(serve_web):
    base, app = await serve_web()
    status, data, _ = await call("POST", f"{base}/api/lyrics",
                                 json={"prompt": "We lit paper lanterns", "n": 2, "lines": 4})
    assert status == 200 and data["prompt"] == "We lit paper lanterns"
    assert len(data["songs"]) == 2
    for song in data["songs"]:
        assert song["text"].startswith("We lit paper lanterns")
        assert song["model"] == app.worker.stats().model_id and "copied_words" in song
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
    ({"prompt": "hi", "album": "Nope"}, "unknown album 'Nope'"),
    ({"prompt": "\ud800\u202e"}, "empty"),  # nothing left once surrogates and bidi go
])
async def test_bad_input_is_a_400_with_a_clear_message(serve_web, body, message):
    base, _ = await serve_web()
    kwargs = {"data": body} if isinstance(body, str) else {"json": body}
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
    while app.worker.stats().queue_depth == 0:
        await asyncio.sleep(0.01)  # wait for the first request to be queued, not for a result
    status, data, headers = await call("POST", f"{base}/api/lyrics", json={"prompt": "second"})
    assert status == 503 and "busy" in data["error"] and headers["Retry-After"] == "5"
    app.worker.start()
    assert (await first)[0] == 200
    status, health, _ = await call("GET", f"{base}/healthz")
    assert status == 200 and health["model"] == app.worker.stats().model_id
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
    assert status == 200 and facts["model"] == str(tiny_base) and facts["fine_tuned"] is False
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
        await page.goto(base + "/")
        await page.fill("#prompt", "Paper lanterns in the rain")
        await page.click("#submit")
        song = page.locator("#songs .song pre").first
        await song.wait_for(timeout=60_000)
        assert (await song.text_content()).startswith("Paper lanterns in the rain")
        recent = page.locator("#recent .song strong").first
        await recent.wait_for(timeout=10_000)
        assert await recent.text_content() == "Paper lanterns in the rain"
        await page.set_viewport_size({"width": 390, "height": 844})  # a phone
        await page.screenshot(path=str(tmp_path / "phone.png"))  # renders at phone width
        assert (tmp_path / "phone.png").stat().st_size > 10_000
        await browser.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_without_a_token_the_process_serves_only_the_web_page(hermetic_env, tiny_base):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BASE_MODEL": str(tiny_base),
           "WEB_PORT": str(port)}
    env.pop("DISCORD_TOKEN", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", env=env, stderr=asyncio.subprocess.PIPE)
    try:
        for _ in range(600):  # poll health for up to 60 s while the process starts
            try:
                if (await call("GET", f"http://127.0.0.1:{port}/healthz"))[0] == 200:
                    break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        status, data, _ = await call("POST", f"http://127.0.0.1:{port}/api/lyrics",
                                     json={"prompt": "web only"})
        assert status == 200 and data["songs"][0]["text"].startswith("web only")
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
    log = err.decode()
    assert process.returncode == 0, log[-2000:]
    assert log.count("serving the web page only") == 1
    assert '"POST /api/lyrics HTTP/1.1" 200' in log  # one access line per request
    assert "generation 1: web" in log  # and one per generation
