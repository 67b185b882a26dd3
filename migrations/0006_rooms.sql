-- Lyrics fit for the room: how many candidate lines each song's word filter refused (the log
-- keeps that a line was filtered, never the word), and each Discord server's own choice to
-- allow explicit lyrics in its age-restricted channels (/settings; off until an admin says so).
ALTER TABLE generations ADD COLUMN filtered INTEGER;  -- NULL in rows logged before this

CREATE TABLE guild_settings (
    guild_id TEXT PRIMARY KEY,
    explicit INTEGER NOT NULL DEFAULT 0 CHECK (explicit IN (0, 1)),
    set_by   TEXT NOT NULL,  -- the Discord user id of the admin who changed it last
    set_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
