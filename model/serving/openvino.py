"""The OpenVINO backend: OpenVINO GenAI's continuous batching, keeping each song's prefix.

A song's line steps are append-only (each prompt is the last one plus the line chosen), so an
engine that caches prompt prefixes reads only the new tokens of a step; CTranslate2 reads the
whole song again every step. `ContinuousBatchingPipeline` with `enable_prefix_caching` keeps
the KV blocks of earlier prompts and shares them among the k samples of a line.

The pipeline returns no log-probabilities for given text, so scoring requests (re-ending a line
on a rhyme) run on the same IR through the plain OpenVINO runtime, compiled on first use, all
of a batch's together: each request's prompt and the tokens all its texts start with (a
re-ending's stem) are read once, then each text's own tail from that state (the IR's
`beam_idx` copies it to every row), so nine endings of a line cost about one line and nine
words, not nine lines.

Imports neither torch nor transformers: our own `tokenizers` codec feeds token ids (the album
tokens included) and decodes, so the pipeline's tokenizer never matters. A model folder for this
backend is a run folder (or the base model's cache folder) holding the tokenizer, config.json,
generation_config.json and the IR in `openvino/`, written by `python -m training convert`.
"""

from __future__ import annotations

import json
import random
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
    prompt_ids,
    refuse_blank,
    regroup,
    scored_completion,
    scoring_rows,
)
from model.serving.tokens import load_folder_tokenizer

CONVERSION = "openvino"  # the IR's folder inside a model folder
IR = "openvino_model.xml"
CACHE_GB = 1  # KV cache: 16 songs of 2,048 tokens of SmolLM2-135M in u8 take about 0.4 GB
# Tokens one scheduler step may read. OpenVINO's default (256) splits a crowd's first prompts
# over several steps; 2,048 fits 16 whole-song prompts' new lines with room to spare.
BATCHED_TOKENS = 2048


def has_ir(folder: Path) -> bool:
    """Say whether a model folder holds a complete OpenVINO IR."""
    return (folder / CONVERSION / IR).is_file() and (folder / CONVERSION / "openvino_model.bin"
                                                      ).is_file()


