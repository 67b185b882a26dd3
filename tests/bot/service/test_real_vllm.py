"""The web page on a real vLLM (`python -m pytest -m vllm`; `.ci/vllm` sets it up): a verse, a
song, 16 at once, the server gone and back. Each test serves a copy of the published run."""

import asyncio
import shutil

import pytest

from tests.bot.conftest import call
from tests.vllm_server import MODEL

pytestmark = pytest.mark.vllm


async def open_web(serve_web, vllm, tmp_path) -> str:
    shutil.copytree(vllm.home / "models", tmp_path / "home" / "models", symlinks=True)
    base, _ = await serve_web(SWIFTAI_ARTIST="Juniper Vale", SERVING_BACKEND="openai",
                              INFERENCE_URL=vllm.url,
                              INFERENCE_MODEL=MODEL)
    return base


async def wait_for_health(base: str, status: int, seconds: float) -> int:
    """Poll /healthz until it answers `status` or `seconds` pass; return the last status."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        got = (await call("GET", f"{base}/healthz"))[0]
        if got == status or asyncio.get_running_loop().time() > deadline:
            return got
        await asyncio.sleep(0.2)


async def test_a_verse_in_an_album_style_from_vllm(vllm, serve_web, tmp_path):
    base = await open_web(serve_web, vllm, tmp_path)
    status, health, _ = await call("GET", f"{base}/healthz")
    # the log and /healthz name the published run the server serves, not its server-side name
    assert status == 200 and health["model"] == vllm.folder.resolve().name
    status, data, _ = await call("POST", f"{base}/api/lyrics",
                                 json={"prompt": "The porch light", "album": "Harbor Lights"})
    assert status == 200, data
    text = data["songs"][0]["text"]
    assert text.startswith("The porch light") and len(text) > len("The porch light")
    assert "<|" not in text and "</s>" not in text  # the album and end tokens never show


async def test_a_song_from_vllm_has_its_labelled_sections(vllm, serve_web, tmp_path):
    base = await open_web(serve_web, vllm, tmp_path)
    status, data, _ = await call("POST", f"{base}/api/lyrics",
                                 json={"prompt": "The porch light", "form": "song"})
    assert status == 200, data
    text = data["songs"][0]["text"]
    assert text.startswith("[Verse 1]\nThe porch light")
    assert "[Chorus]" in text and "[Bridge]" in text


async def test_sixteen_requests_at_once_are_all_answered(vllm, serve_web, tmp_path):
    base = await open_web(serve_web, vllm, tmp_path)
    prompts = [f"Night {i} on the harbor" for i in range(16)]
    answers = await asyncio.gather(*(call("POST", f"{base}/api/lyrics", json={"prompt": p})
                                     for p in prompts))
    assert [status for status, _, _ in answers] == [200] * 16
    assert all(data["songs"][0]["text"].startswith(p)
               for p, (_, data, _) in zip(prompts, answers, strict=True))


async def test_the_web_answers_503_while_vllm_is_gone_and_200_once_it_is_back(
        vllm, serve_web, tmp_path):
    base = await open_web(serve_web, vllm, tmp_path)
    assert (await call("POST", f"{base}/api/lyrics", json={"prompt": "before"}))[0] == 200

    await asyncio.to_thread(vllm.stop)
    assert await wait_for_health(base, 503, 30) == 503
    status, data, headers = await call("POST", f"{base}/api/lyrics", json={"prompt": "during"})
    assert status == 503 and "the songwriter is offline" in data["error"]
    assert headers["Retry-After"] == "60"

    await asyncio.to_thread(vllm.start)  # a new process on the same port
    assert await wait_for_health(base, 200, 30) == 200
    status, data, _ = await call("POST", f"{base}/api/lyrics", json={"prompt": "after"})
    assert status == 200 and data["songs"][0]["text"].startswith("after")
