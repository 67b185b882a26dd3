"""`"stream": true` on POST /api/lyrics: NDJSON read line by line on a loopback socket."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from tests.bot.conftest import call
from tests.bot.web.test_web import fill_the_disk
from tests.model.fake_openai import FakeInference


@pytest.fixture
async def paced_web(serve_web):
    """The web app on an inference server that answers at once, each line step paced by the
    batch window (a song from the tiny model on transformers takes a minute on 2 loaded cores)."""
    fake = FakeInference().start()
    yield await serve_web(SERVING_BACKEND="openai", INFERENCE_URL=fake.url,
                          BATCH_WINDOW_MS="100")
    fake.close()


async def read_stream(url: str, body: dict, on_first=None) -> tuple[int, str, list[dict]]:
    """POST `body` and read the answer a line at a time; call `on_first` on the first line."""
    lines = []
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        while raw := await response.content.readline():
            lines.append(json.loads(raw))
            if len(lines) == 1 and on_first is not None:
                await on_first(lines[0])
        return response.status, response.content_type, lines


async def test_lines_arrive_while_the_song_is_still_being_written(paced_web):
    base, app = paced_web
    seen_first = []

    async def first(line):  # nothing is logged until the song is finished
        seen_first.append((line, await app.store.generation(1)))

    status, kind, lines = await read_stream(f"{base}/api/lyrics", {
        "prompt": "Harbor lights", "form": "song", "stream": True}, first)
    assert (status, kind) == (200, "application/x-ndjson")
    assert seen_first == [({"event": "line", "slot": 0, "section": "Verse 1",
                            "text": "Harbor lights"}, None)]
    *events, done = lines
    assert done["event"] == "done" and {e["event"] for e in events} == {"line", "section"}
    (song,) = done["songs"]
    sections = [e["lines"] for e in events if e["event"] == "section"]
    assert [[line for line in part.split("\n")[1:]] for part in song["text"].split("\n\n")] \
        == sections  # the song is what was streamed, section by section
    row = await app.store.generation(song["id"])
    assert (row.status, row.output, row.source) == ("ok", song["text"], "web")
    async with app.store.db.execute("SELECT count(*) FROM generations") as cursor:
        assert (await cursor.fetchone())[0] == 1  # logged once


async def test_the_done_line_holds_the_plain_answer(paced_web):
    base, _ = paced_web
    status, plain, _ = await call("POST", f"{base}/api/lyrics", json={"prompt": "Harbor", "n": 2})
    _, _, lines = await read_stream(f"{base}/api/lyrics", {"prompt": "Harbor", "n": 2,
                                                           "stream": True})
    done = lines[-1]
    assert status == 200 and done.pop("event") == "done"
    assert done.keys() == plain.keys() and done["prompt"] == plain["prompt"]
    assert [s.keys() for s in done["songs"]] == [s.keys() for s in plain["songs"]]
    for slot, song in enumerate(done["songs"]):  # each verse streamed line by line, then whole
        *written, whole = [e for e in lines[:-1] if e["slot"] == slot]
        assert [e["text"] for e in written] == song["text"].split("\n") == whole["lines"]
        assert {e["section"] for e in written} == {whole["label"]} == {"Verse"}


async def test_an_error_after_the_stream_began_is_its_last_line(paced_web):
    base, app = paced_web
    await fill_the_disk(app)  # written, but it cannot be logged at the end
    status, _, lines = await read_stream(f"{base}/api/lyrics", {
        "prompt": "Harbor lights", "form": "song", "stream": True})
    assert status == 200 and lines[0]["event"] == "line"
    assert lines[-1]["event"] == "error" and "full" in lines[-1]["error"]
    assert all(line["event"] != "done" for line in lines)


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"prompt": "   ", "stream": True}, 400, "empty"),
    ({"prompt": "hi", "stream": "yes"}, 400, "stream must be true or false"),
    ({"prompt": "hi", "album": "Nope", "stream": True}, 400, "unknown album"),
    ({"prompt": "hi", "artist": "Nobody", "stream": True}, 400, "unknown artist 'Nobody'"),
])
async def test_errors_known_before_writing_stay_http_errors(serve_web, body, status, message):
    base, _ = await serve_web()
    got, data, headers = await call("POST", f"{base}/api/lyrics", json=body)
    assert (got, headers["Content-Type"]) == (status, "application/json; charset=utf-8")
    assert message in data["error"]


async def test_a_busy_queue_is_a_503_before_any_stream(serve_web):
    base, app = await serve_web(start_worker=False, QUEUE_SIZE="1")
    first = asyncio.create_task(call("POST", f"{base}/api/lyrics", json={"prompt": "first"}))
    while app.default.worker.stats().queue_depth == 0:
        await asyncio.sleep(0.01)  # the first request is queued: the queue is full
    status, data, headers = await call("POST", f"{base}/api/lyrics",
                                       json={"prompt": "second", "stream": True})
    assert status == 503 and "busy" in data["error"] and headers["Retry-After"] == "5"
    app.default.worker.start()
    assert (await first)[0] == 200
