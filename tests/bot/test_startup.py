"""`python -m bot` when it cannot start: exit status 1 within seconds, one line that names the
file or setting and what to do, no traceback, nothing left running; and one bot per home."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time

import aiohttp
import pytest
from aiohttp import web

from bot.storage.store import Store, StoreError
from tests.bot.conftest import publish_tiny_run
from tests.conftest import ROOT, run_cli
from tests.processes import free_port, terminate

QUICK = 60  # seconds: a start that fails takes a few (most of it importing torch)


def fails_cleanly(result, *words: str) -> str:
    """Assert exit 1 with one `error:` line holding `words`, no traceback; return the line."""
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: "), result.stderr[-2000:]
    for word in words:
        assert word in line, line
    return line


def test_a_corrupt_database_is_named_and_nothing_hangs(hermetic_env, tiny_base):
    hermetic_env.mkdir()
    (hermetic_env / "swiftai.db").write_bytes(b"this is not a database, just some text " * 50)
    started = time.monotonic()
    result = run_cli("bot", env={"BASE_MODEL": str(tiny_base), "WEB_PORT": "0"}, timeout=QUICK)
    fails_cleanly(result, f"{hermetic_env / 'swiftai.db'}", "not a database", "move it aside")
    assert time.monotonic() - started < QUICK


def test_a_folder_in_place_of_the_database_is_named(hermetic_env, tiny_base):
    (hermetic_env / "swiftai.db").mkdir(parents=True)
    result = run_cli("bot", env={"BASE_MODEL": str(tiny_base), "WEB_PORT": "0"}, timeout=QUICK)
    fails_cleanly(result, "cannot open the database", "swiftai.db")


async def test_a_database_that_fails_to_open_leaves_no_thread_behind(tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"garbage " * 100)
    before = set(threading.enumerate())
    with pytest.raises(StoreError, match="not a database"):
        await Store.open(bad)
    await asyncio.sleep(0.1)
    assert [t for t in set(threading.enumerate()) - before if t.is_alive()] == []


def test_a_current_link_to_a_missing_run_is_named(hermetic_env, tiny_base):
    models = hermetic_env / "models"
    models.mkdir(parents=True)
    os.symlink("runs/20250101-000000-gone00", models / "current")
    result = run_cli("bot", env={"BASE_MODEL": str(tiny_base), "WEB_PORT": "0"}, timeout=QUICK)
    fails_cleanly(result, "no run '20250101-000000-gone00'", "publish", "rollback")


def test_a_published_run_with_a_corrupt_manifest_is_named(hermetic_env, tiny_base):
    run = publish_tiny_run(hermetic_env, tiny_base)
    (run / "manifest.json").write_text("{ truncated")
    result = run_cli("bot", env={"BASE_MODEL": str(tiny_base), "WEB_PORT": "0"}, timeout=QUICK)
    fails_cleanly(result, f"run {run.name} has a corrupt manifest.json")


def test_a_published_run_that_does_not_load_is_named_not_base_model(hermetic_env, tiny_base):
    run = publish_tiny_run(hermetic_env, tiny_base)
    (run / "model.safetensors").write_bytes(b"not weights")
    result = run_cli("bot", env={"BASE_MODEL": str(tiny_base), "WEB_PORT": "0"}, timeout=QUICK)
    assert result.returncode == 1, result.stderr[-2000:]
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: could not load the published run {run.name}"), line
    assert "BASE_MODEL" not in line


def test_a_base_model_that_does_not_load_says_what_base_model_may_be(hermetic_env):
    result = run_cli("bot", env={"BASE_MODEL": str(hermetic_env / "no-such-model"),
                                 "WEB_PORT": "0"}, timeout=QUICK)
    assert result.returncode == 1, result.stderr[-2000:]
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: could not load BASE_MODEL={hermetic_env / 'no-such-model'}")
    assert "local folder" in line and "publish" in line


def test_a_hub_model_the_hub_cannot_give_fails_at_once_without_retries(hermetic_env):
    with socket.socket() as closed:  # a hub address where nothing listens: refused at once
        closed.bind(("127.0.0.1", 0))
        hub = f"http://127.0.0.1:{closed.getsockname()[1]}"
    result = run_cli("bot", env={"BASE_MODEL": "gpt2", "HF_ENDPOINT": hub, "WEB_PORT": "0",
                                 "HF_HOME": str(hermetic_env / "hf")}, timeout=QUICK)
    assert result.returncode == 1, result.stderr[-2000:]
    line = fails_cleanly(result, "cannot reach the Hugging Face hub", "not in the local cache",
                         "local model folder", "publish")
    assert line.startswith("error: could not load BASE_MODEL=gpt2")
    assert "Retrying" not in result.stderr  # no retry storm before the one useful line


def test_a_port_in_use_is_named(hermetic_env, tiny_base):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("bot", env={"BASE_MODEL": str(tiny_base), "WEB_PORT": str(port)},
                         timeout=QUICK)
    fails_cleanly(result, f"127.0.0.1:{port}", "WEB_PORT")


async def test_a_second_bot_on_the_same_home_exits_naming_the_first(hermetic_env, tiny_base):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BASE_MODEL": str(tiny_base),
           "WEB_PORT": str(port)}
    env.pop("DISCORD_TOKEN", None)
    first = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", env=env,
                                                 stderr=asyncio.subprocess.PIPE)
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(600):  # wait up to 60 s for the first bot to take its lock and serve
                try:
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        second = await asyncio.to_thread(run_cli, "bot", env={"BASE_MODEL": str(tiny_base),
                                                              "WEB_PORT": "0"}, timeout=QUICK)
        fails_cleanly(second, f"pid {first.pid}", "SWIFTAI_HOME")
        migrate = await asyncio.to_thread(run_cli, "bot", "migrate", timeout=QUICK)
        fails_cleanly(migrate, f"pid {first.pid}")
        exported = await asyncio.to_thread(run_cli, "bot", "export", timeout=QUICK)
        assert exported.returncode == 0, exported.stderr  # reading beside a bot is safe
    finally:
        await terminate(first)
    assert first.returncode == 0
    again = await asyncio.to_thread(run_cli, "bot", "migrate", timeout=QUICK)
    assert again.returncode == 0, again.stderr  # the lock went with the first bot


def test_library_log_messages_are_printed_once(hermetic_env):
    code = ("import logging\n"
            "logging.basicConfig(level='INFO', format='%(levelname)s %(name)s: %(message)s')\n"
            "from swiftai.logs import route_library_logs\n"
            "route_library_logs()\n"
            "logging.getLogger('huggingface_hub.utils._http').warning('Retrying in 1s')\n"
            "logging.getLogger('transformers.modeling_utils').warning('weights not used')\n")
    env = {k: v for k, v in os.environ.items() if k != "TRANSFORMERS_VERBOSITY"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, env=env, timeout=QUICK)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("Retrying in 1s") == 1, result.stderr
    assert "WARNING huggingface_hub.utils._http: Retrying in 1s" in result.stderr
    assert result.stderr.count("weights not used") == 1, result.stderr


async def test_requests_while_the_model_loads_get_503_at_once(hermetic_env):
    # A model hub that answers only when told: the model stays loading for as long as we like.
    release = asyncio.Event()

    async def hub(request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({"error": "Repository not found"}, status=404)

    hub_app = web.Application()
    hub_app.router.add_route("*", "/{tail:.*}", hub)
    runner = web.AppRunner(hub_app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BASE_MODEL": "nobody/slow-model",
           "HF_ENDPOINT": f"http://127.0.0.1:{runner.addresses[0][1]}",
           "HF_HOME": str(hermetic_env.parent / "hf"), "WEB_PORT": str(port)}
    env.pop("DISCORD_TOKEN", None)
    env.pop("HF_HUB_OFFLINE", None)
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", env=env,
                                                   stderr=asyncio.subprocess.PIPE)
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(600):  # until the page is served (the model is loading meanwhile)
                try:
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                        health = response.status
                        break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            assert health == 503
            started = time.monotonic()
            async with session.post(f"http://127.0.0.1:{port}/api/lyrics",
                                    json={"prompt": "too early"}) as response:
                status, data = response.status, await response.json()
                retry_after = response.headers.get("Retry-After")
            assert time.monotonic() - started < 2  # at once, not after the load
            assert status == 503 and "still loading" in data["error"] and retry_after
    finally:
        release.set()
        err = await terminate(process)
        await runner.cleanup()
    assert process.returncode in (0, 1), err.decode()[-2000:]  # stopped, or the load failed
