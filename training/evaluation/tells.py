"""Can you tell? How well a plain classifier tells the artist's stanzas from generated ones.

The style figures (training/evaluation/style_check.py) count words, rhymes and repeats; a song of
bullet lists or prose can pass them all. A person reading it would not be fooled, and neither is a
simple classifier: TF-IDF n-grams with logistic regression (scikit-learn), fitted to tell one side's
stanzas from the other's. Its cross-validated accuracy is the score: 0.5 means it cannot tell (what
we want), 1.0 that every generated stanza gives itself away.

- **Stanzas.** Blank-line (or header) separated blocks of lyric lines, headers removed
  (`model.lyrics.style.stanzas`). A stanza sung again in the same song (a chorus) counts once:
  it is one piece of writing, and would otherwise sit in both the training and the test folds.
- **Balanced.** The same number of stanzas from each side, drawn at random with a seed, so that
  0.5 is chance and a model that writes few stanzas is not scored as if it wrote many.
- **Grouped folds.** Each song's stanzas stay in one fold (StratifiedGroupKFold). Stanzas of one
  song share words (names, places, the title); without grouping the classifier learns the songs,
  not the writing, and one real catalogue's validation songs split in two score 0.75-0.81.
- **The floor.** The same classifier and folds on the artist's songs split at random into two
  halves, songs kept whole: what "cannot tell" measures on this sample (about 0.5; a little
  under is usual, as cross-validation on data with no signal leans below chance).
- **Features.** Word 1-2 grams with punctuation marks and line breaks as tokens. Character 2-4
  grams did as well at the ends (two real catalogues split in two: 0.46-0.51 both; real vs
  bullet lists and math exercises: 1.00 both) but worse in between (a LoRA-tuned model's songs:
  0.88 against 0.95), and their giveaways are fragments. Words without punctuation (scikit-learn's
  default tokens) scored those songs 0.79: full stops and colons are much of what gives web text
  away.
- **Repeats.** Small samples make one cross-validation noisy: the score is the mean over
  `REPEATS` draws and fold splits, with their spread. A sample of n stanzas a side has a
  sampling error of about sqrt(p(1-p)/2n) on top (0.05 at 40 a side), which no repeat removes.
  Fewer stanzas also train a weaker classifier (8 songs of one model scored 0.87, 25 of the same
  model 0.95): compare runs written from as many openings, and read differences under 0.1 with
  care.
- **Giveaways.** Fitted once on a whole balanced draw, the n-grams with the largest coefficients
  toward each side, found in 3 or more of that side's songs: what gives a generated stanza away
  (`.`, `. ⏎`, `:`), and what a real one.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from model.lyrics.style import stanzas

TARGET = 0.70  # a model whose stanzas are told from the artist's more often than this fails
DESCRIPTION = "TF-IDF of word 1-2 grams, punctuation and line breaks, logistic regression"
FOLDS = 5  # fewer when a side has fewer songs; at least 2
REPEATS = 10  # draws and fold splits averaged
GIVEAWAYS = 10  # n-grams reported for each side
GIVEAWAY_SONGS = 3  # a giveaway is found in this many songs of its side, at least
LINE_END = "⏎"  # how a line break is shown in a giveaway n-gram
# Words, apostrophes inside them, each punctuation mark, and the line break: prose gives itself
# away by full stops and commas before a line break as much as by its words.
_TOKEN = r"[\w']+|[^\w\s]|\n"


@dataclass(frozen=True)
class Tell:
    """A can-you-tell score: accuracy (None when a side has too few songs) and what it stands on."""

    accuracy: float | None  # mean over repeats of the cross-validated accuracy
    spread: float  # standard deviation over repeats
    sampling_error: float  # sqrt(p(1-p)/N) for the N stanzas classified
    per_side: int  # stanzas drawn from each side
    songs: tuple[int, int]  # songs on each side
    folds: int
    giveaways: tuple[str, ...] = ()  # n-grams that most say "the second side"
    real_giveaways: tuple[str, ...] = ()  # n-grams that most say "the first side"
    reason: str | None = None  # why there is no accuracy

    def to_json(self) -> dict[str, Any]:
        """Return the score for metrics.json."""
        out = asdict(self)
        out["songs"] = list(self.songs)
        out["giveaways"], out["real_giveaways"] = list(self.giveaways), list(self.real_giveaways)
        if self.reason is None:
            del out["reason"]
        return out


def song_stanzas(text: str) -> list[str]:
    """Return a song's stanzas (lines joined by newlines), each distinct one once."""
    seen: set[str] = set()
    out: list[str] = []
    for block in stanzas(text):
        key = "\n".join(line.casefold() for line in block)
        if key not in seen:
            seen.add(key)
            out.append("\n".join(block))
    return out


