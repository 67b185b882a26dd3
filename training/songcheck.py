"""Song-mode evaluation: write a whole song from each validation song's first line, through the
same engine the bot uses (worker, ranking, song form, novelty guard), and hold its style figures
beside the artist's.

Targets, from the song-form issue: rhyme rate within ±25% of the artist's, mean words per line
within ±20%, every song with its chorus coming back, nothing copied, nothing looping.
"""

from __future__ import annotations

import asyncio
from typing import Any

import torch

from model.backend import Backend, Served
from model.composer import Composer, Request
from model.novelty import COPY_WORDS, CopyIndex
from model.songform import common_form
from model.songtext import is_degenerate
from model.style import Style, figures
from model.worker import Worker

COMPARED = ("rhyme_rate", "words_per_line", "words_per_line_p90", "recurring_block_rate",
            "lines_per_song")
RHYME_TOLERANCE = 0.25  # within ±25% of the artist's rhyme rate
WIDTH_TOLERANCE = 0.20  # within ±20% of the artist's mean words per line


def artist_style(manifest: dict[str, Any], lyrics: list[str]) -> Style:
    """Return the artist's figures: from the corpus manifest, or measured from the lyrics."""
    saved = manifest.get("style")
    return Style.from_json(saved) if saved else figures(lyrics)


def write_songs(backend: Backend, openings: list[tuple[str, str | None]], train: list[str],
                artist: Style, seed: int) -> list[str]:
    """Write one song per (first line, album), all at once so their sections share batches."""
    served = Served(backend, CopyIndex(train), artist, common_form(train))

    async def write_all() -> list[str]:
        worker = Worker(lambda: served, max_batch=64, batch_window_ms=5,
                        queue_size=len(openings) + 8)
        worker.start()
        try:
            await worker.ready()
            composer = Composer(worker)
            results = await asyncio.gather(*(composer.write(Request(line, album=album,
                                                                    form="song"))
                                             for line, album in openings))
        finally:
            await worker.close()
        return [songs[0].text for songs in results]

    torch.manual_seed(seed)
    return asyncio.run(write_all())


def song_metrics(songs: list[str], index: CopyIndex) -> dict[str, Any]:
    """Measure songs: their style figures, and the shares that copy or loop."""
    style = figures(songs)
    return {"style": {name: round(getattr(style, name), 4) for name in COMPARED},
            "song_copy_rate": round(sum(index.longest_copy(s) >= COPY_WORDS for s in songs)
                                    / len(songs), 4),
            "song_degenerate_rate": round(sum(map(is_degenerate, songs)) / len(songs), 4)}


def style_table(artist: Style, base: dict[str, Any], tuned: dict[str, Any]) -> dict[str, Any]:
    """Return metrics.json's `style` object: each figure for the artist, base and fine-tuned."""
    return {name: {"artist": round(getattr(artist, name), 4), "base": base["style"][name],
                   "fine_tuned": tuned["style"][name]} for name in COMPARED}


def targets(style: dict[str, Any], tuned: dict[str, Any]) -> dict[str, bool]:
    """Say which song-mode targets the fine-tuned model meets."""
    def within(name: str, tolerance: float) -> bool:
        artist, ours = style[name]["artist"], style[name]["fine_tuned"]
        return artist > 0 and abs(ours - artist) <= tolerance * artist

    return {"rhyme_rate": within("rhyme_rate", RHYME_TOLERANCE),
            "words_per_line": within("words_per_line", WIDTH_TOLERANCE),
            "chorus_recurs": style["recurring_block_rate"]["fine_tuned"] == 1.0,
            "no_copies": tuned["song_copy_rate"] == 0.0,
            "no_loops": tuned["song_degenerate_rate"] == 0.0}


def report_rows(metrics: dict[str, Any]) -> list[str]:
    """Return report.md's song-mode section."""
    style, met = metrics["style"], metrics["style_targets"]
    out = ["## Songs, beside the artist", "",
           "One whole song (`--form song`) from each validation song's first line, written as "
           "the bot writes them. Targets: rhyme rate within ±25% of the artist's, words per line "
           "within ±20%, every chorus coming back, nothing copied or looping.", "",
           "| figure | artist | base | fine-tuned |", "| --- | --- | --- | --- |"]
    out += [f"| {name} | {v['artist']} | {v['base']} | {v['fine_tuned']} |"
            for name, v in style.items()]
    out += [f"| song_copy_rate | 0 | {metrics['base_song_copy_rate']} | "
            f"{metrics['song_copy_rate']} |",
            f"| song_degenerate_rate | 0 | {metrics['base_song_degenerate_rate']} | "
            f"{metrics['song_degenerate_rate']} |", "",
            "Targets met: " + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in met.items()),
            ""]
    return out
