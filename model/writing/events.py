"""What a writing streams while it works: each chosen line, and each section once it is whole.

A chosen line is final (it is never taken back), so a caller may show it at once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LineEvent:
    slot: int  # which of the request's n songs
    section: str | None  # its section label ("Verse" for a verse)
    text: str


@dataclass(frozen=True)
class SectionEvent:
    slot: int
    label: str
    lines: tuple[str, ...]


Event = LineEvent | SectionEvent
