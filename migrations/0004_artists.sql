-- Several artists in one bot: the artist each request asked for and the run that wrote it,
-- the artist of each retrain, and each Discord server's default artist (/artist default:).
ALTER TABLE generations ADD COLUMN artist TEXT;  -- NULL only in rows logged before this
ALTER TABLE generations ADD COLUMN run_id TEXT;  -- NULL: the base model (or a row from before)
ALTER TABLE retrains ADD COLUMN artist TEXT;
CREATE INDEX generations_by_artist ON generations (artist, created_at);

CREATE TABLE guild_artists (
    guild_id TEXT PRIMARY KEY,
    artist   TEXT NOT NULL,
    set_by   TEXT NOT NULL,  -- the Discord user id of the admin who chose it
    set_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
