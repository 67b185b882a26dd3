"""Progress for people (stage lines and bars on stderr) or for programs (JSON lines on stdout).

`--progress json` makes every stage print lines like
`{"stage": "train", "step": 40, "total": 120, "loss": 2.31, "eta": 95}` that the bot's /retrain
reads to show progress; the bars are turned off so stdout carries nothing else.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO


class Progress:
    def __init__(self, json_lines: bool = False, stream: TextIO | None = None) -> None:
        self.json_lines = json_lines
        self.stream = stream or (sys.stdout if json_lines else sys.stderr)
        self._stage_started = time.monotonic()

    @property
    def bars(self) -> bool:
        """Say whether progress bars should be shown."""
        return not self.json_lines

    def say(self, text: str) -> None:
        """Print a line for people: stdout normally, stderr when stdout carries JSON."""
        print(text, file=sys.stderr if self.json_lines else sys.stdout, flush=True)

    def stage(self, name: str, **fields: Any) -> None:
        """Announce the start of a stage."""
        self._stage_started = time.monotonic()
        if self.json_lines:
            self.emit(name, event="start", **fields)
        else:
            print(f"== {name}", file=self.stream, flush=True)

    def emit(self, stage: str, step: int | None = None, total: int | None = None,
             **fields: Any) -> None:
        """Report progress within a stage (JSON lines only; bars cover people)."""
        if not self.json_lines:
            return
        record: dict[str, Any] = {"stage": stage}
        if step is not None:
            record["step"] = step
        if total is not None:
            record["total"] = total
            if step:
                elapsed = time.monotonic() - self._stage_started
                record["eta"] = round(elapsed / step * max(total - step, 0), 1)
        record.update({k: v for k, v in fields.items() if v is not None})
        print(json.dumps(record), file=self.stream, flush=True)