def _classifier() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    # min_df=2: an n-gram in one stanza only cannot generalise, and would swell the features.
    # liblinear: the fastest solver for a few hundred short documents (lbfgs took 10x longer).
    return make_pipeline(TfidfVectorizer(analyzer="word", token_pattern=_TOKEN,
                                         ngram_range=(1, 2), sublinear_tf=True, min_df=2),
                         LogisticRegression(solver="liblinear"))


Side = list[tuple[int, str]]  # (song number, stanza)


def _side(songs: Sequence[str], first: int) -> Side:
    return [(first + i, s) for i, text in enumerate(songs) for s in song_stanzas(text)]


def _draw(a: Side, b: Side, rng: random.Random) -> tuple[Side, Side]:
    n = min(len(a), len(b))
    return rng.sample(a, n), rng.sample(b, n)


def _accuracy(a: Side, b: Side, folds: int, seed: int, grouped: bool) -> float:
    """Cross-validated accuracy of telling `a` (label 0) from `b` (label 1)."""
    import numpy as np
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, cross_val_predict

    texts = [s for _, s in a + b]
    labels = np.array([0] * len(a) + [1] * len(b))
    if grouped:
        split = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        groups = np.array([g for g, _ in a + b])
    else:  # only to show what grouping prevents
        split, groups = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed), None
    predicted = cross_val_predict(_classifier(), texts, labels, groups=groups, cv=split)
    return float((predicted == labels).mean())


def _giveaways(a: Side, b: Side) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return the n-grams that most say `b`, and those that most say `a`, each found in
    `GIVEAWAY_SONGS` songs or more of its side (not one song's name or refrain)."""
    texts = [s for _, s in a + b]
    model = _classifier().fit(texts, [0] * len(a) + [1] * len(b))
    present = model[0].transform(texts).tocsc()
    groups = [g for g, _ in a + b]
    names = [str(name).replace("\n", LINE_END) for name in model[0].get_feature_names_out()]
    coef = model[-1].coef_[0]

    def side(order: Any, sign: int) -> tuple[str, ...]:
        out: list[str] = []
        for j in order:
            if len(out) == GIVEAWAYS or sign * coef[j] <= 0:
                break
            rows = present.indices[present.indptr[j]:present.indptr[j + 1]]
            if len({groups[r] for r in rows if (r >= len(a)) == (sign > 0)}) >= GIVEAWAY_SONGS:
                out.append(names[j])
        return tuple(out)

    order = coef.argsort()
    return side(order[::-1], 1), side(order, -1)


def _summary(scores: list[float], per_side: int, songs: tuple[int, int], folds: int,
             giveaways: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())) -> Tell:
    mean = statistics.fmean(scores)
    spread = statistics.pstdev(scores) if len(scores) > 1 else 0.0
    error = math.sqrt(mean * (1 - mean) / (2 * per_side))
    return Tell(round(mean, 4), round(spread, 4), round(error, 4), per_side, songs, folds,
                *giveaways)


def _too_few(per_side: int, songs: tuple[int, int], reason: str) -> Tell:
    return Tell(None, 0.0, 0.0, per_side, songs, 0, reason=reason)


