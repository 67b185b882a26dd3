"""Find runs of words copied from the training lyrics.

Small fine-tunes memorize. The index holds every word n-gram (default 8 words) of the training
songs; `longest_copy` measures the longest run of consecutive words of a text that also stands,
in order, in some training song.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

COPY_WORDS = 8  # a run this long is a copy, not a shared phrase ("I don't know what to do")


def words_of(text: str) -> list[str]:
    """Split text into lower-case words, ignoring punctuation and section headers."""
    text = re.sub(r"\[[^\]\n]*\]|<\|[^|]*\|>", " ", text)
    return re.findall(r"[\w']+", text.casefold())


class CopyIndex:
    def __init__(self, texts: Iterable[str], n: int = COPY_WORDS) -> None:
        self.n = n
        self.grams: set[tuple[str, ...]] = set()
        for text in texts:
            words = words_of(text)
            self.grams.update(tuple(words[i:i + n]) for i in range(len(words) - n + 1))

    def longest_copy(self, text: str) -> int:
        """Return the length in words of the longest copied run (0 if under n words)."""
        words = words_of(text)
        best = run = 0
        for i in range(len(words) - self.n + 1):
            run = run + 1 if tuple(words[i:i + self.n]) in self.grams else 0
            best = max(best, run + self.n - 1 if run else 0)
        return best
