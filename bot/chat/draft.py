"""A song as it is being written, rebuilt from the composer's events (for Discord's edits).

A chosen line is final, so a draft only grows: each line event adds a line to the section under
way, and a section event closes it (or adds a whole repeated chorus). Its text is laid out as the
finished song will be, so the last draft and the song read the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.chat.limits import SONG_CHARS
from model.lyrics.songform import render
from model.writing.events import Event, LineEvent


@dataclass
class _Section:
    label: str | None
    lines: list[str] = field(default_factory=list)
    closed: bool = False


class Draft:
    """The growing text of one of a request's songs (`slot`)."""

    def __init__(self, form: str, slot: int = 0) -> None:
        self.form = form
        self.slot = slot
        self._sections: list[_Section] = []

    def add(self, event: Event) -> bool:
        """Take in one event; return True if the text grew."""
        if event.slot != self.slot:
            return False
        if isinstance(event, LineEvent):
            if not self._sections or self._sections[-1].closed or \
                    self._sections[-1].label != event.section:
                self._sections.append(_Section(event.section))
            self._sections[-1].lines.append(event.text)
            return True
        last = self._sections[-1] if self._sections else None
        if last is not None and not last.closed and last.label == event.label:
            last.lines, last.closed = list(event.lines), True  # the lines shown, as written
            return False
        self._sections.append(_Section(event.label, list(event.lines), closed=True))
        return bool(event.lines)

    @property
    def text(self) -> str:
        """Return the song so far, laid out like the finished one ("" before its first line)."""
        if self.form != "song":
            return "\n".join(line for s in self._sections for line in s.lines)
        return render([(s.label or "", s.lines) for s in self._sections], SONG_CHARS)
