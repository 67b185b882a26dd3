"""The CTranslate2 backend: a converted model, generating in C++ at the memory-bandwidth limit.

Imports neither torch nor transformers: the `tokenizers` library encodes and decodes, and the
model folder's JSON files say the rest. A model folder for this backend is a run folder (or the
base model's cache folder) holding the tokenizer, config.json, generation_config.json and the
conversion in `ct2/`, written by `python -m training convert`.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from model.errors import RegistryError
from model.serving.protocol import (
    Backend,
    Completion,
    GenRequest,
    ModelInfo,
    Sampling,
    context_of,
    finish_completion,
    in_groups,
    prompt_ids,
    refuse_blank,
    refuse_reference,
    regroup,
    scored_completion,
    scoring_rows,
)
from model.serving.tokens import load_folder_tokenizer

CONVERSION = "ct2"  # the conversion's folder inside a model folder
LINE = ("\n",)  # the stop of a line step


def cached_base(cache: Path, base_model: str) -> Path:
    """Return the folder that holds the base model's conversion under the cache folder."""
    return cache / "base" / re.sub(r"[^A-Za-z0-9._-]+", "-", base_model).strip("-.")


def has_conversion(folder: Path) -> bool:
    """Say whether a model folder holds a complete CTranslate2 conversion."""
    return (folder / CONVERSION / "model.bin").is_file()


def default_threads() -> int:
    """All cores but one, which the event loop keeps: a small model's steps are many tiny
    matrix products, whose thread hand-offs cost more than a second core gains (SmolLM2-135M,
    3 rows: 0.46 s a line with 1 thread, 1.2 s with 2, on 2 cores; equal at 36 rows)."""
    return max(1, len(os.sched_getaffinity(0)) - 1)


def default_compute_type(device: str) -> str:
    """int8 on CPU (4x less to read per token; NLL barely moves), float16 on CUDA."""
    return "float16" if device == "cuda" else "int8"


