"""Find runs of words copied from the training lyrics.

Small fine-tunes memorize. The index holds every word n-gram (default 8 words) of the training
songs; `longest` finds the longest run of consecutive words of a text that also stands, in order,
in some training song, and where it starts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

COPY_WORDS = 8  # a run this long is a copy, not a shared phrase ("I don't know what to do")
_WORD = re.compile(r"[\w']+")
_MARKUP = re.compile(r"\[[^\]\n]*\]")  # section headers


@dataclass(frozen=True)
class Copy:
    words: int  # length of the longest copied run; 0 when there is none
    start: int  # character offsets in the text where that run begins and ends
    end: int


def _words(text: str) -> list[re.Match[str]]:
    # Blank out section headers, keeping offsets into the original text.
    masked = _MARKUP.sub(lambda m: " " * len(m.group(0)), text)
    return list(_WORD.finditer(masked))


def words_of(text: str) -> list[str]:
    """Split text into lower-case words, ignoring punctuation and section headers."""
    return [m.group(0).casefold() for m in _words(text)]


class CopyIndex:
    def __init__(self, texts: Iterable[str], n: int = COPY_WORDS) -> None:
        self.n = n
        self.grams: set[tuple[str, ...]] = set()
        for text in texts:
            words = words_of(text)
            self.grams.update(tuple(words[i:i + n]) for i in range(len(words) - n + 1))

    def longest(self, text: str, after: int = 0) -> Copy:
        """Find the longest copied run of at least n words that ends past offset `after`.

        `after` lets a caller ignore runs that lie wholly inside a prompt the user typed.
        """
        matches = _words(text)
        words = [m.group(0).casefold() for m in matches]
        best, run, start = Copy(0, 0, 0), 0, 0
        for i in range(len(words) - self.n + 1):
            if tuple(words[i:i + self.n]) in self.grams:
                start = i if run == 0 else start
                run += 1
                end = matches[i + self.n - 1].end()
                if run + self.n - 1 > best.words and end > after:
                    best = Copy(run + self.n - 1, matches[start].start(), end)
            else:
                run = 0
        return best

    def longest_copy(self, text: str) -> int:
        """Return the length in words of the longest copied run (0 if under n words)."""
        return self.longest(text).words
