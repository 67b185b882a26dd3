"""A fake OpenAI-compatible inference server on 127.0.0.1 (aiohttp, on its own thread).

It answers `GET /v1/models` and `POST /v1/completions` the way vLLM does (choices with `index`,
`finish_reason`, `logprobs.token_logprobs`; the model's `max_model_len` when given a context;
HTTP 400 for `n > 1` with temperature 0, as vLLM 0.32 answers), records every request, and
injects faults: an HTTP status with an optional Retry-After, a response slower than the client's
timeout, or a server that is stopped (connections refused) and started again on the same port.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Fault:
    status: int = 0  # answer with this HTTP status instead (0: no status fault)
    retry_after: str | None = None  # with a Retry-After header
    delay: float = 0.0  # wait this long before answering


@dataclass
class Seen:
    method: str
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)


class FakeInference:
    def __init__(self, model: str = "swiftai", api_key: str | None = None,
                 context: int | None = None, also: tuple[str, ...] = ()) -> None:
        self.model = model
        self.also = also  # other model names served beside it (a LoRA adapter's base model)
        self.context = context  # listed as the model's max_model_len, as vLLM lists it
        self.api_key = api_key
        self.faults: list[Fault] = []  # taken one per completion request, in order
        # Candidate i of the r-th request for one line (stop at the newline) says this.
        self.line: Callable[[int, int], str] = lambda i, song: f"line {i} of song {song}"
        self.requests: list[Seen] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        threading.Thread(target=self._loop.run_forever, daemon=True, name="fake-openai").start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def completions(self) -> list[Seen]:
        """Return the completion requests received, in order."""
        return [r for r in self.requests if r.path.endswith("/completions")]

    def start(self) -> FakeInference:
        """Listen (on the same port as before after a stop)."""
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        """Stop listening: connections are refused until `start` again."""
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/completions", self._complete)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _authorized(self, request: web.Request) -> bool:
        return self.api_key is None or \
            request.headers.get("Authorization") == f"Bearer {self.api_key}"

    async def _models(self, request: web.Request) -> web.Response:
        self.requests.append(Seen("GET", request.path, {}, dict(request.headers)))
        if not self._authorized(request):
            return web.json_response({"error": {"message": "bad key"}}, status=401)
        cards = [{"id": name, "object": "model"} for name in (self.model, *self.also)]
        if self.context:
            for card in cards:
                card["max_model_len"] = self.context
        return web.json_response({"object": "list", "data": cards})

    async def _complete(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(Seen("POST", request.path, body, dict(request.headers)))
        fault = self.faults.pop(0) if self.faults else Fault()
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.status:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
            return web.json_response({"error": {"message": f"fault {fault.status}"}},
                                     status=fault.status, headers=headers)
        if body.get("model") not in (self.model, *self.also):
            return web.json_response({"error": {"message": "unknown model"}}, status=404)
        if (body.get("n") or 1) > 1 and body.get("temperature") == 0:
            return web.json_response({"error": {"message": "n must be 1 when using greedy "
                                                f"sampling, got {body['n']}."}}, status=400)
        if body.get("echo"):
            return web.json_response({"id": "cmpl-1", "object": "text_completion",
                                      "model": body["model"], "choices": _echoed(body["prompt"])})
        song = len(self.completions())  # each request gets lines of its own
        text = "\nline {i} of song {song}\nand a second line {i}"
        one_line = "\n" in (body.get("stop") or [])  # vLLM cuts before the stop
        choices = [{"index": i, "text": self.line(i, song) if one_line
                    else text.format(i=i, song=song),
                    "finish_reason": "stop", "stop_reason": None,
                    "logprobs": {"tokens": ["a", "b"], "token_logprobs": [-1.0, -2.0 - i]}}
                   for i in range(body.get("n") or 1)]
        return web.json_response({"id": "cmpl-1", "object": "text_completion",
                                  "model": body["model"], "choices": choices})

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)


def word_logprob(word: str) -> float:
    """The fake's log-probability of a word token: longer words are less likely."""
    return -0.5 * len(word.strip())


def _echoed(prompts: str | list[str]) -> list[dict[str, Any]]:
    """Answer `echo` requests as vLLM does: each prompt back with a logprob per token (one
    token per word here, the first with none) and the text offset of each token."""
    import re

    choices = []
    for index, prompt in enumerate([prompts] if isinstance(prompts, str) else prompts):
        tokens = [m for m in re.finditer(r"\s*\S+", prompt)]
        choices.append({"index": index, "text": prompt + " x", "finish_reason": "length",
                        "logprobs": {"tokens": [m.group(0) for m in tokens] + [" x"],
                                     "text_offset": [m.start() for m in tokens] + [len(prompt)],
                                     "token_logprobs": [None] + [word_logprob(m.group(0))
                                                                 for m in tokens[1:]] + [-1.0]}})
    return choices
