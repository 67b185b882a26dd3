"""The generation log: one aiosqlite connection, WAL, foreign keys, SQL in plain sight.

Migrations are the numbered files in `migrations/`, applied in order, each in one transaction
together with `PRAGMA user_version = N`, so a failed migration leaves the database as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosqlite

if TYPE_CHECKING:
    from model.writing.ranking import RankStep

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
COMPACT_BATCH = 5000  # candidates deleted per transaction: the bot's own writes go in between


@dataclass(frozen=True)
class Generation:
    id: int
    created_at: str
    source: str
    user_id: str
    user_name: str | None
    guild_id: str | None
    channel_id: str | None
    prompt: str
    album: str | None
    temperature: float | None
    lines: int | None
    form: str  # "verse" or "song"
    artist: str | None  # the artist asked for (None only in rows logged before there were several)
    run_id: str | None  # the run that wrote it; None for the base model
    output: str | None
    model_id: str | None
    copied_words: int | None
    queue_ms: float | None
    generate_ms: float | None
    status: str
    error: str | None
    filtered: int | None  # candidate lines the room's word list refused (None: logged before)


@dataclass(frozen=True)
class Votes:
    up: int
    down: int


_COLUMNS = ", ".join(f.name for f in fields(Generation))


def _storable(value: Any) -> Any:
    """Make text SQLite can store: a lone surrogate (valid in JSON) is not UTF-8."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def _finite(features: Mapping[str, float]) -> dict[str, float | None]:
    """Make features JSON can hold: -inf (an empty line's likelihood) or NaN become null."""
    return {name: float(value) if math.isfinite(value) else None
            for name, value in features.items()}


def candidate_rows(steps: Sequence[RankStep]) -> list[tuple[Any, ...]]:
    """Return a song's ranking steps as `candidates` rows, less the generation id: (step,
    section, line, option, text, features, kept); see 0005_candidates.sql."""
    return [(index, step.section, step.line, place, _storable(option.text),
             json.dumps(_finite(option.features)), int(place == step.kept))
            for index, step in enumerate(steps) for place, option in enumerate(step.options)]


def migration_files(folder: Path = MIGRATIONS) -> list[tuple[int, Path]]:
    """Return (version, path) of every `NNNN_name.sql` file, in order."""
    found = [(int(m.group(1)), p) for p in folder.glob("*.sql")
             if (m := re.fullmatch(r"(\d{4})_\w+\.sql", p.name))]
    return sorted(found)


async def migrate(db: aiosqlite.Connection, folder: Path = MIGRATIONS,
                  target: int | None = None) -> list[int]:
    """Apply the migrations newer than the database, up to `target`; return those applied."""
    async with db.execute("PRAGMA user_version") as cursor:
        (current,) = await cursor.fetchone()  # type: ignore[misc]
    applied = []
    for version, path in migration_files(folder):
        if version <= current or (target is not None and version > target):
            continue
        script = path.read_text(encoding="utf-8")
        try:
            await db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;")
        except Exception:
            await db.execute("ROLLBACK")  # executescript leaves a failed script's transaction open
            raise
        applied.append(version)
    return applied


class StoreError(Exception):
    """The database cannot be opened; the message names the file, the reason and what to do."""


class StoreUnavailable(Exception):
    """The log cannot be written (disk full, file gone read-only...) or read right now."""