class CTranslate2Backend(Backend):
    def __init__(self, generator: Any, codec: Any, info: ModelInfo) -> None:
        self.generator = generator
        self.codec = codec  # a tokenizers.Tokenizer
        self.info = info
        self._newlines: list[int] | None = None

    @classmethod
    def load(cls, folder: Path, model_id: str, compute_type: str | None = None,
             device: str | None = None, threads: int | None = None) -> CTranslate2Backend:
        """Load the conversion in `folder/ct2` with its tokenizer and generation defaults."""
        import ctranslate2

        if not has_conversion(folder):
            raise RegistryError(f"{folder} has no CTranslate2 conversion: run "
                                "`python -m training convert`")
        device = device or ("cuda" if ctranslate2.get_cuda_device_count() else "cpu")
        generator = ctranslate2.Generator(
            str(folder / CONVERSION), device=device,
            compute_type=compute_type or default_compute_type(device),
            intra_threads=(threads or default_threads()) if device == "cpu" else 0)
        codec, spec = load_folder_tokenizer(folder)
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        info = ModelInfo(model_id=model_id, spec=spec, context=context_of(config),
                         defaults=Sampling.from_folder(folder), backend="ctranslate2")
        return cls(generator, codec, info)

    def check(self, request: GenRequest) -> None:
        """Refuse a blank prompt, or one that leaves no room in the model's context."""
        refuse_blank(request)
        refuse_reference(request)
        prompt_ids(self.codec, self.info, request)

    def generate(self, batch: list[GenRequest]) -> list[list[Completion]]:
        """Return k completions per request, one C++ call per temperature in the batch."""
        defaults = self.info.defaults
        return in_groups(batch, lambda r: (bool(r.score), r.greedy or not defaults.do_sample,
                                           r.temperature or defaults.temperature, r.stop),
                         self._generate)

    def _newline_ids(self) -> list[int]:
        """Return the ids of every token whose text holds a newline (found once)."""
        if self._newlines is None:
            size = self.codec.get_vocab_size(with_added_tokens=True)
            self._newlines = [i for i in range(size) if "\n" in self.codec.decode([i])]
        return self._newlines

    def _lines(self, batch: list[GenRequest]) -> list[list[Completion]]:
        """Sample k lines of each prompt: a prompt is read once for its samples
        (num_hypotheses), and a newline token ends a sample like an end token.

        One call serves every k in the batch: each call draws the batch's smallest k per row,
        and a request asking for more is given its prompt in as many rows as it needs."""
        defaults = self.info.defaults
        spec = self.info.spec
        assert spec is not None
        draws = min(r.k for r in batch)
        copies = [-(-r.k // draws) for r in batch]  # rows per request: ceil(k / draws)
        limits = [r.max_new_tokens or defaults.max_new_tokens for r in batch]
        prompts = [[self.codec.id_to_token(i) for i in prompt_ids(self.codec, self.info, r)]
                   for r in batch]
        results = self.generator.generate_batch(
            [prompt for prompt, n in zip(prompts, copies, strict=True) for _ in range(n)],
            max_length=max(limits), min_length=max(r.min_new_tokens for r in batch),
            num_hypotheses=draws, sampling_topk=defaults.top_k,
            sampling_topp=defaults.top_p,
            sampling_temperature=batch[0].temperature or defaults.temperature,
            repetition_penalty=defaults.repetition_penalty,
            end_token=[*spec.end_ids, *self._newline_ids()], return_end_token=True,
            include_prompt_in_result=False, return_scores=True)
        out, row = [], 0
        for request, limit, n in zip(batch, limits, copies, strict=True):
            samples = [(ids, mean) for result in results[row:row + n]
                       for ids, mean in zip(result.sequences_ids,
                                            result.scores or [None] * draws, strict=True)]
            row += n
            completions = []
            for ids, mean in samples[:request.k]:
                ids = ids[:limit]
                scores = [mean] * max(1, len(ids)) if mean is not None else []
                completions.append(finish_completion(self.codec, self.info, ids, scores,
                                                     request.stop))
            out.append(completions)
        return out

    def _score(self, batch: list[GenRequest]) -> list[list[Completion]]:
        """Score each request's given continuations with CTranslate2's score_batch."""
        pairs = [pair for request in batch for pair in scoring_rows(self.codec, self.info, request)]
        results = self.generator.score_batch([[self.codec.id_to_token(i) for i in prompt + ids]
                                              for prompt, ids in pairs])
        texts = [text for request in batch for text in request.score]
        completions = [scored_completion(list(result.log_probs)[-len(ids):] if ids else [], text)
                       for (_, ids), result, text in zip(pairs, results, texts, strict=True)]
        return regroup(batch, completions)

    def _generate(self, batch: list[GenRequest]) -> list[list[Completion]]:
        if batch[0].score:  # in_groups: scoring requests come alone
            return self._score(batch)
        if batch[0].stop == LINE and not batch[0].greedy and self.info.defaults.do_sample:
            return self._lines(batch)
        defaults = self.info.defaults
        spec = self.info.spec
        assert spec is not None
        rows = [request for request in batch for _ in range(request.k)]
        limits = [r.max_new_tokens or defaults.max_new_tokens for r in rows]
        greedy = rows[0].greedy or not defaults.do_sample
        results = self.generator.generate_batch(
            [[self.codec.id_to_token(i) for i in prompt_ids(self.codec, self.info, r)]
             for r in rows],
            max_length=max(limits), min_length=max(r.min_new_tokens for r in rows),
            sampling_topk=1 if greedy else defaults.top_k,
            sampling_topp=1.0 if greedy else defaults.top_p,
            sampling_temperature=1.0 if greedy else rows[0].temperature or defaults.temperature,
            repetition_penalty=defaults.repetition_penalty, end_token=list(spec.end_ids),
            return_end_token=True, include_prompt_in_result=False, return_scores=True,
            callback=_stopper(self.codec, rows[0].stop, len(rows)) if rows[0].stop else None)
        completions = []
        for row, limit, result in zip(rows, limits, results, strict=True):
            ids = result.sequences_ids[0][:limit]
            # CTranslate2 scores a sequence by its mean token log-probability; spread it evenly.
            scores = [result.scores[0]] * max(1, len(ids)) if result.scores else []
            completions.append(finish_completion(self.codec, self.info, ids, scores, row.stop))
        return regroup(batch, completions)


def _stopper(codec: Any, stop: tuple[str, ...], rows: int) -> Any:
    """Return a callback that ends a row once its text holds a stop string.

    It must not hold the backend: CTranslate2 may drop it on one of its own threads, and if that
    dropped the last reference to the Generator, the Generator would join its own thread.
    """
    ids: list[list[int]] = [[] for _ in range(rows)]

    def step(result: Any) -> bool:
        ids[result.batch_id].append(result.token_id)
        text = codec.decode(ids[result.batch_id], skip_special_tokens=True)
        return any(s in text for s in stop)

    return step