class OpenVINOBackend(Backend):
    def __init__(self, pipeline: Any, folder: Path, properties: dict[str, Any], codec: Any,
                 info: ModelInfo, seed: int | None = None) -> None:
        self.pipeline = pipeline
        self.folder = folder
        self.properties = properties  # the device's settings; the scoring model gets them too
        self.codec = codec  # a tokenizers.Tokenizer
        self.info = info
        # OpenVINO seeds every request with 0 unless told otherwise: the same prompt would
        # get the same lines every time. Each request draws its own seed from here.
        self._seeds = random.Random(seed)
        self._newlines: list[int] | None = None
        self._scorer: Any = None

    @classmethod
    def load(cls, folder: Path, model_id: str, threads: int | None = None,
             seed: int | None = None, precision: str | None = None) -> OpenVINOBackend:
        """Load the IR in `folder/openvino` with its tokenizer and generation defaults.

        `precision` "f32" computes and caches in float32 (exact comparisons); None keeps
        OpenVINO's CPU defaults (bf16 where the CPU has it, a u8 KV cache).
        """
        import openvino_genai

        if not has_ir(folder):
            raise RegistryError(f"{folder} has no OpenVINO conversion: run "
                                "`python -m training convert` with the OpenVINO exporter installed")
        properties: dict[str, Any] = {}
        if threads:
            properties["INFERENCE_NUM_THREADS"] = threads
        if precision:
            properties |= {"INFERENCE_PRECISION_HINT": precision, "KV_CACHE_PRECISION": precision}
        scheduler = openvino_genai.SchedulerConfig()
        scheduler.enable_prefix_caching = True
        scheduler.cache_size = CACHE_GB
        scheduler.max_num_batched_tokens = BATCHED_TOKENS
        pipeline = openvino_genai.ContinuousBatchingPipeline(
            str(folder / CONVERSION), scheduler, "CPU", properties)
        codec, spec = load_folder_tokenizer(folder)
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        info = ModelInfo(model_id=model_id, spec=spec, context=context_of(config),
                         defaults=Sampling.from_folder(folder), backend="openvino")
        return cls(pipeline, folder, properties, codec, info, seed)

    def check(self, request: GenRequest) -> None:
        """Refuse a blank prompt, or one that leaves no room in the model's context."""
        refuse_blank(request)
        prompt_ids(self.codec, self.info, request)

    def generate(self, batch: list[GenRequest]) -> list[list[Completion]]:
        """Return k completions per request: every sampling request of the batch in one
        pipeline call (each has its own settings), scoring requests on the IR."""
        out: list[list[Completion]] = [[] for _ in batch]
        sampled = [i for i, request in enumerate(batch) if not request.score]
        scored = [i for i, request in enumerate(batch) if request.score]
        for i, completions in zip(scored, self._score([batch[i] for i in scored]), strict=True):
            out[i] = completions
        for i, completions in zip(sampled, self._sample([batch[i] for i in sampled]),
                                  strict=True):
            out[i] = completions
        return out

    def _newline_ids(self) -> list[int]:
        """Return the ids of every token whose text holds a newline (found once)."""
        if self._newlines is None:
            size = self.codec.get_vocab_size(with_added_tokens=True)
            self._newlines = [i for i in range(size) if "\n" in self.codec.decode([i])]
        return self._newlines

    def _config(self, request: GenRequest) -> Any:
        """Return OpenVINO's settings for one request (one row of it when greedy)."""
        import openvino_genai

        defaults = self.info.defaults
        spec = self.info.spec
        assert spec is not None
        config = openvino_genai.GenerationConfig()
        config.max_new_tokens = request.max_new_tokens or defaults.max_new_tokens
        config.min_new_tokens = request.min_new_tokens
        config.eos_token_id = spec.eos_id
        ends = set(spec.end_ids)
        if any("\n" in stop for stop in request.stop):  # a line step ends at its newline token
            ends |= set(self._newline_ids())
        config.stop_token_ids = ends
        config.repetition_penalty = defaults.repetition_penalty
        config.logprobs = 1  # without it, m_scores are not the raw log-probabilities' sum
        config.rng_seed = self._seeds.randrange(2**31)
        if request.greedy or not defaults.do_sample:
            config.do_sample = False
        else:
            config.do_sample = True
            config.num_return_sequences = request.k
            config.temperature = request.temperature or defaults.temperature
            config.top_p = defaults.top_p
            config.top_k = defaults.top_k
        return config

    def _sample(self, batch: list[GenRequest]) -> list[list[Completion]]:
        """Generate for sampling and greedy requests in one call; a prompt's k samples share
        its cached prefix (greedy ones are k rows of one sample each)."""
        if not batch:
            return []
        import numpy as np
        import openvino

        prompts, configs, owners = [], [], []
        for index, request in enumerate(batch):
            ids = prompt_ids(self.codec, self.info, request)
            config = self._config(request)
            for _ in range(1 if config.do_sample else request.k):
                prompts.append(openvino.Tensor(np.array([ids], dtype=np.int64)))
                configs.append(config)
                owners.append(index)
        results = self.pipeline.generate(prompts, configs)
        out: list[list[Completion]] = [[] for _ in batch]
        for index, config, result in zip(owners, configs, results, strict=True):
            request = batch[index]
            for ids, total in zip(result.m_generation_ids, result.m_scores, strict=True):
                ids = _cut_at_stop(self.codec, list(ids)[:config.max_new_tokens], request.stop)
                # The score is the sum over every generated token; spread its mean evenly.
                scores = [total / len(ids)] * len(ids) if ids else []
                out[index].append(finish_completion(self.codec, self.info, ids, scores,
                                                    request.stop))
        return [completions[:request.k] for completions, request in zip(out, batch, strict=True)]

    def _score(self, requests: list[GenRequest]) -> list[list[Completion]]:
        """Score the requests' given continuations in two passes over the IR: each request's
        prompt and the tokens all its texts start with (its head: a re-ending's stem), then
        every text's own tail, continuing from its request's head."""
        import numpy as np

        if not requests:
            return []
        heads, texts, tails, shared = [], [], [], []
        for request in requests:
            rows = scoring_rows(self.codec, self.info, request)
            ids = [continuation for _, continuation in rows]
            shared.append(_shared_start(ids))
            heads.append(rows[0][0] + ids[0][:shared[-1]])
            texts.append(ids)
            tails.extend(continuation[shared[-1]:] for continuation in ids)
        owner = [r for r, ids in enumerate(texts) for _ in ids]  # each row's request
        depth, width = max(map(len, heads)), max(map(len, tails))
        # Pass 1: the heads, right-padded; padding is masked out of what follows.
        tokens = np.zeros((len(heads), depth), dtype=np.int64)
        mask = np.zeros_like(tokens)
        for r, head in enumerate(heads):
            tokens[r, :len(head)] = head
            mask[r, :len(head)] = 1
        infer = self._scoring_model().create_infer_request()  # a fresh request: empty state
        before = infer.infer({"input_ids": tokens, "attention_mask": mask,
                              "position_ids": np.ascontiguousarray(np.broadcast_to(
                                  np.arange(depth, dtype=np.int64), tokens.shape)),
                              "beam_idx": np.arange(len(heads), dtype=np.int32)})[0]
        # Pass 2: every tail, its row continuing its own head's state (beam_idx copies it) at
        # the positions after that head; a head's padding stays masked.
        rows = np.zeros((len(tails), width), dtype=np.int64)
        seen = np.zeros((len(tails), depth + width), dtype=np.int64)
        positions = np.zeros_like(rows)
        for row, (tail, r) in enumerate(zip(tails, owner, strict=True)):
            rows[row, :len(tail)] = tail
            seen[row, :len(heads[r])] = 1
            seen[row, depth:depth + len(tail)] = 1  # padding after a tail: never seen
            positions[row] = np.arange(len(heads[r]), len(heads[r]) + width)
        after = infer.infer({"input_ids": rows, "attention_mask": seen,
                             "position_ids": positions,
                             "beam_idx": np.array(owner, dtype=np.int32)})[0] \
            if width else np.zeros((len(tails), 0, before.shape[-1]))
        completions = []
        row = 0
        for r, request in enumerate(requests):
            start = len(heads[r]) - shared[r] - 1  # where the head predicts the texts' first token
            for ids, text in zip(texts[r], request.score, strict=True):
                # Token i of a text is predicted at the position before it: in the head, up
                # to its last position, then in the row's own tail.
                picked = np.concatenate([before[r, start:len(heads[r])],
                                         after[row, :len(ids) - shared[r] - 1]])
                picked = picked.astype(np.float64)
                top = picked.max(axis=-1, keepdims=True)
                log_norm = np.log(np.exp(picked - top).sum(axis=-1)) + top[:, 0]
                values = [float(picked[i, token] - log_norm[i]) for i, token in enumerate(ids)]
                completions.append(scored_completion(values, text))
                row += 1
        return regroup(requests, completions)

    def _scoring_model(self) -> Any:
        """Compile the IR for scoring on first use (most processes never score)."""
        if self._scorer is None:
            import openvino

            self._scorer = openvino.Core().compile_model(
                str(self.folder / CONVERSION / IR), "CPU",
                {k: v for k, v in self.properties.items() if k != "KV_CACHE_PRECISION"})
        return self._scorer


def _shared_start(texts: list[list[int]]) -> int:
    """Return how many leading tokens every text shares, leaving each at least one of its own."""
    shortest = min(map(len, texts))
    shared = 0
    while shared < shortest - 1 and all(ids[shared] == texts[0][shared] for ids in texts):
        shared += 1
    return shared


def _cut_at_stop(codec: Any, ids: list[int], stop: tuple[str, ...]) -> list[int]:
    """Return `ids` up to the token that completes a stop string (the pipeline stops at
    newline tokens; any other stop string is found here, after the fact)."""
    if not any(stop):
        return ids
    for end in range(1, len(ids) + 1):
        text = codec.decode(ids[:end], skip_special_tokens=True)
        if any(s and s in text for s in stop):
            return ids[:end]
    return ids
