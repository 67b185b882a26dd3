"""The composer's ranking weights, fitted from listeners' votes; stored in a run as ranking.json.

Each voted song carries the ranking features of its kept lines (training/feedback/votes.py). A
logistic regression (scikit-learn) on those features, standardised, predicts 👍 from them; its
coefficients, turned back into the features' own units, are the new weights. Ranking only
compares candidates, so the weights are then scaled so that their absolute sum equals the
defaults': the same ranking, and numbers that read beside the defaults. A feature that never
varied among the voted songs tells nothing and keeps its default weight.

Only the songs that were shown are fitted. The candidates that lost a ranking step are not
used as extra (kept, lost) pairs: the current ranking chose between them, not a listener, so
they would teach the ranker its own past choices. They serve to measure a fit instead
(benchmarks/feedback.py re-ranks held-out candidate sets).

`ranking.json` (its name, its one reader and the one `score` live in model/writing/ranking.py):
    {"weights": {"likelihood": ..., "width": ..., "rhyme": ..., "drift": ..., "copied": ...},
     "bias": 0.0, "votes": 312, "fitted_at": "2026-12-01T22:00:00Z", "source": "feedback",
     "pair_accuracy": 0.71, "default_pair_accuracy": 0.55}
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from model.registry.files import write_bytes_atomic, write_json_atomic
from model.writing import ranking
from model.writing.ranking import DEFAULT, FEATURES, WEIGHTS_FILE, Weights, score
from training.feedback.votes import Vote

# The composer's own defaults (model/writing/ranking.py): likelihood in nats, line width off the
# artist's (a distance), rhyme, drift into prose; copies are the novelty guard's business.
DEFAULT_WEIGHTS = {f: getattr(DEFAULT, f) for f in FEATURES}
REGULARISATION = 1.0  # scikit-learn's C: mild L2 on standardised features
FOLDS = 5  # cross-validation folds for the held-out figure


@dataclass(frozen=True)
class Fit:
    weights: dict[str, float]  # in the features' units, scaled like the defaults
    bias: float
    votes: int
    standardised: dict[str, float]  # per standard deviation of each feature: how much each counts
    pair_accuracy: float | None  # held out (cross-validated): share of (👍, 👎) pairs ordered right
    default_pair_accuracy: float  # the defaults on the same votes

    def ranking(self) -> Weights:
        """Return the fitted weights as the composer ranks by them."""
        return Weights(**self.weights, bias=self.bias)


class TooFewVotes(Exception):
    """There are not enough votes, or not both kinds, to fit weights from."""


def pair_accuracy(scores: list[float], labels: list[bool]) -> float:
    """Return the share of (👍, 👎) pairs whose 👍 song scores higher (ties count half)."""
    liked = [s for s, label in zip(scores, labels, strict=True) if label]
    disliked = [s for s, label in zip(scores, labels, strict=True) if not label]
    if not liked or not disliked:
        raise ValueError("pairs need both 👍 and 👎 songs")
    wins = sum((a > b) + 0.5 * (a == b) for a in liked for b in disliked)
    return wins / (len(liked) * len(disliked))


def _matrix(votes: list[Vote]) -> tuple[Any, Any]:
    import numpy as np

    return (np.array([[v.features[f] for f in FEATURES] for v in votes], dtype=float),
            np.array([v.label for v in votes], dtype=int))


def _pipeline() -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=REGULARISATION))


def _held_out(x: Any, y: Any, seed: int) -> float | None:
    """Cross-validated pair accuracy (ROC AUC: the same quantity) of the fit."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    folds = min(FOLDS, int(y.sum()), int(len(y) - y.sum()))
    if folds < 2:
        return None
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return float(cross_val_score(_pipeline(), x, y, cv=split, scoring="roc_auc").mean())


