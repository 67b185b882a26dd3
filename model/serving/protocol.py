"""What the worker asks of any model backend: a batch of text prompts in, k completions each out.

A backend (transformers, CTranslate2, a remote OpenAI-compatible server) knows tokens and sampling,
nothing of lyrics: the composer builds the prompt text (album header and all) and cleans what comes
back. One thread at a time uses a backend (the worker's). `check` raises `BadRequest` for a request
it cannot serve, so that one bad request never fails a batch: every backend refuses an empty or
blank prompt there (`refuse_blank`), which no model can continue as a song (CTranslate2 fails the
whole batch on one: "cannot create std::vector larger than max_size()").
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from model.errors import BadRequest
from model.serving.tokens import TokenSpec

if TYPE_CHECKING:
    from model.lyrics.rhyme import RhymeBook
    from model.lyrics.style import Style
    from model.writing.novelty import CopyIndex
    from model.writing.ranking import Weights


@dataclass(frozen=True)
class Sampling:
    """How to pick tokens. Our lyric defaults; a run saves them as generation_config.json."""

    temperature: float = 0.9  # a little under 1: fewer odd words, still varied
    top_p: float = 0.95  # nucleus sampling cuts the long tail of junk tokens
    top_k: int = 50  # top_p then sorts 50 tokens, not the whole vocabulary: 2x faster at batch
    # 16 on CPU (CTranslate2), and past the 50th token there is only junk at temperature 0.9
    # Discourages one line 20 times. A line step's prompt is the whole song so far, so every
    # token of the song is penalized: the artist's own commas, "I", "oh" and line ends too. At
    # 1.15 Taylor Swift songs (SmolLM2, 24 a run) had 8.8 words a line against her 7.3 and were
    # told from hers 82-84% of the time; 1.08 gave 7.7 and 74%, with no loop; 1.02 looped.
    repetition_penalty: float = 1.08
    max_new_tokens: int = 200  # about a verse and a chorus
    do_sample: bool = True  # False: greedy (tests compare backends with it)

    @classmethod
    def from_folder(cls, folder: Path | None) -> Sampling:
        """Read generation_config.json; our defaults fill what it leaves at transformers' own.

        A hub model's config rarely sets sampling; a run folder we wrote carries ours.
        """
        path = folder / "generation_config.json" if folder else None
        saved = json.loads(path.read_text(encoding="utf-8")) if path and path.is_file() else {}
        values = {f.name: saved[f.name] for f in fields(cls)
                  if saved.get(f.name) not in (None, _TRANSFORMERS_DEFAULTS.get(f.name))}
        return replace(cls(), **values)

    def to_generation_config(self) -> dict[str, Any]:
        """Return the fields to save in a run's generation_config.json."""
        return dict(self.__dict__)


# transformers' GenerationConfig defaults: a saved value equal to one of these was never chosen.
_TRANSFORMERS_DEFAULTS = {"temperature": 1.0, "top_p": 1.0, "top_k": 50,
                          "repetition_penalty": 1.0, "do_sample": False}


@dataclass(frozen=True)
class GenRequest:
    prompt: str  # the text to continue; the backend adds the tokenizer's own prefix (BOS)
    k: int = 1  # how many samples of this prompt
    max_new_tokens: int | None = None  # None: the model's default
    min_new_tokens: int = 0  # benchmarks force a fixed amount of work
    temperature: float | None = None  # None: the model's default
    greedy: bool = False  # argmax decoding (comparing backends)
    stop: tuple[str, ...] = ()  # cut a completion at the first of these (beside the end tokens)
    fit: bool = False  # drop the prompt's oldest tokens when it is too long, rather than refuse
    # Score these continuations of the prompt instead of sampling: one Completion per text (in
    # order; k must equal their number), its tokens' log-probabilities, finish "scored".
    score: tuple[str, ...] = ()
    # Score `score` under the reference model instead: the weights the served model was tuned
    # from (contrastive ranking, model/writing/ranking.py). A backend serving none refuses it.
    reference: bool = False


@dataclass(frozen=True)
class Completion:
    text: str  # what came after the prompt, special tokens removed, cut at the end of song
    mean_logprob: float | None  # mean log-probability per generated token (None if unknown)
    tokens: int  # generated tokens counted in mean_logprob
    finish: str  # "end" (end of song), "stop" (a stop string), or "length"


@dataclass(frozen=True)
class ModelInfo:
    model_id: str  # a run id or the base model's name: public, never a filesystem path
    spec: TokenSpec | None  # None for a remote model we know no tokenizer of
    context: int  # tokens of context the model takes
    defaults: Sampling
    backend: str  # "transformers", "ctranslate2", ...

    @property
    def albums(self) -> list[str]:
        """Return the albums this model has a style token for."""
        return list(self.spec.albums) if self.spec else []


class Backend(abc.ABC):
    """A model that generates, and scores given continuations (`GenRequest.score`): every
    backend implements `check` and `generate`, and inherits the optional capabilities below,
    overriding those it has. Callers ask a backend these questions directly; none probes for a
    method or checks a backend's name."""

    info: ModelInfo
    # True: the weights live on inference servers, not in this process (a published run is
    # served once those servers load it; there is nothing to load or convert here).
    remote: ClassVar[bool] = False

    @abc.abstractmethod
    def check(self, request: GenRequest) -> None:
        """Raise BadRequest if this request cannot be generated (e.g. a prompt too long)."""

    @abc.abstractmethod
    def generate(self, batch: list[GenRequest]) -> list[list[Completion]]:
        """Return `request.k` completions for each request of the batch, in order."""

    def unavailable(self) -> str | None:
        """Say why nothing can be served right now (a remote one with no server up); None
        when it can serve."""
        return None

    def status(self) -> list[dict[str, Any]] | None:
        """Return the health of what serves the model (a remote one's servers), or None."""
        return None

    def close(self) -> None:
        """Release what the backend holds beside its model (threads, connections)."""
        return None  # most hold nothing beside their model


