"""Which backend serves a model: one table from a name (SERVING_BACKEND) to a loader, the type
of its options, and whether it is remote. No code outside this table names a backend.

Serving callers name a backend and a model folder (or hub id) and get a `Served`: the backend
plus what the writing rules need beside it (the training lyrics' n-gram index for the novelty
guard, the artist's style figures and song form). Backend modules are imported only when
chosen, so a CTranslate2 process never imports torch; training code that needs a model's torch
weights (scoring, evaluation) imports model.serving.hf itself.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from model.errors import RegistryError
from model.lyrics.rhyme import rhyme_book
from model.lyrics.songform import common_form
from model.lyrics.style import figures
from model.serving.ct2 import has_conversion
from model.serving.openvino import has_ir
from model.serving.protocol import Backend, Served
from model.serving.reference import WithReference
from model.writing.novelty import CopyIndex
from model.writing.ranking import load_weights


@dataclass(frozen=True)
class TransformersOptions:
    seed: int | None = None  # seed the sampling, for repeatable output


@dataclass(frozen=True)
class CTranslate2Options:
    compute_type: str | None = None  # CT2_COMPUTE_TYPE; None: int8 on CPU, float16 on CUDA
    threads: int | None = None  # CT2_THREADS: CPU threads; None: all cores but one
    seed: int | None = None  # seed the sampling, for repeatable output


@dataclass(frozen=True)
class OpenVINOOptions:
    threads: int | None = None  # OV_THREADS: CPU threads; None: OpenVINO's choice (all cores)
    seed: int | None = None  # seed the sampling, for repeatable output
    precision: str | None = None  # "f32": compute and cache in float32 (exact comparisons);
    # None: OpenVINO's CPU defaults (bf16 where the CPU has it, a u8 KV cache)


@dataclass(frozen=True)
class OpenAIOptions:
    urls: tuple[str, ...] = ()  # INFERENCE_URL: OpenAI-compatible servers, each ending in /v1
    api_key: str | None = None  # INFERENCE_API_KEY
    model: str | None = None  # the artist's model name on the servers (INFERENCE_MODELS);
    # None: the first model a server lists
    timeout: float = 120.0  # INFERENCE_TIMEOUT: seconds per remote request, retries apart


def _transformers(source: str | Path, model_id: str, options: TransformersOptions) -> Backend:
    import torch

    from model.serving.hf import TransformersBackend

    if options.seed is not None:
        torch.manual_seed(options.seed)
    return TransformersBackend.load(source, model_id)


def _ctranslate2(source: str | Path, model_id: str, options: CTranslate2Options) -> Backend:
    import ctranslate2

    from model.serving.ct2 import CTranslate2Backend

    if options.seed is not None:
        ctranslate2.set_random_seed(options.seed)
    return CTranslate2Backend.load(Path(source), model_id, compute_type=options.compute_type,
                                   threads=options.threads)


def _openvino(source: str | Path, model_id: str, options: OpenVINOOptions) -> Backend:
    from model.serving.openvino import OpenVINOBackend

    return OpenVINOBackend.load(Path(source), model_id, threads=options.threads,
                                seed=options.seed, precision=options.precision)


def _openai(source: str | Path, model_id: str, options: OpenAIOptions) -> Backend:
    from model.serving.remote import OpenAIBackend

    folder = Path(source) if Path(source).is_dir() else None
    return OpenAIBackend.load(list(options.urls), options.api_key, options.model, folder,
                              timeout=options.timeout, model_id=model_id)


@dataclass(frozen=True)
class Kind:
    """One backend: its loader, the type of its options, and what callers must know of it
    before it is loaded."""

    load: Callable[[str | Path, str, Any], Backend]
    options: type  # the dataclass of its options; its defaults when a caller gives none
    remote: bool = False  # its weights live on inference servers (Backend.remote says it too)


TABLE: dict[str, Kind] = {
    "transformers": Kind(_transformers, TransformersOptions),
    "ctranslate2": Kind(_ctranslate2, CTranslate2Options),
    "openvino": Kind(_openvino, OpenVINOOptions),
    "openai": Kind(_openai, OpenAIOptions, remote=True),
}
CHOICES = ("auto", *TABLE)


def is_remote(name: str) -> bool:
    """Say whether backend `name` serves from inference servers (nothing is loaded here)."""
    return name in TABLE and TABLE[name].remote


def ct2_installed() -> bool:
    """Say whether the ctranslate2 package can be imported."""
    return importlib.util.find_spec("ctranslate2") is not None


def openvino_installed() -> bool:
    """Say whether the openvino_genai package can be imported."""
    return importlib.util.find_spec("openvino_genai") is not None


def resolve(name: str, folder: Path | None) -> str:
    """Turn `auto` into a backend: OpenVINO when the folder has an IR and the package is
    installed, else CTranslate2 when it has a conversion and that package is installed, else
    transformers.

    OpenVINO keeps each song's prefix, so a line step reads only its new tokens where
    CTranslate2 reads the whole song again (benchmarks/engines.py, SmolLM2 on 2 quiet cores:
    one song 4.3x faster, 16 at once 7.6x); a run has an IR only where OPENVINO_EXPORTER was
    set when it was evaluated or published.
    """
    if name not in CHOICES:
        raise RegistryError(f"unknown serving backend {name!r}; choose one of {', '.join(CHOICES)}")
    if name != "auto":
        return name
    if folder is not None and has_ir(folder) and openvino_installed():
        return "openvino"
    usable = folder is not None and has_conversion(folder) and ct2_installed()
    return "ctranslate2" if usable else "transformers"


def training_lyrics(folder: Path | None) -> list[str]:
    """Return a run's training lyrics (none for a model that is not one of our runs)."""
    train = folder / "data" / "train.jsonl" if folder else None
    if train is None or not train.is_file():
        return []
    return [json.loads(line)["lyrics"] for line in train.read_text("utf-8").splitlines()]


