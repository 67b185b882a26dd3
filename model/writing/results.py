"""What a request's worker steps add up to: its Result, and the running Tally behind it."""

from __future__ import annotations

from dataclasses import dataclass, field

from model.serving.protocol import Served
from model.serving.worker import Generated
from model.writing.ranking import RankStep


@dataclass(frozen=True)
class Result:
    text: str
    copied_words: int  # longest run of words copied from a training song (after the guard)
    model_id: str
    queue_ms: float  # from submit to the start of its first batch
    generate_ms: float  # generation time of its batches, retries and sections included
    batch_size: int  # rows in its last batch
    attempts: int  # worker requests it took (retries and lines)
    steps: tuple[RankStep, ...] = ()  # every ranking that chose it: options, features, kept
    filtered: int = 0  # candidate lines the request's filter refused
    redrawn: int = 0  # line steps drawn again because the filter had refused a candidate


@dataclass
class Tally:
    """What a request's worker steps add up to."""

    served: Served | None = None  # the model of the latest step
    queue_ms: float | None = None
    generate_ms: float = 0.0
    batch_size: int = 0
    attempts: int = 0
    steps: list[RankStep] = field(default_factory=list)
    copies: list[int] = field(default_factory=lambda: [0])
    filtered: int = 0
    redrawn: int = 0

    def add(self, generated: Generated) -> None:
        self.served = generated.served
        self.queue_ms = generated.queue_ms if self.queue_ms is None else self.queue_ms
        self.generate_ms += generated.generate_ms
        self.batch_size = generated.batch_size
        self.attempts += 1

    def result(self, text: str, copied: int, steps: tuple[RankStep, ...] | None = None) -> Result:
        assert self.served is not None
        return Result(text, copied, self.served.info.model_id, self.queue_ms or 0.0,
                      round(self.generate_ms, 1), self.batch_size, self.attempts,
                      tuple(self.steps) if steps is None else steps, self.filtered,
                      self.redrawn)
