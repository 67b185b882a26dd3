"""The base model's evaluation figures, kept in a file so that a retrain on the same corpus
does not measure the base model again (about half of an evaluation's time).

The file is `<cache>/base-figures/<key>.json`, written atomically. The key hashes everything
the figures depend on: the base model's files (weights, tokenizer, config), the corpus (train
songs are what copies are measured against, validation songs what is scored and continued,
the manifest holds the artist's figures), the evaluation's settings (seed, songs, block size),
the code that measures and writes (the `model` and `training.evaluation` packages' sources)
and the versions of the libraries that compute. Anything else changed, a new key: the figures
are measured again. A file that cannot be read is measured again too, with a one-line warning.
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path
from typing import Any

import model
from model.registry.files import write_json_atomic
from training.data.dataset import Corpus
from training.errors import one_line
from training.evaluation import scoring

FOLDER = "base-figures"
FORMAT = 1  # bump when what the file holds changes shape
CHUNK = 1 << 20
LIBRARIES = ("torch", "transformers", "ctranslate2", "peft", "tokenizers")


def _hash_files(digest: Any, files: list[Path], root: Path) -> None:
    for path in files:
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
        digest.update(b"\0")


def model_hash(folder: Path) -> str:
    """Return the sha256 of a model folder's files (hidden files and conversions left out)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file()
                   and not any(part.startswith(".") or part == "ct2"
                               for part in p.relative_to(folder).parts))
    digest = hashlib.sha256()
    _hash_files(digest, files, folder)
    return digest.hexdigest()


def local_folder(base_model: str) -> Path | None:
    """Return the folder the base model loads from: its own, or the hub cache's copy; None when
    it is a hub model not downloaded yet."""
    if Path(base_model).is_dir():
        return Path(base_model)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(base_model, local_files_only=True))
    except (LocalEntryNotFoundError, ValueError, OSError):  # not cached, or not a hub id
        return None


def corpus_hash(corpus: Corpus) -> str:
    """Return the sha256 of a corpus's songs and manifest, as loaded."""
    text = json.dumps([corpus.train, corpus.val, corpus.manifest], sort_keys=True,
                      ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def code_hash() -> str:
    """Return the sha256 of the sources that write and measure songs."""
    roots = [Path(model.__file__).parent, Path(scoring.__file__).parent]
    digest = hashlib.sha256()
    for root in roots:
        _hash_files(digest, sorted(root.rglob("*.py")), root.parent)
    return digest.hexdigest()


def _versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def key_of(base_folder: Path, corpus: Corpus, settings: dict[str, Any]) -> dict[str, Any]:
    """Return what the base model's figures depend on."""
    return {"format": FORMAT, "base_model": model_hash(base_folder),
            "corpus": corpus_hash(corpus), "settings": settings, "code": code_hash(),
            "libraries": _versions()}


def path_of(cache: Path, key: dict[str, Any]) -> Path:
    """Return the file that holds the figures for `key`."""
    name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
    return cache / FOLDER / f"{name}.json"


def load(cache: Path, key: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """Return the figures kept for `key` (None when there are none), and a one-line warning
    when a file was there but could not be used."""
    path = path_of(cache, key)
    if not path.is_file():
        return None, None
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        if saved["key"] != key:
            raise ValueError("its key does not match its name")
        return saved["figures"], None
    except (OSError, ValueError, KeyError, TypeError) as e:
        return None, f"base model's cached figures unreadable ({path}: {one_line(e)}); " \
            "measuring the base model again"


def save(cache: Path, key: dict[str, Any], figures: dict[str, Any]) -> Path:
    """Keep the figures for `key`, atomically; return the file."""
    path = path_of(cache, key)
    write_json_atomic(path, {"key": key, "figures": figures})
    return path
