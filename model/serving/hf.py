"""The transformers backend: a PyTorch model, generating for a batch of prompts at once.

Not thread-safe: fast tokenizers fail with "Already borrowed" when shared across threads, so one
thread owns a backend (the worker's). Rows are left-padded; each keeps its own prompt, temperature
and length. Every sampling step is ours (penalty, temperature, top-k/p), in a fixed order, so that
one step records each picked token's log-probability after the repetition penalty and before
temperature and top-p: exactly what CTranslate2 reports as its score, so ranks agree.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    RepetitionPenaltyLogitsProcessor,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from model.errors import OutOfMemory
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
from model.serving.tokens import spec_of

log = logging.getLogger(__name__)
# from_pretrained builds a model under process-wide torch state (the meta device, the default
# dtype): two threads loading at once (two artists' workers, a reload beside serving) break
# each other ("Cannot copy out of meta tensor"). Loads take turns; generation does not.
_LOADING = threading.Lock()


class _RowTemperature(LogitsProcessor):
    """Divide each row's logits by that row's own temperature."""

    def __init__(self, temperatures: torch.Tensor) -> None:
        self.temperatures = temperatures[:, None]

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return scores / self.temperatures


class _LogProbs(LogitsProcessor):
    """Record the log-probability the model gave each token that was picked.

    It sees a step's pick at the next call, so it keeps only the latest distribution (one
    rows-by-vocabulary tensor), never the whole history.
    """

    def __init__(self) -> None:
        self.last: torch.Tensor | None = None
        self.picked: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        self.take(input_ids[:, -1])
        self.last = torch.log_softmax(scores.float(), dim=-1)
        return scores

    def take(self, tokens: torch.Tensor) -> None:
        """Record the log-probabilities of the tokens just picked."""
        if self.last is not None:
            self.picked.append(self.last.gather(1, tokens[:, None])[:, 0])
            self.last = None


def pick_device() -> torch.device:
    """Use CUDA when present; on CPU, use every core for one model."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    return torch.device("cpu")


def serving_dtype(device: torch.device) -> torch.dtype:
    """Return bf16 (or fp16 on older cards) on CUDA, fp32 on CPU, where half precision is slow."""
    if device.type != "cuda":
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


