-- Every /lyrics (and later web) request, whatever its outcome, and the votes on the results.
CREATE TABLE generations (
    id           INTEGER PRIMARY KEY,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    source       TEXT NOT NULL CHECK (source IN ('discord', 'web')),
    user_id      TEXT NOT NULL,          -- Discord user id, or the web client's key
    user_name    TEXT,
    guild_id     TEXT,
    channel_id   TEXT,
    prompt       TEXT NOT NULL,
    album        TEXT,
    temperature  REAL,
    lines        INTEGER,
    output       TEXT,
    model_id     TEXT,
    copied_words INTEGER,
    queue_ms     REAL,
    generate_ms  REAL,
    status       TEXT NOT NULL CHECK (status IN ('ok', 'busy', 'rejected', 'error')),
    error        TEXT
);
CREATE INDEX generations_by_user ON generations (user_id, created_at);
CREATE INDEX generations_by_time ON generations (created_at);

CREATE TABLE votes (
    generation_id INTEGER NOT NULL REFERENCES generations (id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL,
    value         INTEGER NOT NULL CHECK (value IN (-1, 1)),
    voted_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (generation_id, user_id)
);
CREATE INDEX votes_by_user ON votes (user_id);
