"""One bot per SWIFTAI_HOME: two would share one log, one model registry and one Discord token."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from bot.errors import CannotStart

LOCK_FILE = "bot.lock"


def hold_home(home: Path) -> int:
    """Take `home`/bot.lock for the life of this process (the kernel frees it at exit, even
    after kill -9) and write our pid in it; raise CannotStart naming the holder's pid.

    Returns the lock's file descriptor: keep it open. It is not inherited by subprocesses
    (Python opens files close-on-exec), so a retrain never holds the lock.
    """
    try:
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(home / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise CannotStart(f"cannot create {home / LOCK_FILE}: {e.strerror}; check "
                          "SWIFTAI_HOME") from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise CannotStart(f"another SwiftAI bot (pid {holder}) is running on SWIFTAI_HOME="
                          f"{home}; stop it first, or give this one its own SWIFTAI_HOME") \
            from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def release_home(fd: int) -> None:
    """Give the lock back (for callers that end before the process does)."""
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
