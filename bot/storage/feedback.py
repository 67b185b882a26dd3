"""`python -m bot feedback`: the voted songs as JSON lines for training (the feedback file).

One object per song that was shown (status ok) and voted on, without ties:
`{"generation_id", "artist", "run_id", "prompt", "completion", "form", "label", "up", "down",
"features", "steps"}`. `label` is net votes > 0 (true) or < 0 (false); `features` is the mean,
feature by feature, over the options the song kept (its shown lines; a verse's one text).
`steps` lists each ranking in order as `{"section", "line", "kept", "options": [{"text",
"features"}]}`, every value a finite number: a step that kept nothing, and a losing option with
a feature that was not a finite number (an empty text's likelihood), are left out. A step
compacted by CANDIDATE_RETENTION_DAYS lists only its kept option (`kept` 0). A song logged
without candidates (before they were logged) has no features and is left out, and counted.

Safe beside a running bot: the database is opened read-only (no migration, no lock), read in one
transaction (a `forget` meanwhile is wholly in or wholly out), and the file is written
atomically. A forgotten user's votes were deleted by `forget`, so they are never read.
"""

from __future__ import annotations

import json
import math
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from bot.storage.store import migration_files
from model.registry.files import write_bytes_atomic

CANDIDATES_VERSION = 5  # 0005_candidates.sql: the oldest schema this reads


class FeedbackError(Exception):
    """The feedback cannot be exported; the message says why and what to do."""


@dataclass(frozen=True)
class Exported:
    liked: int  # songs labelled true
    disliked: int  # songs labelled false
    ties: int  # voted songs left out: as many 👍 as 👎
    without_candidates: int  # voted songs left out: logged before their candidates were


def mean_features(kept: Sequence[Mapping[str, float | None]]) -> dict[str, float | None] | None:
    """Return the mean of each feature over the kept options (None when there are none); a
    feature with no finite value among them is None."""
    if not kept:
        return None
    means: dict[str, float | None] = {}
    for name in dict.fromkeys(name for features in kept for name in features):
        values = [v for f in kept if (v := f.get(name)) is not None and math.isfinite(v)]
        means[name] = sum(values) / len(values) if values else None
    return means


def finite(features: Mapping[str, float | None]) -> bool:
    """Say whether every feature is a finite number (null stands for one that was not)."""
    return all(v is not None and math.isfinite(v) for v in features.values())


def song_steps(rows: Iterable[aiosqlite.Row]) -> tuple[list[dict[str, Any]],
                                                       list[dict[str, Any]]]:
    """Group one song's candidate rows (ordered by step, option) into its ranking steps; return
    them as exported (see above) and the features of each kept option."""
    steps: dict[int, dict[str, Any]] = {}
    kept: list[dict[str, Any]] = []
    for row in rows:
        step = steps.setdefault(row["step"], {"section": row["section"], "line": row["line"],
                                              "kept": -1, "options": []})
        features = json.loads(row["features"])
        if row["kept"]:
            kept.append(features)
            step["kept"] = len(step["options"])  # its place among the options exported
        elif not finite(features):
            continue
        step["options"].append({"text": row["text"], "features": features})
    shown = [s for s in steps.values()
             if s["kept"] >= 0 and finite(s["options"][s["kept"]]["features"])]
    return shown, kept


async def open_readonly(database: Path) -> aiosqlite.Connection:
    """Open the bot's database read-only; raise FeedbackError if it is missing or too old."""
    if not database.is_file():
        raise FeedbackError(f"no database at {database}: the bot has not run with this "
                            "SWIFTAI_HOME (check it), so there are no votes yet")
    uri = f"file:{urllib.parse.quote(str(database.resolve()))}?mode=ro"
    try:
        db = await aiosqlite.connect(uri, uri=True)
    except aiosqlite.Error as e:
        raise FeedbackError(f"cannot read the database {database}: {e}") from e
    db.row_factory = aiosqlite.Row
    try:
        await db.execute("PRAGMA busy_timeout = 5000")
        async with db.execute("PRAGMA user_version") as cursor:
            (version,) = await cursor.fetchone()  # type: ignore[misc]
    except aiosqlite.Error as e:
        await db.close()
        raise FeedbackError(f"cannot read the database {database}: {e}") from e
    if version < CANDIDATES_VERSION:
        await db.close()
        newest = migration_files()[-1][0]
        raise FeedbackError(f"the database {database} is at schema version {version}, this "
                            f"exporter reads {CANDIDATES_VERSION} or later: start the bot "
                            f"(it migrates to {newest}) or run python -m bot migrate")
    return db


async def feedback_rows(db: aiosqlite.Connection,
                        artist: str) -> tuple[list[dict[str, Any]], int, int]:
    """Read the voted, shown songs and their steps; return the rows, and the songs left out:
    ties, and those logged without candidates."""
    rows, ties, without = [], 0, 0
    async with db.execute(
        """SELECT g.id, g.prompt, g.output, g.form, g.artist, g.run_id,
                  SUM(v.value = 1) AS up, SUM(v.value = -1) AS down
           FROM generations g JOIN votes v ON v.generation_id = g.id
           WHERE g.status = 'ok' AND g.output IS NOT NULL AND g.artist = ?
           GROUP BY g.id ORDER BY g.id""", (artist,)) as cursor:
        songs = await cursor.fetchall()
    for song in songs:
        if song["up"] == song["down"]:
            ties += 1
            continue
        async with db.execute(
            """SELECT step, section, line, option, text, features, kept FROM candidates
               WHERE generation_id = ? ORDER BY step, option""", (song["id"],)) as cursor:
            candidates = await cursor.fetchall()
        steps, kept = song_steps(candidates)
        means = mean_features(kept)
        if means is None or not finite(means):
            without += 1
            continue
        rows.append({"generation_id": song["id"], "artist": artist, "run_id": song["run_id"],
                     "prompt": song["prompt"], "completion": song["output"],
                     "form": song["form"], "label": song["up"] > song["down"],
                     "up": song["up"], "down": song["down"], "features": means,
                     "steps": steps})
    return rows, ties, without


async def export_feedback(database: Path, artist: str, out: Path) -> Exported:
    """Write the feedback file `out` (atomically) from the database; return the counts."""
    db = await open_readonly(database)
    try:
        await db.execute("BEGIN")  # one snapshot: a forget or a vote meanwhile is in or out
        rows, ties, without = await feedback_rows(db, artist)
        await db.rollback()
    except aiosqlite.Error as e:
        raise FeedbackError(f"cannot read the database {database}: {e}") from e
    finally:
        await db.close()
    text = "".join(json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n" for row in rows)
    try:
        write_bytes_atomic(out, text.encode("utf-8"))
    except OSError as e:
        raise FeedbackError(f"cannot write {out}: {e.strerror or e}") from e
    liked = sum(row["label"] for row in rows)
    return Exported(liked, len(rows) - liked, ties, without)