def with_lyrics(backend: Backend, folder: Path | None) -> Served:
    """Pair a backend with what the writing rules learn from its training lyrics: the n-gram
    index of the novelty guard, the artist's style figures and song form."""
    lyrics = training_lyrics(folder)
    if not lyrics:
        return Served(backend, None, weights=load_weights(folder))
    return Served(backend, CopyIndex(lyrics), figures(lyrics), common_form(lyrics),
                  rhyme_book(lyrics), load_weights(folder))


_HUB_ID = re.compile(r"[\w.-]+(/[\w.-]+)?")


def locate(source: str | Path) -> str | Path:
    """Return a local model folder, or a hub id the hub answers for; fail fast otherwise.

    Without this, an unreachable hub costs ~50 s of retries before the one useful error.
    A hub model already in the local cache loads from there when the hub cannot be reached.
    """
    if Path(source).is_dir():
        return Path(source)
    text = str(source)
    if not _HUB_ID.fullmatch(text) or text.startswith("."):
        raise RegistryError(f"{text} is not a model folder (no such folder), nor a Hugging Face "
                            "hub id; use a local folder saved with save_pretrained, or publish "
                            "a fine-tuned run")
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        HfApi().model_info(text, timeout=10)
    except HfHubHTTPError as e:  # the hub answered: no such model, or no access
        raise RegistryError(f"the Hugging Face hub has no model {text!r} we can use ({e}); "
                            "use a local model folder or publish a fine-tuned run") from e
    except Exception as e:  # unreachable (DNS, refused, timeout): use the cache if it has it
        try:
            return Path(snapshot_download(text, local_files_only=True))
        except LocalEntryNotFoundError:
            raise RegistryError(
                f"cannot reach the Hugging Face hub to download {text!r} ({type(e).__name__}) "
                "and it is not in the local cache; use a local model folder (save_pretrained) "
                "or publish a fine-tuned run") from e
    return text


def load(name: str, source: str | Path, model_id: str,
         options: Iterable[object] = (), reference: str | Path | None = None) -> Served:
    """Load `source` (a model folder, or a hub id for transformers) with backend `name`.

    `options` may hold the options of several backends (`auto` picks one when it sees the
    folder): the one of the chosen backend's type is used, else that type's defaults.
    On a remote backend the weights live on the servers: `source` only lends its tokenizer
    facts, its sampling defaults and its training lyrics (a run folder), when it is a folder here.
    """
    if not is_remote(name):
        source = locate(source)
    folder = Path(source) if Path(source).is_dir() else None
    kind = TABLE[resolve(name, folder)]
    chosen = next((o for o in options if isinstance(o, kind.options)), None) or kind.options()
    backend = kind.load(source, model_id, chosen)
    if reference is not None and kind.remote:  # a model name on the same servers: the base
        # model a LoRA adapter adapts, its tokenizer the tuned one's less the album tokens
        backend = WithReference(backend, kind.load(source, f"{model_id} reference",
                                                   replace(chosen, model=str(reference))))
    elif reference is not None:
        backend = WithReference(backend, kind.load(locate(reference), f"{model_id} reference",
                                                   chosen))
    return with_lyrics(backend, folder)
