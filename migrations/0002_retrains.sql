-- Admin retrains (who, when, outcome, metrics), and small key/value facts about the bot.
CREATE TABLE retrains (
    id                INTEGER PRIMARY KEY,
    started_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at       TEXT,
    user_id           TEXT NOT NULL,
    refresh           INTEGER NOT NULL DEFAULT 0,
    outcome           TEXT NOT NULL DEFAULT 'running'
                      CHECK (outcome IN ('running', 'published', 'failed')),
    run_id            TEXT,
    perplexity_before REAL,
    perplexity_after  REAL,
    error             TEXT
);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
