"""One bot per SWIFTAI_HOME: two would share one log, one model registry and one Discord token.

Sharded processes (SHARD_IDS) are the exception: each serves its own shards, so several may share
a home (one log, one registry). An unsharded bot takes `bot.lock` alone; a sharded one shares it
and takes its own `bot.shards-<ids>.lock` alone, so a second process for the same shards, or an
unsharded bot beside sharded ones, is refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from bot.errors import CannotStart

LOCK_FILE = "bot.lock"


def hold_home(home: Path, shard_ids: tuple[int, ...] = ()) -> list[int]:
    """Take the home's lock(s) for the life of this process (the kernel frees them at exit, even
    after kill -9) and write our pid in the one we hold alone; raise CannotStart naming the
    holder's pid.

    Returns the locks' file descriptors: keep them open. They are not inherited by
    subprocesses (Python opens files close-on-exec), so a retrain never holds them.
    """
    if not shard_ids:
        return [_take(home, LOCK_FILE, fcntl.LOCK_EX)]
    shared = _take(home, LOCK_FILE, fcntl.LOCK_SH)
    try:
        return [shared, _take(home, f"bot.shards-{'-'.join(map(str, shard_ids))}.lock",
                              fcntl.LOCK_EX)]
    except CannotStart:
        release_home(shared)
        raise


def _take(home: Path, name: str, mode: int) -> int:
    try:
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(home / name, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise CannotStart(f"cannot create {home / name}: {e.strerror}; check "
                          "SWIFTAI_HOME") from e
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "sharded bots"
        os.close(fd)
        raise CannotStart(f"another SwiftAI bot (pid {holder}) is running on SWIFTAI_HOME="
                          f"{home}; stop it first, or give this one its own SWIFTAI_HOME") \
            from None
    if mode == fcntl.LOCK_EX:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def release_home(fd: int) -> None:
    """Give the lock back (for callers that end before the process does)."""
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
