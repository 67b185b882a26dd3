"""Listeners' votes, as training reads them: the feedback file, checked row by row.

`$SWIFTAI_HOME/feedback/<artist-slug>.jsonl` holds one JSON object a line, one per voted song
that was shown (the bot's exporter writes it: `python -m bot feedback --artist A --out FILE`;
training never imports the bot nor opens its database):

    {"generation_id": 12, "artist": "Taylor Swift", "run_id": "20261201-2200-ab12" | null,
     "prompt": "<the user's first line>", "completion": "<the song text shown>",
     "form": "verse" | "song", "label": true | false, "up": 3, "down": 1,
     "features": {"likelihood": ..., "width": ..., "rhyme": ..., "drift": ..., "copied": ...},
     "steps": [{"section": "Verse 1", "line": 0, "kept": 2,
                "options": [{"text": "...", "features": {...}}, ...]}, ...]}

`label` is net votes > 0 (true) or < 0 (false); ties are never exported. `features` is the mean
over the song's kept lines; `steps` are the composer's ranking steps: every candidate it weighed
and which it kept. A row that breaks any of this is skipped and counted, never fatal.
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.registry.files import write_bytes_atomic
from model.writing.ranking import ADDED, FEATURES, Option, RankStep
from model.writing.request import FORMS
from swiftai.settings import Settings, slugify
from training.errors import TrainingError

HELD_OUT = 0.2  # share of each label kept out of preference tuning, for the publish gate
EXPORT_TIMEOUT = 300.0  # seconds the bot's exporter may take (a big database, a slow disk)


@dataclass(frozen=True)
class Vote:
    generation_id: int
    artist: str
    run_id: str | None
    prompt: str
    completion: str
    form: str
    label: bool  # True: more 👍 than 👎
    up: int
    down: int
    features: dict[str, float]
    steps: tuple[RankStep, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Return the row as the feedback file writes it."""
        return {"generation_id": self.generation_id, "artist": self.artist,
                "run_id": self.run_id, "prompt": self.prompt, "completion": self.completion,
                "form": self.form, "label": self.label, "up": self.up, "down": self.down,
                "features": self.features,
                "steps": [{"section": s.section, "line": s.line, "kept": s.kept,
                           "options": [{"text": o.text, "features": o.features}
                                       for o in s.options]} for s in self.steps]}


@dataclass(frozen=True)
class Votes:
    rows: list[Vote]
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line number, why)

    @property
    def liked(self) -> int:
        """Return how many songs were voted up on balance."""
        return sum(v.label for v in self.rows)

    @property
    def disliked(self) -> int:
        """Return how many songs were voted down on balance."""
        return len(self.rows) - self.liked

    def summary(self) -> str:
        """Say in a line what the file holds."""
        steps = sum(len(v.steps) for v in self.rows)
        options = sum(len(s.options) for v in self.rows for s in v.steps)
        bad = f"; {len(self.skipped)} bad rows skipped" if self.skipped else ""
        return (f"{len(self.rows)} voted songs: {self.liked} up (👍), {self.disliked} down (👎); "
                f"{steps} ranking steps with {options} candidates{bad}")


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what} is not a finite number: {value!r}")
    return float(value)


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} is not a count: {value!r}")
    return value


def _text(value: Any, what: str, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise ValueError(f"{what} is missing or not text")
    return value


def _features(value: Any, what: str) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} is not an object")
    missing = [f for f in FEATURES if f not in value and f not in ADDED]
    if missing:
        raise ValueError(f"{what} lacks {', '.join(missing)}")
    return {f: _number(value.get(f, 0.0), f"{what}.{f}") for f in FEATURES}


def _option(value: Any, what: str) -> Option:
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} is not an object")
    return Option(_text(value.get("text"), f"{what}.text", empty=True),
                  _features(value.get("features"), f"{what}.features"))


def _step(value: Any, number: int) -> RankStep:
    what = f"steps[{number}]"
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} is not an object")
    options = value.get("options")
    if not isinstance(options, list) or not options:
        raise ValueError(f"{what}.options is not a list of candidates")
    parsed = tuple(_option(o, f"{what}.options[{i}]") for i, o in enumerate(options))
    kept = _count(value.get("kept"), f"{what}.kept")
    if kept >= len(parsed):
        raise ValueError(f"{what}.kept is {kept} but there are {len(parsed)} candidates")
    section, line = value.get("section"), value.get("line")
    if section is not None:
        _text(section, f"{what}.section")
    if line is not None:
        _count(line, f"{what}.line")
    return RankStep(section, line, parsed, kept)


