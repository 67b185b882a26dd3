"""Progress for people (stage lines, one bar, on stderr) or for programs (JSON lines on stdout).

`--progress json` makes every stage print lines like
`{"stage": "train", "step": 40, "total": 120, "loss": 2.31, "eta": 95}` that the bot's /retrain
reads to show progress; stage starts as `{"stage": "evaluate", "event": "start"}`. Nothing else
goes to stdout then.

For people, stepped work (training) is one bar in a terminal: step/total, loss, validation loss
and time left. Piped into a file it is one line per evaluation instead, since a bar redrawn
into a log is noise.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, TextIO

from tqdm import tqdm


class Progress:
    def __init__(self, json_lines: bool = False, stream: TextIO | None = None,
                 terminal: bool | None = None, enabled: bool = True) -> None:
        self.json_lines = json_lines
        self.enabled = enabled  # False for the other processes of a multi-process run
        if not enabled:
            stream = open(os.devnull, "w")  # noqa: SIM115 -- lives as long as the process
        self.stream = stream or (sys.stdout if json_lines else sys.stderr)
        self.terminal = self.stream.isatty() if terminal is None else terminal
        self._stage_started = time.monotonic()
        self._bar: tqdm | None = None
        self._losses: dict[str, float] = {}  # the latest of each, shown beside the bar

    @property
    def bars(self) -> bool:
        """Say whether progress bars should be shown."""
        return not self.json_lines and self.enabled

    def say(self, text: str) -> None:
        """Print a line for people: stdout normally, stderr when stdout carries JSON."""
        if self.enabled:
            print(text, file=sys.stderr if self.json_lines else sys.stdout, flush=True)

    def stage(self, name: str, **fields: Any) -> None:
        """Announce the start of a stage."""
        self.close()
        self._losses = {}
        self._stage_started = time.monotonic()
        if self.json_lines:
            self.emit(name, event="start", **fields)
        else:
            print(f"== {name}", file=self.stream, flush=True)

    def emit(self, stage: str, step: int | None = None, total: int | None = None,
             **fields: Any) -> None:
        """Report progress within a stage: a JSON line, or the bar (or a line) for people."""
        record: dict[str, Any] = {"stage": stage}
        if step is not None:
            record["step"] = step
        if total is not None:
            record["total"] = total
            if step:
                elapsed = time.monotonic() - self._stage_started
                record["eta"] = round(elapsed / step * max(total - step, 0), 1)
        record.update({k: v for k, v in fields.items() if v is not None})
        if self.json_lines:
            print(json.dumps(record), file=self.stream, flush=True)
        elif step is not None and total is not None:
            self._show(record)

    def tick(self, step: int, total: int) -> None:
        """Move the bar to `step` (people in a terminal only; called every step)."""
        if self.terminal and not self.json_lines:
            bar = self._open_bar(total)
            bar.update(step - bar.n)

    def close(self) -> None:
        """Finish the bar, if one is showing."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _open_bar(self, total: int) -> tqdm:
        if self._bar is None:
            self._bar = tqdm(total=total, file=self.stream, desc="train", dynamic_ncols=True,
                             bar_format="{desc} {percentage:3.0f}%|{bar}| {n}/{total} steps "
                                        "[{elapsed}<{remaining}]{postfix}")
        return self._bar

    def _show(self, record: dict[str, Any]) -> None:
        for key, name in (("loss", "loss"), ("eval_loss", "eval loss")):
            if record.get(key) is not None:
                self._losses[name] = record[key]
        shown = ", ".join(f"{name} {value:.3f}" for name, value in self._losses.items())
        if self.terminal:
            bar = self._open_bar(record["total"])
            bar.update(record["step"] - bar.n)
            bar.set_postfix_str(shown)
        elif record.get("eval_loss") is not None:  # piped: one line per evaluation
            eta = record.get("eta")
            left = f", about {eta:.0f} s left" if eta is not None else ""
            print(f"{record['stage']} step {record['step']}/{record['total']}: {shown}{left}",
                  file=self.stream, flush=True)
