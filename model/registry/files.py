"""Atomic writes: a reader sees the old file or the new one, never half of one.

A crash at any moment leaves the previous good state: data goes to a temporary file in the same
folder, is flushed to disk, then renamed over the target (rename is atomic on POSIX).
Folders whose files must change together (a corpus) are published as a new folder and an atomic
swap of a symlink that points at it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_json_atomic(path: Path, value: Any) -> None:
    """Write `value` as indented UTF-8 JSON, atomically."""
    text = json.dumps(value, ensure_ascii=False, indent=2) + "\n"
    write_bytes_atomic(path, text.encode("utf-8"))


def staging_dir(link: Path) -> Path:
    """Create an empty hidden folder beside `link` to build its next version in."""
    link.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(dir=link.parent, prefix=f".{link.name}."))
    staged.chmod(0o755)  # mkdtemp's 0700 would hide the published folder from other users
    return staged


def swap_dir(link: Path, staged: Path) -> None:
    """Make `link` point at `staged` in one atomic step, then delete the old version.

    `link` is a symlink that we own. An empty real folder in its place (made by hand) is replaced;
    a non-empty one is refused rather than deleted.
    """
    if link.is_dir() and not link.is_symlink():
        if any(link.iterdir()):
            raise FileExistsError(f"{link} is a folder with files in it; move it away first")
        link.rmdir()
    for f in staged.iterdir():
        _fsync_file(f)
    tmp_link = link.with_name(f".{link.name}.link.tmp")
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(staged.name)
    os.replace(tmp_link, link)
    fsync_dir(link.parent)
    # The previous version, and any version left behind by a crash before its swap.
    for old in link.parent.glob(f".{link.name}.*"):
        if old.is_dir() and old.resolve() != staged.resolve():
            shutil.rmtree(old, ignore_errors=True)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries to disk, so that a rename or a new file in it survives a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
