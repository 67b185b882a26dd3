"""A tiny model that writes short songs: the test model, with a small `max_new_tokens` saved in
its generation_config.json the way a run saves its sampling (fast enough for hundreds of songs)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def short_model(tiny_base: Path, folder: Path, tokens: int = 16) -> Path:
    """Copy the tiny model into `folder`, writing at most `tokens` new tokens a song."""
    shutil.copytree(tiny_base, folder)
    path = folder / "generation_config.json"
    config = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    path.write_text(json.dumps({**config, "max_new_tokens": tokens}), encoding="utf-8")
    return folder