class TransformersBackend(Backend):
    def __init__(self, model: Any, tokenizer: Any, info: ModelInfo, device: torch.device) -> None:
        self.model = model
        self.tokenizer = tokenizer  # a transformers tokenizer; `.backend_tokenizer` encodes
        self.codec = tokenizer.backend_tokenizer
        self.info = info
        self.device = device

    @classmethod
    def load(cls, source: str | Path, model_id: str,
             device: torch.device | None = None) -> TransformersBackend:
        """Load a run folder, a local save_pretrained folder, or a hub id like 'gpt2'."""
        device = device or pick_device()
        with _LOADING:
            tokenizer = AutoTokenizer.from_pretrained(source)
            model = AutoModelForCausalLM.from_pretrained(source, dtype=serving_dtype(device))
            model = model.to(device).eval()
        try:
            generation = GenerationConfig.from_pretrained(source)
        except OSError:
            generation = model.generation_config
        end_ids = generation.eos_token_id
        end_ids = [end_ids] if isinstance(end_ids, int) else list(end_ids or [])
        spec = spec_of(tokenizer, end_ids)
        folder = Path(source) if Path(source).is_dir() else None
        info = ModelInfo(model_id=model_id, spec=spec, context=context_of(model.config.to_dict()),
                         defaults=Sampling.from_folder(folder), backend="transformers")
        return cls(model, tokenizer, info, device)

    def check(self, request: GenRequest) -> None:
        """Refuse a blank prompt, or one that leaves no room in the model's context."""
        refuse_blank(request)
        refuse_reference(request)
        prompt_ids(self.codec, self.info, request)

    def generate(self, batch: list[GenRequest]) -> list[list[Completion]]:
        """Return k completions per request; CUDA out-of-memory becomes OutOfMemory."""
        try:
            return in_groups(batch, lambda r: (bool(r.score), r.greedy, r.stop), self._generate)
        except torch.cuda.OutOfMemoryError as e:
            torch.cuda.empty_cache()
            raise OutOfMemory(f"out of memory for a batch of {len(batch)}") from e

    @torch.inference_mode()
    def _score(self, batch: list[GenRequest]) -> list[list[Completion]]:
        """Score each request's given continuations in one right-padded forward pass."""
        pairs = [pair for request in batch for pair in scoring_rows(self.codec, self.info, request)]
        rows = [prompt + ids for prompt, ids in pairs]
        width = max(map(len, rows))
        ids = torch.tensor([row + [0] * (width - len(row)) for row in rows], device=self.device)
        mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows],
                            device=self.device)
        logits = self.model(input_ids=ids, attention_mask=mask).logits.float()
        logprobs = torch.log_softmax(logits[:, :-1], dim=-1).gather(2, ids[:, 1:, None])[..., 0]
        texts = [text for request in batch for text in request.score]
        completions = []
        for row, (prompt, cont), text in zip(range(len(rows)), pairs, texts, strict=True):
            start = len(prompt) - 1  # the logprob of token t sits at position t - 1
            completions.append(scored_completion(
                logprobs[row, start:start + len(cont)].tolist(), text))
        return regroup(batch, completions)

    @torch.inference_mode()
    def _generate(self, batch: list[GenRequest]) -> list[list[Completion]]:
        if batch[0].score:  # in_groups: scoring requests come alone
            return self._score(batch)
        defaults = self.info.defaults
        rows = [request for request in batch for _ in range(request.k)]
        prompts = [prompt_ids(self.codec, self.info, r) for r in rows]
        width = max(map(len, prompts))
        pad = self.tokenizer.pad_token_id
        pad = self.info.spec.eos_id if pad is None else pad  # type: ignore[union-attr]
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=self.device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts],
                            device=self.device)
        limits = [r.max_new_tokens or defaults.max_new_tokens for r in rows]
        greedy = rows[0].greedy or not defaults.do_sample  # in_groups: one kind per call
        logprobs = _LogProbs()
        steps: list[LogitsProcessor] = []
        if defaults.repetition_penalty != 1.0:
            steps.append(RepetitionPenaltyLogitsProcessor(defaults.repetition_penalty))
        steps.append(logprobs)  # after the penalty, before temperature: what CTranslate2 scores
        if not greedy:
            temps = [r.temperature or defaults.temperature for r in rows]
            steps.append(_RowTemperature(torch.tensor(temps, device=self.device)))
            if defaults.top_k:
                steps.append(TopKLogitsWarper(defaults.top_k))
            if defaults.top_p < 1.0:
                steps.append(TopPLogitsWarper(defaults.top_p))
        # Everything that shapes the distribution is in `steps`; the config only says how long.
        # Its sampling fields are set to change nothing, not left unset: generate() fills unset
        # ones from the model's generation_config.json and applied its temperature, top-k, top-p
        # and penalty a second time (a row asking 1.5 sampled at 1.5 x the model's 0.9). Greedy
        # keeps transformers' own top-k default, which it uses not and warns not about.
        config = GenerationConfig(
            temperature=1.0, top_k=50 if greedy else 0, top_p=1.0, repetition_penalty=1.0,
            do_sample=not greedy, max_new_tokens=max(limits),
            min_new_tokens=max(r.min_new_tokens for r in rows) or None,
            eos_token_id=list(self.info.spec.end_ids), pad_token_id=pad,  # type: ignore[union-attr]
            stop_strings=list(rows[0].stop) or None)  # a row stops early at its stop string
        output = self.model.generate(input_ids=ids, attention_mask=mask, generation_config=config,
                                     logits_processor=LogitsProcessorList(steps),
                                     tokenizer=self.tokenizer)
        new = output[:, width:]
        logprobs.take(new[:, -1])
        scores = torch.stack(logprobs.picked, dim=1).tolist() if logprobs.picked else []
        completions = [finish_completion(self.codec, self.info, new[i, :limits[i]].tolist(),
                                         scores[i][:limits[i]] if scores else [], rows[i].stop)
                       for i in range(len(rows))]
        return regroup(batch, completions)