def parse_vote(data: Any) -> Vote:
    """Check one row of the feedback file; raise ValueError saying what is wrong with it."""
    if not isinstance(data, Mapping):
        raise ValueError("the row is not a JSON object")
    generation_id = _count(data.get("generation_id"), "generation_id")
    run_id = data.get("run_id")
    if run_id is not None:
        _text(run_id, "run_id")
    form = data.get("form")
    if form not in FORMS:
        raise ValueError(f"form is {form!r}, not one of {', '.join(FORMS)}")
    label = data.get("label")
    if not isinstance(label, bool):
        raise ValueError(f"label is {label!r}, not true or false")
    up, down = _count(data.get("up"), "up"), _count(data.get("down"), "down")
    if up == down:
        raise ValueError(f"a tie ({up} up, {down} down) has no label")
    if label != (up > down):
        raise ValueError(f"label is {str(label).lower()} but the votes are {up} up, {down} down")
    steps = data.get("steps") or []
    if not isinstance(steps, list):
        raise ValueError("steps is not a list")
    return Vote(generation_id=generation_id, artist=_text(data.get("artist"), "artist"),
                run_id=run_id, prompt=_text(data.get("prompt"), "prompt"),
                completion=_text(data.get("completion"), "completion"), form=form,
                label=label, up=up, down=down,
                features=_features(data.get("features"), "features"),
                steps=tuple(_step(s, i) for i, s in enumerate(steps)))


def read_votes(path: Path, artist: str | None = None) -> Votes:
    """Read a feedback file, skipping (and counting) rows that are broken, repeated, or of
    another artist than `artist`."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as e:
        raise TrainingError(f"no feedback file at {path}") from e
    except (OSError, UnicodeDecodeError) as e:
        raise TrainingError(f"cannot read the feedback file {path}: {e}") from e
    wanted = slugify(artist) if artist else None
    rows: list[Vote] = []
    skipped: list[tuple[int, str]] = []
    seen: set[int] = set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            vote = parse_vote(json.loads(line))
            if wanted and slugify(vote.artist) != wanted:
                raise ValueError(f"a song of {vote.artist!r}, not {artist!r}")
            if vote.generation_id in seen:
                raise ValueError(f"generation {vote.generation_id} is listed twice")
        except (ValueError, TrainingError) as e:  # JSONDecodeError is a ValueError
            skipped.append((number, str(e)))
            continue
        seen.add(vote.generation_id)
        rows.append(vote)
    return Votes(rows, skipped)


def write_votes(path: Path, votes: list[Vote]) -> None:
    """Write rows as a feedback file, atomically."""
    text = "".join(json.dumps(v.to_json(), ensure_ascii=False) + "\n" for v in votes)
    write_bytes_atomic(path, text.encode("utf-8"))


def votes_path(settings: Settings, artist: str) -> Path:
    """Return where an artist's votes are kept for training."""
    return settings.home / "feedback" / f"{slugify(artist)}.jsonl"


def export_votes(artist: str, out: Path, timeout: float = EXPORT_TIMEOUT) -> None:
    """Have the bot write an artist's votes to `out` (`python -m bot feedback`); one clear
    TrainingError when its exporter fails or does not exist."""
    command = [sys.executable, "-m", "bot", "feedback", "--artist", artist, "--out", str(out)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise TrainingError(f"the bot's vote exporter took over {timeout:.0f} s; "
                            "nothing was changed") from e
    if done.returncode == 0 and out.is_file():
        return
    last = next((line.strip() for line in reversed(done.stderr.splitlines()) if line.strip()),
                f"exit status {done.returncode}")
    if "invalid choice: 'feedback'" in done.stderr:
        last = "this version of the bot has no `feedback` command"
    raise TrainingError(f"could not export votes with `python -m bot feedback`: {last}; "
                        "pass --file PATH to read a feedback file instead")


def split_votes(votes: list[Vote], share: float = HELD_OUT) -> tuple[list[Vote], list[Vote]]:
    """Split votes into (to tune on, held out), keeping `share` of each label out (at least one
    of each label when it has two or more). The split depends on the generation ids alone, so a
    song stays on its side when more votes arrive."""
    def key(vote: Vote) -> str:
        return hashlib.sha256(str(vote.generation_id).encode()).hexdigest()

    tune: list[Vote] = []
    held: list[Vote] = []
    for label in (True, False):
        group = sorted((v for v in votes if v.label is label), key=key)
        count = max(1, round(share * len(group))) if len(group) >= 2 else 0
        held += group[:count]
        tune += group[count:]
    order = {v.generation_id: i for i, v in enumerate(votes)}
    return sorted(tune, key=lambda v: order[v.generation_id]), \
        sorted(held, key=lambda v: order[v.generation_id])
