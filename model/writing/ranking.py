"""How candidates are ranked: a few named features, one weight each, a weighted sum.

Per candidate line (verses and songs are written line by line):
- `likelihood`: mean token log-probability under the model, as the backend reports it;
- `width`: |words - the artist's mean words per line| / that mean (a distance: weighted down);
- `rhyme`: 1.0 strict rhyme with the partner line's end word, 0.5 near, 0.0 none (and 0.0 for a
  line the scheme does not ask to rhyme);
- `drift`: 1.0 for a line longer than 1.5 x the artist's p90 words per line (prose), else 0.0;
- `copied`: the longest run of words copied from a training song / COPY_WORDS;
- `reference`: the mean token log-probability of the line under the reference model (the model
  the served one was tuned from), after the song's last lines; 0.0 when it is not scored.
  Weighted below zero, it ranks a line by how much more the tuned model likes it than the
  untuned one does (contrastive decoding, DExperts): what the tuning taught, not what any web
  text says. It is scored only when its weight is not zero and a reference is served
  (model/serving/reference.py);
- `prose`: the share of the line's words that are prose words (style.PROSE_WORDS: "the", "of",
  "their"...) less the artist's own share of them; 0.0 when the artist's is unknown.

The default weights are the hand-set ones the composer has always ranked by. A run's
`ranking.json` (fitted from listeners' votes) replaces them for that run.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.lyrics.style import Style, prose_share
from model.writing.novelty import COPY_WORDS, words_of

log = logging.getLogger(__name__)

FEATURES = ("likelihood", "width", "rhyme", "drift", "copied", "reference", "prose")
ADDED = ("reference", "prose")  # features newer than votes already recorded: a missing one counts 0
DRIFT_FACTOR = 1.5  # "far past": longer than 1.5 x the artist's p90 words per line
WEIGHTS_FILE = "ranking.json"


@dataclass(frozen=True)
class Weights:
    # A mean token log-probability is around -2 to -4; these make a style difference of one
    # standard "step" worth about half a nat.
    likelihood: float = 1.0
    width: float = -1.5  # per unit of relative distance from the artist's words per line
    rhyme: float = 1.0  # a strict rhyme with the partner line (or a share of rhyming lines)
    drift: float = -3.0  # per share of lines drifting into prose
    copied: float = 0.0  # copies are refused by the novelty guard, not traded off
    bias: float = 0.0
    # After bias, which weights saved in order before them end with.
    reference: float = 0.0  # minus alpha of contrastive ranking; 0: no reference is scored
    prose: float = 0.0  # per unit share of prose words past the artist's


DEFAULT = Weights()


@dataclass(frozen=True)
class Option:
    text: str
    features: Mapping[str, float]


@dataclass(frozen=True)
class RankStep:
    section: str | None  # the section label ("Verse" for a verse); None in older feedback
    line: int | None  # the line's index in its section, the user's own lines counted
    options: tuple[Option, ...]
    kept: int  # index of the option chosen (-1: none was usable)


def score(features: Mapping[str, float], weights: Weights = DEFAULT) -> float:
    """Return bias + the weighted sum of the features (a missing one counts 0)."""
    return weights.bias + sum(getattr(weights, name) * features.get(name, 0.0)
                              for name in FEATURES)


def width(words: float, artist: Style) -> float:
    """Return the relative distance of a line width from the artist's mean."""
    return abs(words - artist.words_per_line) / max(artist.words_per_line, 1.0)


def is_drift(words: int, artist: Style) -> bool:
    """Say whether a line is far longer than the artist's long lines."""
    return words > DRIFT_FACTOR * artist.words_per_line_p90


def prose(line: str, artist: Style) -> float:
    """Return how far a line's share of prose words passes the artist's (0 when unknown)."""
    return 0.0 if artist.prose_rate is None else prose_share(line) - artist.prose_rate


def line_features(line: str, mean_logprob: float | None, artist: Style, rhyme: float,
                  copied_words: int) -> dict[str, float]:
    """Return the features of one candidate line."""
    words = len(words_of(line))
    return {"likelihood": mean_logprob or 0.0, "width": width(words, artist), "rhyme": rhyme,
            "drift": float(is_drift(words, artist)), "copied": copied_words / COPY_WORDS,
            "reference": 0.0, "prose": prose(line, artist)}


def read_ranking(run_folder: Path) -> dict[str, Any]:
    """Return a run's `ranking.json`, checked: a finite number for each feature's weight and
    for the bias; raise OSError when it cannot be read, ValueError when it is bad."""
    data = json.loads((run_folder / WEIGHTS_FILE).read_text(encoding="utf-8"))
    given = data.get("weights") if isinstance(data, dict) else None
    if not isinstance(given, dict):
        raise ValueError("it has no weights")
    for name in ADDED:  # a ranking.json written before the feature was: it weighs nothing
        given.setdefault(name, 0.0)
    for name, value in [*((f, given.get(f)) for f in FEATURES), ("bias", data.get("bias", 0.0))]:
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"the {name} weight is not a finite number")
    return data


def load_weights(run_folder: Path | None) -> Weights:
    """Read `<run>/ranking.json`; the defaults when it is missing, or bad (with a warning)."""
    if run_folder is None or not (run_folder / WEIGHTS_FILE).is_file():
        return DEFAULT
    try:
        data = read_ranking(run_folder)
    except (OSError, ValueError) as e:
        log.warning("ignoring %s (%s): ranking with the default weights",
                    run_folder / WEIGHTS_FILE, e)
        return DEFAULT
    return Weights(**{f: float(data["weights"][f]) for f in FEATURES},
                   bias=float(data.get("bias", 0.0)))