def fit(votes: list[Vote], min_votes: int, seed: int = 0) -> Fit:
    """Fit ranking weights from voted songs; raise TooFewVotes below `min_votes` or when the
    votes are all of one kind."""
    if len(votes) < min_votes:
        raise TooFewVotes(f"{len(votes)} of {min_votes} votes")
    liked = sum(v.label for v in votes)
    if liked in (0, len(votes)):
        raise TooFewVotes(f"all {len(votes)} votes are {'👍' if liked else '👎'}")
    x, y = _matrix(votes)
    model = _pipeline().fit(x, y)
    scaler, logistic = model[0], model[-1]
    varied = x.std(axis=0) > 1e-9
    coef = logistic.coef_[0]
    raw = {f: float(coef[i] / scaler.scale_[i]) if varied[i] else 0.0
           for i, f in enumerate(FEATURES)}
    bias = float(logistic.intercept_[0]
                 - sum(coef[i] * scaler.mean_[i] / scaler.scale_[i]
                       for i in range(len(FEATURES)) if varied[i]))
    fitted = [f for i, f in enumerate(FEATURES) if varied[i]]
    size = sum(abs(raw[f]) for f in fitted)
    target = sum(abs(DEFAULT_WEIGHTS[f]) for f in fitted)
    scale = target / size if size > 0 and target > 0 else 1.0
    weights = {f: raw[f] * scale if varied[i] else DEFAULT_WEIGHTS[f]
               for i, f in enumerate(FEATURES)}
    labels = [v.label for v in votes]
    return Fit(weights=weights, bias=bias * scale, votes=len(votes),
               standardised={f: float(coef[i]) if varied[i] else 0.0
                             for i, f in enumerate(FEATURES)},
               pair_accuracy=_held_out(x, y, seed),
               default_pair_accuracy=pair_accuracy(
                   [score(v.features, DEFAULT) for v in votes], labels))


def write_ranking(run_dir: Path, result: Fit) -> Path:
    """Store fitted weights in a run (atomically); return the file."""
    path = run_dir / WEIGHTS_FILE
    write_json_atomic(path, {
        "weights": {f: round(w, 6) for f, w in result.weights.items()},
        "bias": round(result.bias, 6),
        "votes": result.votes,
        "fitted_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": "feedback",
        "standardised": {f: round(w, 4) for f, w in result.standardised.items()},
        "pair_accuracy": result.pair_accuracy and round(result.pair_accuracy, 4),
        "default_pair_accuracy": round(result.default_pair_accuracy, 4),
    })
    return path


def read_ranking(run_dir: Path) -> dict[str, Any] | None:
    """Return a run's ranking.json, or None when it has none (or a bad one)."""
    try:
        return ranking.read_ranking(run_dir)
    except (OSError, ValueError):
        return None


REPORT_HEADING = "## Ranking from votes"


def report_lines(run_dir: Path, note: str | None = None) -> list[str]:
    """Return report.md's section on the run's ranking weights: fitted beside the defaults, or
    the defaults alone with `note` saying why."""
    data = read_ranking(run_dir)
    out = [REPORT_HEADING, ""]
    if data is None:
        out += [f"The composer ranks with the default weights ({note or 'no votes fitted'}).",
                "", "| feature | default |", "| --- | --- |"]
        out += [f"| {f} | {DEFAULT_WEIGHTS[f]:g} |" for f in FEATURES]
        return [*out, ""]
    accuracy = data.get("pair_accuracy")
    held = f"{accuracy:.2f}" if isinstance(accuracy, int | float) else "n/a (too few of a kind)"
    out += [f"Fitted from {data.get('votes')} voted songs at {data.get('fitted_at')} by logistic "
            "regression on the kept lines' features; scaled so that the weights' absolute sum "
            "is the defaults' (ranking compares candidates only).",
            f"Share of (👍, 👎) song pairs ordered right: fitted {held} (cross-validated), "
            f"defaults {data.get('default_pair_accuracy')}.", "",
            "| feature | default | fitted | per standard deviation |", "| --- | --- | --- | --- |"]
    standardised = data.get("standardised") or {}
    out += [f"| {f} | {DEFAULT_WEIGHTS[f]:g} | {data['weights'][f]:.3f} | "
            f"{standardised.get(f, 0.0):.3f} |" for f in FEATURES]
    return [*out, f"| bias | 0 | {data.get('bias', 0.0):.3f} | |", ""]


def update_report(run_dir: Path, note: str | None = None) -> None:
    """Put the ranking section into the run's report.md (replacing an older one), atomically."""
    path = run_dir / "report.md"
    text = path.read_text(encoding="utf-8") if path.exists() else f"# Run {run_dir.name}\n"
    lines = text.split("\n")
    if REPORT_HEADING in lines:
        start = lines.index(REPORT_HEADING)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
                   len(lines))
        del lines[start:end]
    else:
        start = next((i for i, line in enumerate(lines) if line == "## Samples"), len(lines))
    lines[start:start] = report_lines(run_dir, note)
    write_bytes_atomic(path, "\n".join(lines).encode("utf-8"))
