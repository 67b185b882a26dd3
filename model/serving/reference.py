"""A tuned model served together with its reference: the model it was tuned from.

Contrastive ranking (model/writing/ranking.py, `reference`) asks how much more the tuned model
likes a line than the model before tuning does. A request with `reference` set is scored by the
reference; every other request goes to the tuned model, so the worker, the scheduler and the
writing rules see one backend. Any two backends pair: two CTranslate2 conversions, two
transformers models, or two model names on the same inference servers (a LoRA adapter and the
base model it adapts).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from model.errors import BadRequest
from model.serving.protocol import Backend, Completion, GenRequest, in_groups


class WithReference(Backend):
    def __init__(self, tuned: Backend, reference: Backend) -> None:
        self.tuned = tuned
        self.reference = reference
        self.info = tuned.info
        self.remote = tuned.remote  # where the tuned weights live says where this one serves

    def check(self, request: GenRequest) -> None:
        """Check a request with the model that serves it; a reference request only scores."""
        if not request.reference:
            self.tuned.check(request)
            return
        if not request.score:
            raise BadRequest("the reference model only scores given lines")
        self.reference.check(replace(request, reference=False))

    def generate(self, batch: list[GenRequest]) -> list[list[Completion]]:
        """Send reference requests to the reference, the rest to the tuned model."""
        return in_groups(batch, lambda r: r.reference, self._generate)

    def _generate(self, batch: list[GenRequest]) -> list[list[Completion]]:
        if batch[0].reference:  # in_groups: reference requests come alone
            return self.reference.generate([replace(r, reference=False) for r in batch])
        return self.tuned.generate(batch)

    def unavailable(self) -> str | None:
        """Say why the tuned model cannot serve (the reference only ranks: it may be missing)."""
        return self.tuned.unavailable()

    def status(self) -> list[dict[str, Any]] | None:
        """Return the health of what serves the tuned model."""
        return self.tuned.status()

    def close(self) -> None:
        """Release what both models hold."""
        self.tuned.close()
        self.reference.close()
