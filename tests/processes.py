"""For tests that start our processes (`python -m bot`, servers): a free loopback port, and
the SIGTERM that ends one, waited for."""

from __future__ import annotations

import asyncio
import signal
import socket

STOP_SECONDS = 60  # a clean stop closes the store, the workers and the web server


def free_port() -> int:
    """Return a loopback port that is free now (the process binds it next)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def terminate(process: asyncio.subprocess.Process, read: bool = True) -> bytes:
    """Send SIGTERM and wait for the process to end; return its stderr (b"" when `read` is
    False: a caller that reads stderr itself as it comes)."""
    process.send_signal(signal.SIGTERM)
    if not read:
        await asyncio.wait_for(process.wait(), STOP_SECONDS)
        return b""
    _, err = await asyncio.wait_for(process.communicate(), STOP_SECONDS)
    return err or b""
