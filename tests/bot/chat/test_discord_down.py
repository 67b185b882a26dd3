"""`python -m bot` with Discord unreachable, at start and later: the web page serves on, the
bot retries (one log line per try), health and status say so; a refused token ends it."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from itertools import pairwise

import aiohttp

from tests.bot.fake_discord import FakeDiscord
from tests.bot.web.test_web import call, wait_healthy
from tests.conftest import ROOT
from tests.processes import free_port, terminate


def bot_env(tiny_base, discord_port: int, web_port: int) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "DISCORD_TOKEN": "fake-token",
            "BASE_MODEL": str(tiny_base), "WEB_PORT": str(web_port),
            "DISCORD_API_BASE": f"http://127.0.0.1:{discord_port}/api/v10",
            "DISCORD_GATEWAY_URL": f"ws://127.0.0.1:{discord_port}/gateway"}


async def discord_state(web_port: int, want: str, seconds: float = 30) -> None:
    """Wait until /healthz and /api/status both say Discord is `want`."""
    base = f"http://127.0.0.1:{web_port}"
    health = status = {}
    for _ in range(int(seconds * 10)):
        try:
            health = (await call("GET", f"{base}/healthz"))[1]
        except aiohttp.ClientError:  # not listening yet
            await asyncio.sleep(0.1)
            continue
        status = (await call("GET", f"{base}/api/status"))[1]
        if health["discord"] == status["discord"] == want:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"Discord never became {want!r}: {health}, {status}")


async def test_the_web_page_serves_while_discord_is_unreachable_then_the_bot_connects(
        hermetic_env, tiny_base):
    discord_port, web_port = free_port(), free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", env=bot_env(tiny_base, discord_port, web_port),
        stderr=asyncio.subprocess.PIPE)
    log: list[str] = []
    reader = asyncio.create_task(read_lines(process.stderr, log))
    fake = FakeDiscord()
    try:
        await discord_state(web_port, "down")  # nothing listens at Discord's address
        await fake.start(port=discord_port)  # Discord is back
        await asyncio.wait_for(fake.connected.wait(), 30)
        await discord_state(web_port, "up")
        await fake.close()  # and gone again, later
        await discord_state(web_port, "down")
        await wait_healthy(web_port)
        status, data, _ = await call("POST", f"http://127.0.0.1:{web_port}/api/lyrics",
                                     json={"prompt": "no discord"})
        assert status == 200 and data["songs"][0]["text"].startswith("no discord")
        fake = FakeDiscord()
        await fake.start(port=discord_port)
        await discord_state(web_port, "up")
        await terminate(process, read=False)  # the reader task has its stderr
        await reader
    finally:
        if process.returncode is None:
            process.kill()
        await fake.close()
    text = "".join(log)
    assert process.returncode == 0, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    tries = [line for line in log if "Discord is unreachable" in line]
    assert tries and all("ClientConnectorError" in line or "gateway connection ended" in line
                         for line in tries), tries
    pairs = [tuple(map(int, re.findall(r"; try (\d+) failed, next in (\d+) s", line)[0]))
             for line in tries]
    # Counted from 1 after each time it was up; the wait doubles from 1 s with each failure.
    assert pairs[0][0] == 1 and all(n in (1, p + 1) for (p, _), (n, _) in pairwise(pairs))
    assert all(wait == min(2 ** (n - 1), 60) for n, wait in pairs), pairs
    assert "connected to Discord after" in text


async def read_lines(stream: asyncio.StreamReader, into: list[str]) -> None:
    while line := await stream.readline():
        into.append(line.decode())


async def test_a_token_discord_refuses_ends_the_process_with_one_line(hermetic_env, tiny_base):
    fake = FakeDiscord()
    fake.refuse_token = True
    await fake.start()
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", env=bot_env(tiny_base, fake.port, free_port()),
            stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        await fake.close()
    log = err.decode()
    assert process.returncode == 1, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    assert log.strip().splitlines()[-1].startswith("error: Discord refused DISCORD_TOKEN")
    assert "Discord is unreachable" not in log  # a refused token is not retried
