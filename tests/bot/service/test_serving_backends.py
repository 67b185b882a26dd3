"""`python -m bot` on each serving backend, as a real process on a loopback port."""

import asyncio
import os
import sys
from pathlib import Path

import aiohttp

from model.serving.ct2 import cached_base, has_conversion
from tests.conftest import ROOT
from tests.processes import free_port, terminate


async def _get(url: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status


async def _post(url: str, body: dict) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        return response.status, await response.json()


async def _serve_one_song(home: Path, base: Path, backend: str) -> tuple[dict, bool, str]:
    """Start the bot (web only), write one song; return it, whether torch is mapped, the log."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BASE_MODEL": str(base),
           "SWIFTAI_HOME": str(home), "WEB_PORT": str(port), "SERVING_BACKEND": backend}
    env.pop("DISCORD_TOKEN", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", env=env, stderr=asyncio.subprocess.PIPE)
    try:
        for _ in range(900):  # up to 90 s: the first start converts the base model
            try:
                if await _get(f"http://127.0.0.1:{port}/healthz") == 200:
                    break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        status, data = await _post(f"http://127.0.0.1:{port}/api/lyrics",
                                   {"prompt": "the porch light"})
        assert status == 200, data
        maps = Path(f"/proc/{process.pid}/maps").read_text()
        err = await terminate(process)
    finally:
        if process.returncode is None:
            process.kill()
    return data["songs"][0], "libtorch" in maps, err.decode()


async def test_ctranslate2_bot_converts_the_base_model_once_and_never_loads_torch(
        hermetic_env, tiny_base):
    song, torch_mapped, log = await _serve_one_song(hermetic_env, tiny_base, "ctranslate2")
    assert song["text"].startswith("the porch light")
    assert not torch_mapped, "the serving process loaded libtorch"
    assert has_conversion(cached_base(hermetic_env / "cache", str(tiny_base)))
    assert log.count("converting the base model") == 1

    song, torch_mapped, log = await _serve_one_song(hermetic_env, tiny_base, "auto")
    assert not torch_mapped and "converting the base model" not in log  # cached: auto uses it


async def test_the_web_on_remote_inference_servers(serve_web, tiny_base):
    from tests.bot.conftest import call
    from tests.model.fake_openai import FakeInference

    fake = FakeInference().start()
    try:
        base, _ = await serve_web(SERVING_BACKEND="openai", INFERENCE_URL=fake.url)
        status, health, _ = await call("GET", f"{base}/healthz")
        # The base model by its own name (a run by its id), not the servers' name for it.
        assert status == 200 and health["model"] == Path(tiny_base).name
        status, data, _ = await call("POST", f"{base}/api/lyrics",
                                     json={"prompt": "Across the wire", "form": "song"})
        assert status == 200 and data["songs"][0]["text"].startswith("[Verse 1]\nAcross the wire")
        facts = (await call("GET", f"{base}/api/status"))[1]
        assert facts["backend"] == "openai"
        assert facts["servers"] == [{"url": fake.url, "up": True, "error": None}]

        fake.stop()  # every server down: answered at once, with when to come back
        for _ in range(60):
            status, health, headers = await call("GET", f"{base}/healthz")
            if status == 503:
                break
            await asyncio.sleep(0.1)
        assert status == 503 and "offline" in health["reason"]
        started = asyncio.get_running_loop().time()
        status, data, headers = await call("POST", f"{base}/api/lyrics", json={"prompt": "hi"})
        assert status == 503 and "the songwriter is offline" in data["error"]
        assert headers["Retry-After"] == "60"
        assert asyncio.get_running_loop().time() - started < 1.0

        fake.start()  # and it serves again by itself
        for _ in range(60):
            if (await call("GET", f"{base}/healthz"))[0] == 200:
                break
            await asyncio.sleep(0.1)
        status, data, _ = await call("POST", f"{base}/api/lyrics", json={"prompt": "back"})
        assert status == 200 and data["songs"][0]["text"].startswith("back")
    finally:
        fake.close()
