"""Lyrics fit for the room, on the web page: no explicit line is ever kept there (it is not an
age-restricted room), nor a slur; a prompt holding a slur is refused in one line."""

from __future__ import annotations

from tests.bot.chat.test_lyrics import inference  # noqa: F401 (a fixture)
from tests.bot.chat.test_rooms import RUDE, SLUR, lines_with
from tests.bot.conftest import call


async def test_the_web_page_never_keeps_an_explicit_line(serve_web, inference):  # noqa: F811
    inference.line = lines_with(RUDE)
    base, app = await serve_web(SERVING_BACKEND="openai", INFERENCE_URL=inference.url)
    status, data, _ = await call("POST", f"{base}/api/lyrics", json={"prompt": "Harbor lights"})
    assert status == 200, data
    text = data["songs"][0]["text"]
    assert RUDE not in text.lower() and "soft rain" in text
    assert (await app.store.generation(data["songs"][0]["id"])).filtered >= 1


async def test_a_web_prompt_with_a_slur_is_refused_in_one_line(serve_web, inference):  # noqa: F811
    base, app = await serve_web(SERVING_BACKEND="openai", INFERENCE_URL=inference.url)
    status, data, _ = await call("POST", f"{base}/api/lyrics",
                                 json={"prompt": f"Harbor {SLUR} lights"})
    assert status == 400 and "slurs" in data["error"] and "\n" not in data["error"]
    assert (await app.store.generation(1)).prompt == "(slur prompt)"
    assert inference.completions() == []  # nothing was written
