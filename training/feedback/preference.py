"""Learning from votes inside a run: which votes it takes, what it learns from them, and the
publish gate's check for a preference-tuned run (how likely a model finds the liked songs is
measured in training/feedback/likelihood.py).

A run made with votes keeps them (`feedback.json` says how many and what was done with them). With
at least `min_votes` of both kinds it is preference-tuned (training/feedback/kto.py) on most of
them, `data/feedback/train.jsonl`, and the rest, `data/feedback/val.jsonl`, are held out: a run is
only published when it orders those held-out (👍, 👎) pairs better than the model it replaces, by
the mean log-likelihood each song gets under the model, and its validation perplexity is at most
`PERPLEXITY_SLACK` worse. Its ranking weights are fitted from all the votes
(training/feedback/ranker.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.registry.files import write_json_atomic
from training.feedback import kto, ranker
from training.feedback.votes import Vote, read_votes, split_votes, write_votes
from training.progress import Progress

FEEDBACK_FILE = "feedback.json"
TUNE_FILE = Path("data") / "feedback" / "train.jsonl"
HELD_OUT_FILE = Path("data") / "feedback" / "val.jsonl"
PERPLEXITY_SLACK = 0.02  # a preference-tuned run may be up to 2% worse on validation perplexity


@dataclass(frozen=True)
class Plan:
    """The votes a new run learns from."""

    votes: list[Vote]
    source: str  # the feedback file they came from
    min_votes: int

    @property
    def liked(self) -> int:
        """Return how many of the votes are 👍."""
        return sum(v.label for v in self.votes)

    @property
    def enough(self) -> bool:
        """Say whether there are enough votes, of both kinds, to learn from."""
        return len(self.votes) >= self.min_votes and 0 < self.liked < len(self.votes)

    def shortfall(self) -> str:
        """Say why the votes are not enough: `12 of 50 votes`, `all 60 votes are 👍`."""
        if len(self.votes) < self.min_votes:
            return f"{len(self.votes)} of {self.min_votes} votes"
        return f"all {len(self.votes)} votes are {'👍' if self.liked else '👎'}"

    def note(self) -> str:
        """Say in a line what the run does with these votes."""
        if self.enough:
            return (f"learning from {len(self.votes)} votes ({self.liked} up, "
                    f"{len(self.votes) - self.liked} down): preference tuning and ranking weights")
        return f"using the default ranking ({self.shortfall()})"


def add_votes(run_dir: Path, plan: Plan) -> None:
    """Keep a new run's votes in its folder, split for tuning when there are enough."""
    if plan.enough:
        tune, held = split_votes(plan.votes)
        write_votes(run_dir / TUNE_FILE, tune)
        write_votes(run_dir / HELD_OUT_FILE, held)
    write_json_atomic(run_dir / FEEDBACK_FILE, {
        "source": plan.source, "votes": len(plan.votes), "up": plan.liked,
        "down": len(plan.votes) - plan.liked, "min_votes": plan.min_votes,
        "tuned": plan.enough, "note": plan.note()})


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """Return a run's feedback.json, or None for a run made without votes."""
    try:
        return json.loads((run_dir / FEEDBACK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def held_out(run_dir: Path) -> list[Vote]:
    """Return the votes a preference-tuned run held out (none for any other run)."""
    path = run_dir / HELD_OUT_FILE
    tuned = (run_dir / kto.KTO_FILE).is_file()
    return read_votes(path).rows if tuned and path.is_file() else []


def learn(run_dir: Path, progress: Progress) -> dict[str, Any] | None:
    """After the fine-tune: preference-tune the run on its votes and fit its ranking weights;
    return what was done (None for a run without enough votes)."""
    summary = read_summary(run_dir)
    if summary is None or not summary.get("tuned"):
        if summary is not None:
            progress.say(summary["note"])
        return None
    from training.tuning.finetune import read_options

    tune, held = read_votes(run_dir / TUNE_FILE).rows, read_votes(run_dir / HELD_OUT_FILE).rows
    progress.stage("feedback", run=run_dir.name)
    result = kto.tune(run_dir, tune, held, read_options(run_dir), progress)
    fitted = ranker.fit(tune + held, min_votes=0)
    ranker.write_ranking(run_dir, fitted)
    return {"kto": result, "ranking_votes": fitted.votes}


def report_lines(run_dir: Path) -> list[str]:
    """Return report.md's sections on what the run learnt from votes (none without votes)."""
    summary = read_summary(run_dir)
    if summary is None:
        return []
    out = ranker.report_lines(run_dir, note=summary.get("note"))
    path = run_dir / kto.KTO_FILE
    if path.exists():
        kto_summary = json.loads(path.read_text(encoding="utf-8"))
        out += ["## Preference tuning (KTO)", "",
                f"{kto_summary['desirable']} 👍 and {kto_summary['undesirable']} 👎 songs tuned "
                f"on, {kto_summary['held_out']} held out; {kto_summary['steps']} steps with LoRA "
                f"(learning rate {kto_summary['learning_rate']:g}, beta {kto_summary['beta']:g}, "
                f"weights 👍 {kto_summary['desirable_weight']:.2f} / 👎 "
                f"{kto_summary['undesirable_weight']:.2f}).",
                f"Held-out (👍, 👎) pairs whose 👍 song is the more likely: "
                f"{_share(kto_summary.get('share_before'))} before, "
                f"{_share(kto_summary.get('share_after'))} after.", ""]
    return out


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def gate(run_id: str, current_id: str, shares: tuple[float | None, float | None]) -> str | None:
    """Return why a preference-tuned run may not replace the current model, or None: it must
    order the held-out voted pairs strictly better."""
    new, old = shares
    if new is None or old is None:
        return None
    if new <= old:
        return (f"run {run_id} orders its held-out voted songs no better than the current model "
                f"{current_id} ({new:.3f} vs {old:.3f} of (👍, 👎) pairs with the 👍 song the "
                "more likely); publish --force to publish it anyway")
    return None
