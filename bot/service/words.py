"""Which words a room may hear: explicit words are kept only where the room allows them (an
age-restricted channel of a server whose admins allow it); slurs and hate terms never are.

The list is pyobscenity's English preset, a port of the Obscenity library's: each entry is a
word with the spellings lyrics use (leet, look-alike letters, repeated letters, `-in`/`-a`
endings) and a whitelist against the Scunthorpe problem (`class`, `grape`, `analysis` pass).
Chosen over better-profanity (no release since 2020; misses several rap spellings),
glin-profanity (exact words only: misses the spellings rap lyrics use) and alt-profanity-check
(a scikit-learn model: heavy, and it cannot say which word, so no slur/explicit split). MIT,
27 KB, one dependency (`regex`, which transformers already needs).

The preset marks no categories, so we mark which of its entries are slurs and hate terms, by the
SHA-256 of the entry's word: the source and the docs need not spell them out. Each entry also
matches its own word as a whole word: a few of the preset's patterns miss the very word they
are named for (a doubled letter that its transformers keep).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import cache

from pyobscenity.dataset import Dataset
from pyobscenity.english_preset import (
    english_dataset,
    english_recommended_blacklist_transformers,
    english_recommended_whitelist_transformers,
)
from pyobscenity.matcher import RegexMatcher

EXPLICIT = "explicit"
SLUR = "slur"
# The first 16 hex digits of the SHA-256 of each preset entry ("originalWord") that names people
# by race, ethnicity, disability, sexuality or gender identity.
SLUR_HASHES = frozenset((
    "3160c321bcd0c49b", "4aa9e29a67c188ac", "7b3e1b718066e0a3", "f4f08c8f3bf230d3",
    "59f12409eb71f1a1", "ec2fe80630164152", "f9d0d9b18ae9033a", "886d51e97ad7931d",
    "9915ba2d822280f2", "c3de533e9b7fe63b", "f59e28f8bb6499dd", "120f6e5b4ea32f65",
    "158869a97379229b", "94a877e2ce63725e", "98b52c4b6b7d1f48", "16ea09fc78ca83ca"))


def marked_slur(word: str) -> bool:
    """Say whether a preset entry is one we mark as a slur."""
    return hashlib.sha256(word.encode()).hexdigest()[:16] in SLUR_HASHES


def entries() -> list[str]:
    """Return the preset's entries, one word each (tests pick their examples from these)."""
    return [c.metadata["originalWord"] for c in english_dataset.containers]


class Words:
    """The word list, built once (about 1 ms a line to check); `refusal` gives a request's
    filter for its room."""

    def __init__(self) -> None:
        dataset = Dataset().add_all(english_dataset)
        for word in entries():
            dataset.add_phrase(lambda phrase, w=word: phrase.set_metadata(
                {"originalWord": w}).add_pattern(f"|{w}|"))
        built = dataset.build()
        self._matcher = RegexMatcher(built["blacklisted_terms"], built["whitelisted_terms"],
                                     english_recommended_blacklist_transformers,
                                     english_recommended_whitelist_transformers)
        # The dataset numbers each pattern; each belongs to one entry.
        self._slur_terms = frozenset(
            term for term, index in dataset.patternIdToContainerIndex.items()
            if marked_slur(dataset.containers[index].metadata["originalWord"]))

    def judge(self, text: str) -> str | None:
        """Return SLUR if `text` holds a slur, else EXPLICIT if it holds a listed word, else
        None."""
        matches = self._matcher.get_all_matches(text)
        if any(m.termId in self._slur_terms for m in matches):
            return SLUR
        return EXPLICIT if matches else None

    def refusal(self, explicit_ok: bool) -> Callable[[str], str | None]:
        """Return the filter of a room: slurs refused everywhere, explicit words unless
        `explicit_ok`."""
        def refuse(text: str) -> str | None:
            found = self.judge(text)
            return None if found == EXPLICIT and explicit_ok else found
        return refuse


@cache
def words() -> Words:
    """Return the one word list of this process (building it compiles ~400 patterns)."""
    return Words()