@dataclass(frozen=True)
class Served:
    """A loaded model and what the writing rules need with it; swapped as one."""

    backend: Backend
    copy_index: CopyIndex | None  # the training lyrics' n-grams; None for a base model
    style: Style | None = None  # the training lyrics' style figures; None for a base model
    form: tuple[str, ...] | None = None  # the artist's most common song form, if headers say
    rhymes: RhymeBook | None = None  # the artist's stanza schemes and end words
    weights: Weights | None = None  # the run's ranking weights; None: the defaults

    @property
    def info(self) -> ModelInfo:
        """Return the backend's model facts."""
        return self.backend.info

    def unavailable(self) -> str | None:
        """Say why the backend can serve nothing right now (a remote one with no server up)."""
        return self.backend.unavailable()

    def close(self) -> None:
        """Release what the backend holds beside its model (threads, connections)."""
        self.backend.close()


def refuse_blank(request: GenRequest) -> None:
    """Raise BadRequest for a prompt with nothing but whitespace in it."""
    if not request.prompt.strip():
        raise BadRequest("the prompt is empty: there is nothing to continue")


def refuse_reference(request: GenRequest) -> None:
    """Raise BadRequest for a reference request: this backend serves no reference model."""
    if request.reference:
        raise BadRequest("no reference model is served beside this one")


def prompt_ids(codec: Any, info: ModelInfo, request: GenRequest) -> list[int]:
    """Return the ids a local model is fed: the tokenizer's own prefix (BOS), then the prompt.

    A prompt that leaves no room in the context for its new tokens is refused (BadRequest),
    or, with `request.fit`, loses its oldest tokens (a long song's first sections).
    """
    assert info.spec is not None
    bare = codec.encode(request.prompt, add_special_tokens=False).ids
    wanted = request.max_new_tokens or info.defaults.max_new_tokens
    room = info.context - wanted - len(info.spec.prefix_ids)
    if len(bare) > room:
        if not request.fit or room < 8:
            raise BadRequest(f"the prompt is too long ({len(bare)} tokens; at most "
                             f"{max(0, room)} fit before the song)")
        bare = bare[-room:]
    return [*info.spec.prefix_ids, *bare]


def scored_completion(logprobs: list[float], text: str) -> Completion:
    """Return the answer to one scored continuation: its mean and count of token logprobs."""
    mean = sum(logprobs) / len(logprobs) if logprobs else None
    return Completion(text=text, mean_logprob=mean, tokens=len(logprobs), finish="scored")


def scoring_rows(codec: Any, info: ModelInfo, request: GenRequest,
                 ) -> list[tuple[list[int], list[int]]]:
    """Return (prompt ids, continuation ids) for each text of a scoring request."""
    continuations = [codec.encode(text, add_special_tokens=False).ids for text in request.score]
    room = replace(request, max_new_tokens=max(map(len, continuations), default=1))
    prompt = prompt_ids(codec, info, room)
    return [(prompt, ids) for ids in continuations]


def context_of(config: dict[str, Any]) -> int:
    """Return the context length a model's config.json states."""
    for name in ("max_position_embeddings", "n_positions", "n_ctx", "seq_length"):
        value = config.get(name)
        if isinstance(value, int) and value > 0:
            return value
    return 2048  # rotary models that state no limit: a safe bound for lyrics


def in_groups(batch: list[GenRequest], key: Callable[[GenRequest], Any],
              generate: Callable[[list[GenRequest]], list[list[Completion]]],
              ) -> list[list[Completion]]:
    """Call `generate` once per group of requests sharing `key`; answer in batch order.

    For settings a backend can only take once per call (CTranslate2's temperature, greedy or not).
    """
    groups: dict[Any, list[int]] = {}
    for index, request in enumerate(batch):
        groups.setdefault(key(request), []).append(index)
    out: list[list[Completion]] = [[] for _ in batch]
    for indexes in groups.values():
        for index, completions in zip(indexes, generate([batch[i] for i in indexes]),
                                      strict=True):
            out[index] = completions
    return out


def regroup(batch: list[GenRequest], rows: list[Completion]) -> list[list[Completion]]:
    """Split one completion per row (k rows per request, in order) back into lists per request."""
    out, start = [], 0
    for request in batch:
        out.append(rows[start:start + request.k])
        start += request.k
    return out


def finish_completion(codec: Any, info: ModelInfo, ids: list[int], scores: list[float],
                      stop: tuple[str, ...]) -> Completion:
    """Cut generated ids at the end of song, decode without special tokens, apply stop strings.

    `codec` is a `tokenizers.Tokenizer`; every local backend decodes through here, so the same
    ids always become the same text.
    """
    assert info.spec is not None
    finish = "length"
    for position, token in enumerate(ids):
        if token in info.spec.end_ids:
            ids, scores, finish = ids[:position], scores[:position + 1], "end"
            break
    text = info.spec.strip(codec.decode(ids, skip_special_tokens=True))
    cuts = [text.find(s) for s in stop if s and s in text]
    if cuts:
        text, finish = text[:min(cuts)], "stop"
    mean = sum(scores) / len(scores) if scores else None
    return Completion(text=text, mean_logprob=mean, tokens=len(scores), finish=finish)
