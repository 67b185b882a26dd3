"""Turn a corpus folder into packed training blocks.

One document per song: the tokenizer's prefix (a BOS, for models that use one), an optional album
header, the lyrics, the tokenizer's own end-of-text token. Documents are
concatenated and cut into blocks of `block_size` tokens (packing wastes nothing on padding); only
the last block is padded, and padding is masked out of both attention and loss (label -100).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from model.lyrics.songtext import album_token, format_song
from model.serving.tokens import TokenSpec
from training.errors import TrainingError

IGNORE = -100  # label that PyTorch's cross-entropy skips: a token that is not scored


@dataclass(frozen=True)
class Corpus:
    path: Path
    train: list[dict[str, Any]]
    val: list[dict[str, Any]]
    manifest: dict[str, Any]

    @property
    def albums(self) -> list[str]:
        """Return every album named in the corpus, sorted."""
        return sorted({s["album"] for s in self.train + self.val if s.get("album")})


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    songs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            song = json.loads(line)
        except json.JSONDecodeError as e:
            raise TrainingError(f"{path}:{number} is not valid JSON: {e.msg}") from e
        if not isinstance(song, dict) or not str(song.get("lyrics", "")).strip():
            raise TrainingError(f"{path}:{number} has no lyrics")
        songs.append(song)
    return songs


def load_corpus(folder: Path) -> Corpus:
    """Read a corpus folder written by `python -m training corpus`."""
    names = ("train.jsonl", "val.jsonl", "manifest.json")
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise TrainingError(f"{folder} is not a corpus (missing {', '.join(missing)}): "
                            "run `python -m training corpus` first")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    corpus = Corpus(folder, _read_jsonl(folder / "train.jsonl"), _read_jsonl(folder / "val.jsonl"),
                    manifest)
    if not corpus.train or not corpus.val:
        raise TrainingError(f"{folder} needs songs in both train and val "
                            f"(has {len(corpus.train)} and {len(corpus.val)})")
    return corpus


def song_document(song: dict[str, Any], known_albums: set[str], spec: TokenSpec) -> str:
    """Write a song as a document, with its album header when the model knows that album.

    Text that spells a special token (`</s>`, `<|endoftext|>`) is removed from the lyrics: the
    tokenizer would turn it into that token, and a song would end or start in its middle.
    """
    album = song.get("album")
    return format_song(spec.strip(song["lyrics"]), album if album in known_albums else None)


def tokenize_songs(tokenizer: Any, spec: TokenSpec, songs: list[dict[str, Any]],
                   known_albums: set[str]) -> list[list[int]]:
    """Tokenize each song as one document: the tokenizer's prefix (BOS), the song, its EOS.

    Exactly what scoring and every serving backend feed the model (see TokenSpec).
    """
    texts = [song_document(s, known_albums, spec) for s in songs]
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return [[*spec.prefix_ids, *doc, spec.eos_id] for doc in ids]


def score_batches(windows: list[tuple[list[int], list[int]]], batch_size: int,
                  pad_id: int) -> list[dict[str, torch.Tensor]]:
    """Group windows of similar length into right-padded batches (padding is never scored)."""
    ordered = sorted(windows, key=lambda w: len(w[0]), reverse=True)
    batches = []
    for start in range(0, len(ordered), batch_size):
        group = ordered[start:start + batch_size]
        width = len(group[0][0])
        batches.append({
            "input_ids": torch.tensor([ids + [pad_id] * (width - len(ids)) for ids, _ in group]),
            "attention_mask": torch.tensor([[1] * len(ids) + [0] * (width - len(ids))
                                            for ids, _ in group]),
            "labels": torch.tensor([labels + [IGNORE] * (width - len(labels))
                                    for _, labels in group]),
        })
    return batches


def pack(docs: list[list[int]], block_size: int, pad_id: int) -> list[dict[str, torch.Tensor]]:
    """Concatenate documents and cut them into blocks; pad and mask only the last one."""
    stream = [token for doc in docs for token in doc]
    blocks = []
    for start in range(0, len(stream), block_size):
        chunk = stream[start:start + block_size]
        pad = block_size - len(chunk)
        blocks.append({
            "input_ids": torch.tensor(chunk + [pad_id] * pad),
            "attention_mask": torch.tensor([1] * len(chunk) + [0] * pad),
            "labels": torch.tensor(chunk + [IGNORE] * pad),
        })
    return blocks


class Blocks(Dataset):
    """Packed blocks as a torch Dataset for the Trainer."""

    def __init__(self, blocks: list[dict[str, torch.Tensor]]) -> None:
        self.blocks = blocks

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.blocks[index]


def add_album_tokens(tokenizer: Any, model: Any, albums: list[str]) -> list[str]:
    """Add one special token per album and grow the model's embeddings to hold them.

    Embeddings grow to a multiple of 64 rows (faster matrix work on GPUs) and never shrink:
    some models (Qwen2.5) have more rows than their tokenizer has tokens.
    """
    tokens = [album_token(a) for a in albums]
    tokenizer.add_special_tokens({"additional_special_tokens": tokens},
                                 replace_extra_special_tokens=False)
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=64)
    return tokens