class Store:
    def __init__(self, db: aiosqlite.Connection, migrated: tuple[int, ...] = ()) -> None:
        self.db = db
        self.failing: str | None = None  # why the last write failed; None once one succeeds
        # One connection holds one transaction: the writes of concurrent requests must not
        # interleave inside it (one's commit would take another's half-done rows).
        self._write_lock = asyncio.Lock()
        self.migrated = migrated  # the migrations applied when it was opened

    @classmethod
    async def open(cls, path: Path) -> Store:
        """Open (creating if needed) and migrate the database at `path`; raise StoreError.

        The connection is closed again on any failure: its thread is not a daemon, so a
        connection left open keeps the process alive after the error.
        """
        connection = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            connection = aiosqlite.connect(path)
            db = await connection
        except (OSError, aiosqlite.Error) as e:
            # aiosqlite queued a stop for its thread without waiting: let the thread end before
            # our loop can close, or it dies printing "Event loop is closed" (aiosqlite <0.23).
            thread = getattr(connection, "_thread", None)
            if thread is not None and thread.is_alive():
                await asyncio.to_thread(thread.join, 5)
            raise StoreError(f"cannot open the database {path}: {e}; check that its folder "
                             "exists and this user may write there") from e
        try:
            db.row_factory = aiosqlite.Row
            await db.execute("PRAGMA journal_mode = WAL")  # readers never wait for the writer
            await db.execute("PRAGMA foreign_keys = ON")
            await db.execute("PRAGMA busy_timeout = 5000")
            applied = await migrate(db)
        except aiosqlite.Error as e:
            await db.close()
            raise StoreError(f"cannot use the database {path}: {e}; if it is damaged, move it "
                             "aside (a new one is created at start) or restore a backup; if "
                             "it is read-only, let this user write it and its folder") from e
        return cls(db, tuple(applied))

    async def close(self) -> None:
        """Close the connection (WAL is checkpointed on close)."""
        await self.db.close()

    async def check(self) -> None:
        """Raise StoreUnavailable if the last write failed or the database cannot be read."""
        if self.failing:
            raise StoreUnavailable(self.failing)
        try:
            async with self.db.execute("SELECT 1") as cursor:
                await cursor.fetchone()
        except (aiosqlite.Error, ValueError) as e:  # ValueError: the connection is closed
            raise StoreUnavailable(f"the database cannot be read: {e}") from e

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[aiosqlite.Connection]:
        """Make the writes in the body one transaction, committed at its end; remember a
        failure for check() (and /healthz)."""
        async with self._write_lock:
            try:
                yield self.db
                await self.db.commit()
            except (aiosqlite.Error, ValueError) as e:  # ValueError: the connection is closed
                self.failing = reason = f"the database cannot be written: {e}"
                with contextlib.suppress(aiosqlite.Error):
                    await self.db.rollback()  # leave no half-open transaction behind
                raise StoreUnavailable(reason) from e
            self.failing = None

    async def _write(self, sql: str, parameters: tuple[Any, ...]) -> aiosqlite.Cursor:
        """Run one write and commit it."""
        async with self._writing() as db:
            cursor = await db.execute(sql, parameters)
        return cursor

    async def record_generation(self, *, source: str, user_id: str, prompt: str, status: str,
                                steps: Sequence[RankStep] = (), **details: Any) -> int:
        """Log one request, whatever its outcome, with the candidates its rankings weighed (in
        the same transaction: a song is never logged without them); return its id."""
        row = {"source": source, "user_id": user_id, "prompt": prompt, "status": status,
               **details}
        unknown = set(row) - set(Generation.__dataclass_fields__)
        if unknown:  # column names go into the SQL text: only ever our own field names
            raise ValueError(f"unknown generation fields: {sorted(unknown)}")
        names = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        values = tuple(_storable(v) for v in row.values())
        candidates = candidate_rows(steps)  # before the transaction: a bad step is a bug
        async with self._writing() as db:
            cursor = await db.execute(f"INSERT INTO generations ({names}) VALUES ({marks})",
                                      values)
            generation_id = int(cursor.lastrowid or 0)
            await db.executemany(
                """INSERT INTO candidates (generation_id, step, section, line, option, text,
                                           features, kept) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                [(generation_id, *row) for row in candidates])
        return generation_id

    async def compact_candidates(self, before_iso: str) -> int:
        """Delete the candidates not kept of songs logged before an ISO time, a batch per
        transaction (the kept ones stay: every song keeps the features of what it showed);
        return how many were deleted."""
        # Ids grow with created_at, so one id bounds the old songs and the partial index on
        # the lost candidates finds them without reading the kept ones again.
        async with self.db.execute(
            """SELECT COALESCE((SELECT MIN(id) FROM generations WHERE created_at >= ?),
                               (SELECT COALESCE(MAX(id), 0) + 1 FROM generations))""",
            (before_iso,)) as cursor:
            (bound,) = await cursor.fetchone()  # type: ignore[misc]
        deleted = 0
        while True:
            cursor = await self._write(
                """DELETE FROM candidates WHERE id IN (
                       SELECT id FROM candidates WHERE kept = 0 AND generation_id < ?
                       LIMIT ?)""", (bound, COMPACT_BATCH))
            deleted += cursor.rowcount
            if cursor.rowcount < COMPACT_BATCH:
                return deleted

    async def generation(self, generation_id: int) -> Generation | None:
        """Return one logged request."""
        async with self.db.execute(f"SELECT {_COLUMNS} FROM generations WHERE id = ?",
                                   (generation_id,)) as cursor:
            row = await cursor.fetchone()
        return Generation(**dict(row)) if row else None

    async def vote(self, generation_id: int, user_id: str, value: int) -> Votes:
        """Record (or change) one user's vote on a generation; return the new totals."""
        await self._write(
            """INSERT INTO votes (generation_id, user_id, value) VALUES (?, ?, ?)
               ON CONFLICT (generation_id, user_id)
               DO UPDATE SET value = excluded.value,
                             voted_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')""",
            (generation_id, user_id, value))
        return await self.votes(generation_id)

    async def votes(self, generation_id: int) -> Votes:
        """Return the vote totals of a generation."""
        async with self.db.execute(
            """SELECT COALESCE(SUM(value = 1), 0), COALESCE(SUM(value = -1), 0)
               FROM votes WHERE generation_id = ?""", (generation_id,)) as cursor:
            up, down = await cursor.fetchone()  # type: ignore[misc]
        return Votes(up, down)

    async def history(self, user_id: str, limit: int) -> list[Generation]:
        """Return a user's most recent generations, newest first."""
        async with self.db.execute(
            f"""SELECT {_COLUMNS} FROM generations WHERE user_id = ?
                ORDER BY id DESC LIMIT ?""", (user_id, limit)) as cursor:
            return [Generation(**dict(row)) async for row in cursor]

    async def recent(self, limit: int) -> list[tuple[Generation, Votes]]:
        """Return the most recent successful generations with their votes, newest first."""
        async with self.db.execute(
            f"""SELECT {_COLUMNS},
                   (SELECT COUNT(*) FROM votes v WHERE v.generation_id = g.id AND value = 1),
                   (SELECT COUNT(*) FROM votes v WHERE v.generation_id = g.id AND value = -1)
                FROM generations g WHERE status = 'ok' ORDER BY id DESC LIMIT ?""",
            (limit,)) as cursor:
            rows = await cursor.fetchall()
        width = len(fields(Generation))
        return [(Generation(*row[:width]), Votes(*row[width:])) for row in rows]

    async def count_since(self, since_iso: str) -> int:
        """Count successful generations since an ISO time."""
        async with self.db.execute(
            "SELECT COUNT(*) FROM generations WHERE status = 'ok' AND created_at >= ?",
            (since_iso,)) as cursor:
            (count,) = await cursor.fetchone()  # type: ignore[misc]
        return int(count)

    async def attribute_old_rows(self, run_artists: dict[str, str], default_artist: str) -> int:
        """Give the rows logged before there were several artists their artist and run: the
        artist whose registry holds the run that wrote a row, else `default_artist` (whose
        home it was). Return how many rows were attributed."""
        count = 0
        for run_id, artist in run_artists.items():
            cursor = await self.db.execute(
                "UPDATE generations SET artist = ?, run_id = ? "
                "WHERE artist IS NULL AND model_id = ?", (artist, run_id, run_id))
            count += cursor.rowcount
        cursor = await self.db.execute(
            "UPDATE generations SET artist = ? WHERE artist IS NULL", (default_artist,))
        await self.db.commit()
        return count + cursor.rowcount

    async def guild_artist(self, guild_id: str) -> str | None:
        """Return the default artist a server's admins chose, if any."""
        async with self.db.execute("SELECT artist FROM guild_artists WHERE guild_id = ?",
                                   (guild_id,)) as cursor:
            row = await cursor.fetchone()
        return row[0] if row else None

    async def set_guild_artist(self, guild_id: str, artist: str, set_by: str) -> None:
        """Make `artist` a server's default artist."""
        await self._write(
            """INSERT INTO guild_artists (guild_id, artist, set_by) VALUES (?, ?, ?)
               ON CONFLICT (guild_id) DO UPDATE SET artist = excluded.artist,
                   set_by = excluded.set_by, set_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')""",
            (guild_id, artist, set_by))

    async def explicit_allowed(self, guild_id: str) -> bool:
        """Say whether a server's admins allow explicit lyrics in its age-restricted channels."""
        async with self.db.execute("SELECT explicit FROM guild_settings WHERE guild_id = ?",
                                   (guild_id,)) as cursor:
            row = await cursor.fetchone()
        return bool(row and row[0])

    async def allow_explicit(self, guild_id: str, allowed: bool, set_by: str) -> None:
        """Allow (or no longer allow) explicit lyrics in a server's age-restricted channels."""
        await self._write(
            """INSERT INTO guild_settings (guild_id, explicit, set_by) VALUES (?, ?, ?)
               ON CONFLICT (guild_id) DO UPDATE SET explicit = excluded.explicit,
                   set_by = excluded.set_by, set_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')""",
            (guild_id, int(allowed), set_by))

    async def start_retrain(self, user_id: str, refresh: bool, artist: str | None = None) -> int:
        """Log the start of a retrain; return its id."""
        cursor = await self.db.execute(
            "INSERT INTO retrains (user_id, refresh, artist) VALUES (?, ?, ?)",
            (user_id, int(refresh), artist))
        await self.db.commit()
        return int(cursor.lastrowid or 0)

    async def finish_retrain(self, retrain_id: int, outcome: str, run_id: str | None = None,
                             perplexity_before: float | None = None,
                             perplexity_after: float | None = None,
                             error: str | None = None) -> None:
        """Log how a retrain ended."""
        await self.db.execute(
            """UPDATE retrains SET finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
                   outcome = ?, run_id = ?, perplexity_before = ?, perplexity_after = ?, error = ?
               WHERE id = ?""",
            (outcome, run_id, perplexity_before, perplexity_after, error, retrain_id))
        await self.db.commit()

    async def meta(self, key: str) -> str | None:
        """Return a stored fact about the bot."""
        async with self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)) as cursor:
            row = await cursor.fetchone()
        return row[0] if row else None

    async def set_meta(self, key: str, value: str) -> None:
        """Store a fact about the bot."""
        await self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))
        await self.db.commit()

    async def forget_user(self, user_id: str) -> tuple[int, int]:
        """Delete everything one user made: their generations (and votes on them), their votes."""
        votes = await self.db.execute("DELETE FROM votes WHERE user_id = ?", (user_id,))
        generations = await self.db.execute("DELETE FROM generations WHERE user_id = ?",
                                            (user_id,))
        await self.db.execute("UPDATE retrains SET user_id = 'deleted' WHERE user_id = ?",
                              (user_id,))
        await self.db.execute("UPDATE guild_artists SET set_by = 'deleted' WHERE set_by = ?",
                              (user_id,))
        await self.db.commit()
        return generations.rowcount, votes.rowcount

    async def export(self, since_iso: str | None = None) -> AsyncIterator[dict[str, Any]]:
        """Yield successful generations with their vote totals, oldest first."""
        async with self.db.execute(
            f"""SELECT {_COLUMNS},
                   (SELECT COUNT(*) FROM votes v WHERE v.generation_id = g.id AND value = 1)
                       AS votes_up,
                   (SELECT COUNT(*) FROM votes v WHERE v.generation_id = g.id AND value = -1)
                       AS votes_down
                FROM generations g WHERE status = 'ok' AND created_at >= ? ORDER BY id""",
            (since_iso or "",)) as cursor:
            async for row in cursor:
                yield dict(row)
