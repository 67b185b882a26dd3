"""SIGHUP (systemd's ExecReload) makes a running `python -m bot` serve the published model."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from tests.bot.conftest import publish_tiny_run
from tests.bot.web.test_web import call, wait_healthy
from tests.conftest import ROOT
from tests.processes import free_port, terminate


async def test_sighup_serves_a_run_published_after_the_start(hermetic_env, tiny_base):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BASE_MODEL": str(tiny_base),
           "WEB_PORT": str(port)}
    env.pop("DISCORD_TOKEN", None)  # web only: nothing else could ask it to reload
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", env=env, stderr=asyncio.subprocess.PIPE)
    status_url = f"http://127.0.0.1:{port}/api/status"
    try:
        await wait_healthy(port)
        assert (await call("GET", status_url))[1]["fine_tuned"] is False
        run = publish_tiny_run(hermetic_env, tiny_base)  # as `training publish` leaves it
        process.send_signal(signal.SIGHUP)
        for _ in range(300):
            status = (await call("GET", status_url))[1]
            if status["model"] == run.name:
                break
            await asyncio.sleep(0.1)
        assert status["model"] == run.name and status["fine_tuned"] is True
        err = await terminate(process)
    finally:
        if process.returncode is None:
            process.kill()
    log = err.decode()
    assert process.returncode == 0, log[-2000:]
    assert f"SIGHUP: Taylor Swift now serves {run.name}" in log and "Traceback" not in log