def tell_apart(real: Sequence[str], other: Sequence[str], *, seed: int = 0,
               repeats: int = REPEATS, grouped: bool = True) -> Tell:
    """Score how well a classifier tells `other` songs' stanzas from the `real` songs'."""
    a, b = _side(real, 0), _side(other, len(real))
    songs = (len({g for g, _ in a}), len({g for g, _ in b}))
    per_side = min(len(a), len(b))
    folds = min(FOLDS, *songs) if grouped else min(FOLDS, per_side)
    if folds < 2:
        return _too_few(per_side, songs, "needs 2 or more songs with lyrics on each side")
    scores = []
    for r in range(repeats):
        drawn = _draw(a, b, random.Random(seed + r))
        scores.append(_accuracy(*drawn, folds, seed + r, grouped))
    return _summary(scores, per_side, songs, folds,
                    _giveaways(*_draw(a, b, random.Random(seed))))


def real_vs_real(real: Sequence[str], *, seed: int = 0, repeats: int = REPEATS,
                 grouped: bool = True) -> Tell:
    """Score the floor: the artist's songs split at random into two halves, told apart."""
    songs = [text for text in real if song_stanzas(text)]
    half = len(songs) // 2
    if half < 2:
        return _too_few(0, (half, len(songs) - half), "needs 4 or more songs with lyrics")
    scores, sizes = [], []
    for r in range(repeats):
        rng = random.Random(seed + r)
        order = rng.sample(songs, len(songs))
        a, b = _side(order[:half], 0), _side(order[half:], half)
        sizes.append(min(len(a), len(b)))
        folds = min(FOLDS, half) if grouped else min(FOLDS, sizes[-1])
        scores.append(_accuracy(*_draw(a, b, rng), folds, seed + r, grouped))
    return _summary(scores, min(sizes), (half, len(songs) - half), min(FOLDS, half))


def can_tell(real: Sequence[str], written: dict[str, Sequence[str]], seed: int = 0,
             ) -> dict[str, Any]:
    """Return metrics.json's `can_tell`: the floor, and the score of each writer's songs."""
    out: dict[str, Any] = {"classifier": DESCRIPTION, "target": TARGET,
                           "real_vs_real": real_vs_real(real, seed=seed).to_json()}
    out.update({name: tell_apart(real, songs, seed=seed).to_json()
                for name, songs in written.items()})
    return out


def _code(gram: str) -> str:
    return f"`` {gram} ``" if "`" in gram else f"`{gram}`"


def _cell(score: dict[str, Any]) -> str:
    if score["accuracy"] is None:
        return f"— ({score['reason']})"
    return f"{score['accuracy']:.2f} ± {score['spread']:.2f}"


def report_lines(scores: dict[str, Any], labels: dict[str, str]) -> list[str]:
    """Return report.md's can-you-tell section; `labels` names each writer's row."""
    out = ["## Can you tell? (stanzas)", "",
           f"A classifier ({scores['classifier']}) tells the artist's validation stanzas from "
           "each model's, each song's stanzas kept in one fold, as many stanzas from each side: "
           f"0.5 means it cannot tell; the target is at most {scores['target']:.2f}. Real vs "
           "real (the artist's songs split in two) is the floor. ± is the spread over "
           f"{REPEATS} draws and fold splits; the sample itself adds about its sampling error. "
           "Fewer stanzas train a weaker classifier: compare runs written from as many "
           "openings.", "",
           "| stanzas | accuracy | sampling error | stanzas a side | songs |",
           "| --- | --- | --- | --- | --- |"]
    for key, label in {"real_vs_real": "real vs real (floor)", **labels}.items():
        score = scores[key]
        out.append(f"| {label} | {_cell(score)} | {score['sampling_error']:.2f} | "
                   f"{score['per_side']} | {score['songs'][0]} / {score['songs'][1]} |")
    out.append("")
    for key, label in labels.items():
        if scores[key]["giveaways"]:
            out += [f"What gives {label} stanzas away: "
                    + ", ".join(map(_code, scores[key]["giveaways"])) + "; the "
                    "artist's: " + ", ".join(map(_code, scores[key]["real_giveaways"])),
                    ""]
    return out
