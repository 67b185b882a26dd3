"""The OpenAI-compatible backend: generation on remote inference servers (vLLM, TGI, llama.cpp).

No weights are loaded here. Each request becomes one `POST /v1/completions` (with `n` = k samples)
carrying the same prompt text the local backends feed their models; the writing rules (cleaning,
novelty guard) still run locally on what comes back. The official `openai` client does the HTTP:
timeouts, and retries with backoff on 429/5xx/connection errors, honouring `Retry-After`.

What a real vLLM does that the API's description leaves open: it refuses a prompt that leaves no
room for the new tokens in its context (HTTP 400), so a request that may be shortened (`fit`)
loses its oldest lines here first, counted with the run's tokenizer against the context the
server lists (`max_model_len`) or the run's config states; and it refuses `n > 1` with greedy
decoding, so a greedy request asks for one completion and repeats it (greedy samples are equal).

Several servers (`INFERENCE_URL=a,b`) share the load in turn; one that fails is skipped until a
probe (`GET /v1/models`, every few seconds on a background thread) finds it answering again. With
no server up, `unavailable()` says why, so the worker refuses requests at once instead of queueing
work that nobody can do.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from model.errors import BadRequest, Offline
from model.serving.protocol import (
    Backend,
    Completion,
    GenRequest,
    ModelInfo,
    Sampling,
    context_of,
    prompt_ids,
    refuse_blank,
    refuse_reference,
    scored_completion,
)
from model.serving.tokens import TokenSpec, load_folder_tokenizer

log = logging.getLogger(__name__)
PROBE_EVERY = 2.0  # seconds between health probes: a GET per server, cheap; notices outages fast
MAX_STOPS = 4  # the OpenAI API takes at most four stop sequences


@dataclass
class Server:
    url: str
    client: Any  # openai.OpenAI for this base URL
    up: bool = False
    error: str | None = "not checked yet"
    models: tuple[str, ...] = ()
    contexts: dict[str, int] = field(default_factory=dict)  # model: max_model_len, where listed


def _reason(error: BaseException) -> str:
    status = getattr(error, "status_code", None)
    return f"HTTP {status}" if status else type(error).__name__


class OpenAIBackend(Backend):
    remote = True

    def __init__(self, servers: list[Server], model: str | None, spec: TokenSpec | None,
                 defaults: Sampling, model_id: str | None = None,
                 probe_every: float = PROBE_EVERY, codec: Any = None,
                 context: int | None = None) -> None:
        self.servers = servers
        self.model = model  # INFERENCE_MODEL; None: the first one a server lists
        self.spec = spec
        self.codec = codec  # the run's `tokenizers.Tokenizer`: counts a prompt's tokens
        self.context = context  # the run's context, for a server that lists none
        self.defaults = defaults
        self.model_id = model_id
        self._turn = itertools.count()
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="inference")
        self._stop = threading.Event()
        self._probe_every = probe_every
        self.probe()
        self._prober = threading.Thread(target=self._probe_forever, daemon=True,
                                        name="inference-probe")
        self._prober.start()

    @classmethod
    def load(cls, urls: list[str], api_key: str | None, model: str | None,
             folder: Path | None, timeout: float = 120.0, retries: int = 3,
             probe_every: float = PROBE_EVERY, model_id: str | None = None) -> OpenAIBackend:
        """Point at the servers; read the tokenizer facts and sampling defaults from `folder`
        (the published run the servers serve), when there is one. `model_id` names what is
        served in logs and /status (the run id); None: the servers' model name."""
        from openai import OpenAI

        if not urls:
            raise BadRequest("INFERENCE_URL names no server")
        servers = [Server(url, OpenAI(base_url=url, api_key=api_key or "none", timeout=timeout,
                                      max_retries=retries)) for url in urls]
        has_tokenizer = folder is not None and (folder / "tokenizer.json").is_file()
        codec, spec = load_folder_tokenizer(folder) if has_tokenizer else (None, None)
        config = folder / "config.json" if folder else None
        context = context_of(json.loads(config.read_text("utf-8"))) \
            if config and config.is_file() else None
        return cls(servers, model, spec, Sampling.from_folder(folder), model_id=model_id,
                   probe_every=probe_every, codec=codec, context=context)

    @property
    def info(self) -> ModelInfo:
        """Return the model facts; the id is the served model's name once a server told it."""
        name = self.model_id or self.model or next(
            (s.models[0] for s in self.servers if s.models), "remote")
        return ModelInfo(model_id=name, spec=self.spec, context=1 << 30, defaults=self.defaults,
                         backend="openai")

    def unavailable(self) -> str | None:
        """Say why no request can be served now, or None when a server is up."""
        if self._serving():
            return None
        return "the songwriter is offline (no inference server answers); try again in a minute"

    def status(self) -> list[dict[str, Any]]:
        """Return each server's address and health, for /status."""
        return [{"url": s.url, "up": s.up, "error": s.error} for s in self.servers]

    def probe(self) -> None:
        """Ask every server for its models; mark it up or down."""
        for server in self.servers:
            try:
                listed = server.client.with_options(max_retries=0, timeout=3.0).models.list()
                server.models = tuple(m.id for m in listed.data)
                server.contexts = {m.id: m.max_model_len for m in listed.data
                                   if isinstance(getattr(m, "max_model_len", None), int)}
                server.up, server.error = True, None
            except Exception as e:  # any failure to answer means: skip this server for now
                if server.up:
                    log.warning("inference server %s is down: %s", server.url, _reason(e))
                server.up, server.error = False, _reason(e)

    def _probe_forever(self) -> None:
        while not self._stop.wait(self._probe_every):
            self.probe()

    def close(self) -> None:
        """Stop probing and release the connection pool."""
        self._stop.set()
        self._pool.shutdown(wait=False)

    def check(self, request: GenRequest) -> None:
        """Refuse a blank prompt; leave the length to the server, which knows its own context
        and says so (HTTP 400)."""
        refuse_blank(request)
        refuse_reference(request)

    def generate(self, batch: list[GenRequest]) -> list[list[Completion]]:
        """Send each request to the next server that is up, all at once; wait for them all."""
        return list(self._pool.map(self._complete, batch))

    def _complete(self, request: GenRequest) -> list[Completion]:
        from openai import APIConnectionError, APIStatusError, BadRequestError

        last: BaseException | None = None
        for _ in range(len(self.servers)):
            server = self._next_server()
            if server is None:
                break
            try:
                return self._ask(server, request)
            except BadRequestError as e:  # the request itself: another server would say the same
                raise BadRequest(f"the inference server refused this request: {e.message}") from e
            except (APIConnectionError, APIStatusError) as e:  # down, or failing: skip it
                log.warning("inference server %s failed: %s", server.url, _reason(e))
                server.up, server.error, last = False, _reason(e), e
        raise Offline(self.unavailable() or "every inference server failed") from last

    def _serving(self) -> list[Server]:
        """Return the servers up that serve our model. One that lists its models but not ours
        serves another artist (a merged model per artist, one server each): it gets nothing."""
        return [s for s in self.servers if s.up and
                (self.model is None or not s.models or self.model in s.models)]

    def _next_server(self) -> Server | None:
        up = self._serving()
        return up[next(self._turn) % len(up)] if up else None

    def _ask(self, server: Server, request: GenRequest) -> list[Completion]:
        defaults = self.defaults
        model = self.model or (server.models[0] if server.models else None)
        if model is None:
            raise Offline(f"{server.url} lists no model; set INFERENCE_MODEL")
        if request.score:
            return self._score(server, model, request)
        stops = [*request.stop, *(self.spec.end_texts if self.spec else ())][:MAX_STOPS]
        extra: dict[str, Any] = {}  # vLLM's own sampling fields; other servers ignore them
        if defaults.repetition_penalty != 1.0:
            extra["repetition_penalty"] = defaults.repetition_penalty
        if defaults.top_k and not request.greedy:
            extra["top_k"] = defaults.top_k
        if request.min_new_tokens:
            extra["min_tokens"] = request.min_new_tokens
        response = server.client.completions.create(
            model=model, prompt=self._fitted(request, server.contexts.get(model, self.context)),
            n=1 if request.greedy else request.k,
            max_tokens=request.max_new_tokens or defaults.max_new_tokens,
            temperature=0.0 if request.greedy else request.temperature or defaults.temperature,
            top_p=1.0 if request.greedy else defaults.top_p, stop=stops or None, logprobs=1,
            extra_body=extra or None)
        completions = [self._completion(choice, request) for choice in
                       sorted(response.choices, key=lambda c: c.index)]
        return completions * request.k if request.greedy else completions

    def _fitted(self, request: GenRequest, context: int | None) -> str:
        """Return the prompt to send: for a `fit` request too long for the context, its last
        tokens from a line's start (as the local backends keep its last tokens), so that the
        server, counting with the same tokenizer, finds room for the new tokens."""
        if not request.fit or context is None or self.codec is None or self.spec is None:
            return request.prompt
        whole = len(self.codec.encode(request.prompt, add_special_tokens=False).ids)
        ids = prompt_ids(self.codec, replace(self.info, context=context), request)
        kept = ids[len(self.spec.prefix_ids):]
        if len(kept) == whole:
            return request.prompt
        text = self.codec.decode(kept, skip_special_tokens=False)
        return text[text.find("\n") + 1:]  # a partial first line would tokenize differently

    def _score(self, server: Server, model: str, request: GenRequest) -> list[Completion]:
        """Score continuations the way vLLM offers it: echo the prompt with its logprobs.

        One prompt per continuation, in one call; a token belongs to the continuation when it
        starts at or past the end of the prompt (the one token generated past it is dropped).
        """
        response = server.client.completions.create(
            model=model, prompt=[request.prompt + text for text in request.score], max_tokens=1,
            echo=True, logprobs=0, temperature=0.0)
        choices = sorted(response.choices, key=lambda c: c.index)
        out = []
        for text, choice in zip(request.score, choices, strict=True):
            logprobs = choice.logprobs
            offsets = getattr(logprobs, "text_offset", None) or []
            values = getattr(logprobs, "token_logprobs", None) or []
            end = len(request.prompt) + len(text)
            kept = [v for at, v in zip(offsets, values, strict=False)
                    if len(request.prompt) <= at < end and v is not None]
            out.append(scored_completion(kept, text))
        return out

    def _completion(self, choice: Any, request: GenRequest) -> Completion:
        text = self.spec.strip(choice.text) if self.spec else choice.text
        scores = [lp for lp in (getattr(choice.logprobs, "token_logprobs", None) or [])
                  if lp is not None]
        stopped_by = getattr(choice, "stop_reason", None)
        finish = {"length": "length"}.get(choice.finish_reason, "end")
        if request.stop and stopped_by in request.stop:
            finish = "stop"
        cuts = [text.find(s) for s in request.stop if s and s in text]
        if cuts:  # a server that returns the stop string itself
            text, finish = text[:min(cuts)], "stop"
        return Completion(text=text, mean_logprob=sum(scores) / len(scores) if scores else None,
                          tokens=len(scores), finish=finish)
