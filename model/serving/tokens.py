"""What the engine must know about a tokenizer, asked of the tokenizer itself, in one place.

Models differ: GPT-2 ends text with `<|endoftext|>` and puts nothing before it; Llama-style
tokenizers put `<s>` before every text and end with `</s>`; Qwen2 lists several end tokens in its
generation config. Training, scoring and every serving backend use one `TokenSpec` so that a song
looks the same to the model everywhere: the tokenizer's own prefix (BOS), the text, its own EOS.

This module imports neither torch nor transformers: the CTranslate2 backend builds a spec from the
`tokenizers` library and the JSON files `save_pretrained` writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.errors import RegistryError
from model.lyrics.songtext import albums_in


@dataclass(frozen=True)
class TokenSpec:
    prefix_ids: tuple[int, ...]  # what the tokenizer puts before any text (a BOS, or nothing)
    eos_id: int  # ends every training document: the tokenizer's own end of text
    end_ids: tuple[int, ...]  # ids that end a song when generating: the EOS and the model's list
    end_texts: tuple[str, ...]  # the same tokens as text (stop strings for a remote server)
    specials: tuple[str, ...]  # every special token's text, longest first: never lyrics
    albums: tuple[str, ...]  # albums that have their own token

    def strip(self, text: str) -> str:
        """Remove every special token's text from `text` (a prompt, or model output)."""
        for special in self.specials:
            text = text.replace(special, "")
        return text

    def to_json(self) -> dict[str, Any]:
        """Return the spec as a JSON object (saved beside a CTranslate2 conversion)."""
        return {name: list(value) if isinstance(value, tuple) else value
                for name, value in self.__dict__.items()}


def build_spec(tokenizer: Any, eos_token: str | None,
               end_ids: list[int] | None = None) -> TokenSpec:
    """Derive the spec from a `tokenizers.Tokenizer` and the name of its end-of-text token.

    `end_ids` are the model's own end tokens (generation_config.json's `eos_token_id`), kept
    beside the EOS: Qwen2 and Llama 3 stop on several.
    """
    eos_id = tokenizer.token_to_id(eos_token) if eos_token else None
    if eos_id is None:
        raise RegistryError("the tokenizer names no end-of-text token (eos_token), so a song's "
                            "end cannot be marked; set one in tokenizer_config.json")
    with_specials = tokenizer.encode("a", add_special_tokens=True).ids
    bare = tokenizer.encode("a", add_special_tokens=False).ids
    prefix = with_specials[:with_specials.index(bare[0])] if bare[0] in with_specials else []
    ends = [eos_id, *(i for i in end_ids or [] if i != eos_id)]
    specials = sorted({t.content for t in tokenizer.get_added_tokens_decoder().values()
                       if t.special} | {eos_token}, key=len, reverse=True)
    return TokenSpec(
        prefix_ids=tuple(prefix), eos_id=eos_id, end_ids=tuple(ends),
        end_texts=tuple(tokenizer.id_to_token(i) for i in ends if tokenizer.id_to_token(i)),
        specials=tuple(specials), albums=tuple(sorted(albums_in(specials))))


def spec_of(tokenizer: Any, end_ids: list[int] | None = None) -> TokenSpec:
    """Derive the spec of a transformers (fast) tokenizer."""
    return build_spec(tokenizer.backend_tokenizer, tokenizer.eos_token, end_ids)


def _token_name(value: Any) -> str | None:
    # tokenizer_config.json names a token as a string, or as an AddedToken dict in older files.
    return value.get("content") if isinstance(value, dict) else value


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RegistryError(f"{path} is not valid JSON: {e}") from e


def model_end_ids(folder: Path) -> list[int]:
    """Return the end tokens a model folder declares (generation_config.json, else config.json)."""
    for name in ("generation_config.json", "config.json"):
        value = _read_json(folder / name).get("eos_token_id")
        if value is not None:
            return [value] if isinstance(value, int) else list(value)
    return []


def load_folder_tokenizer(folder: Path) -> tuple[Any, TokenSpec]:
    """Load a saved tokenizer with the `tokenizers` library (no torch) and derive its spec."""
    from tokenizers import Tokenizer

    path = folder / "tokenizer.json"
    if not path.is_file():
        raise RegistryError(f"{folder} has no tokenizer.json (save it with a fast tokenizer)")
    tokenizer = Tokenizer.from_file(str(path))
    config = _read_json(folder / "tokenizer_config.json")
    eos = _token_name(config.get("eos_token")) or _token_name(
        _read_json(folder / "special_tokens_map.json").get("eos_token"))
    return tokenizer, build_spec(tokenizer, eos, model_end_ids(folder))
