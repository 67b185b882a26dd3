"""Simulated listeners of known taste, and the feedback file they leave: for tests and benchmarks.

A stand-in for the bot's side: a tiny real model writes k candidates of each short song from one
prompt (one free stretch each, as the composer wrote verses before it wrote them line by line;
cheap, and enough to give the features spread), the best is kept by the default ranking, every
candidate gets the ranking features, and a few listeners vote on the song that was shown by a
stated rule, each disagreeing with it now and then. The rows are the feedback
file's (training/feedback/votes.py), `steps` and all.

Features follow the ranking contract per line, averaged over the song's lines: `likelihood` the
mean token log-probability, `width` |words - artist's mean| / artist's mean, `rhyme` 1.0 when the
line's end word rhymes with one of the 3 lines before (no near rhymes here), `drift` 1.0 past 1.5 x
the artist's p90 words a line, `copied` the longest run of training words / 8.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from model.lyrics.songtext import clean_output
from model.lyrics.style import RHYME_WINDOW, Style, lyric_lines, rhymes
from model.serving.protocol import Completion, GenRequest
from model.writing.novelty import COPY_WORDS, CopyIndex, words_of

DEFAULT_WEIGHTS = {"likelihood": 1.0, "width": -1.5, "rhyme": 1.0, "drift": -3.0, "copied": 0.0}
Rule = Callable[[Mapping[str, float]], bool]


def song_features(text: str, mean_logprob: float | None, artist: Style,
                  index: CopyIndex | None, keep: int = 0) -> dict[str, float] | None:
    """Return a candidate's ranking features, or None when it has no lyric line; copies are
    looked for past the first `keep` characters (the user's own line)."""
    lines = lyric_lines(text)
    if not lines:
        return None
    ends = [(words_of(line) or [""])[-1] for line in lines]
    widths = [len(words_of(line)) for line in lines]
    mean_width = max(artist.words_per_line, 1.0)
    rhyme = [any(rhymes(end, before) for before in ends[max(0, i - RHYME_WINDOW):i])
             for i, end in enumerate(ends)]
    return {
        "likelihood": float(mean_logprob or 0.0),
        "width": statistics.fmean(abs(w - artist.words_per_line) / mean_width for w in widths),
        "rhyme": statistics.fmean(map(float, rhyme)),
        "drift": statistics.fmean(w > 1.5 * artist.words_per_line_p90 for w in widths),
        "copied": (index.longest(text, after=keep).words if index else 0) / COPY_WORDS,
        "reference": 0.0,  # no reference model is served here
        "prose": 0.0,
    }


def score(features: Mapping[str, float], weights: Mapping[str, float], bias: float = 0.0) -> float:
    """Rank a candidate: bias + the weighted sum of its features (the contract's `score`)."""
    return bias + sum(weights[f] * features[f] for f in weights)


@dataclass(frozen=True)
class Written:
    prompt: str
    options: list[tuple[str, dict[str, float]]]  # (text shown, features) per usable candidate


def write_candidates(backend: Any, prompts: list[str], artist: Style, index: CopyIndex | None,
                     k: int = 3, max_new_tokens: int = 48, batch: int = 8) -> list[Written]:
    """Write `k` candidates for each prompt, in batches; keep those with a lyric line."""
    out: list[Written] = []
    for start in range(0, len(prompts), batch):
        chunk = prompts[start:start + batch]
        answers: list[list[Completion]] = backend.generate(
            [GenRequest(p, k=k, max_new_tokens=max_new_tokens) for p in chunk])
        for prompt, completions in zip(chunk, answers, strict=True):
            options = []
            for c in completions:
                text = clean_output(prompt + c.text)
                features = song_features(text, c.mean_logprob, artist, index, len(prompt))
                if features is not None:
                    options.append((text, features))
            if options:
                out.append(Written(prompt, options))
    return out


def rhyme_rule(threshold: float) -> Rule:
    """Listeners like a song that rhymes at least `threshold` of its lines."""
    return lambda features: features["rhyme"] >= threshold


def vote(written: list[Written], rule: Rule, artist: str, seed: int = 0, listeners: int = 3,
         disagree: float = 0.2, weights: Mapping[str, float] = DEFAULT_WEIGHTS,
         first_id: int = 1) -> list[dict[str, Any]]:
    """Show each song (the best candidate by `weights`) to `listeners` who each vote by `rule`,
    disagreeing with it with probability `disagree`; return feedback rows (ties left out)."""
    pick = random.Random(seed)
    rows = []
    for number, song in enumerate(written, first_id):
        kept = max(range(len(song.options)), key=lambda i: score(song.options[i][1], weights))
        text, features = song.options[kept]
        liked = rule(features)
        up = sum((pick.random() >= disagree) == liked for _ in range(listeners))
        down = listeners - up
        if up == down:
            continue
        rows.append({
            "generation_id": number, "artist": artist, "run_id": None, "prompt": song.prompt,
            "completion": text, "form": "verse", "label": up > down, "up": up, "down": down,
            "features": features,
            "steps": [{"section": None, "line": None, "kept": kept,
                       "options": [{"text": t, "features": f} for t, f in song.options]}],
        })
    return rows


def shown(written: list[Written], weights: Mapping[str, float] = DEFAULT_WEIGHTS,
          bias: float = 0.0) -> list[dict[str, float]]:
    """Return the features of the candidate each set would show: the best by `weights`."""
    return [max(song.options, key=lambda o: score(o[1], weights, bias))[1] for song in written]


def rule_share(written: list[Written], rule: Rule, weights: Mapping[str, float],
               bias: float = 0.0) -> float:
    """Return the share of candidate sets whose pick by `weights` satisfies `rule`."""
    picks = shown(written, weights, bias)
    return sum(map(rule, picks)) / len(picks) if picks else 0.0
