-- Every ranking step of every song logged: the candidates it weighed, their ranking features,
-- and the one kept (the line or text that was shown). Steps older than
-- CANDIDATE_RETENTION_DAYS are compacted to their kept row, so the table stays bounded while
-- every song keeps the features of what it showed.
CREATE TABLE candidates (
    id            INTEGER PRIMARY KEY,
    generation_id INTEGER NOT NULL REFERENCES generations (id) ON DELETE CASCADE,
    step          INTEGER NOT NULL,  -- the ranking's place in the song: 0, 1, ...
    section       TEXT,              -- "Verse 1", "Chorus"...; NULL for a verse
    line          INTEGER,           -- the line's place in its section; NULL for a verse
    option        INTEGER NOT NULL,  -- the candidate's place among the step's options
    text          TEXT NOT NULL,
    -- {"likelihood": -2.1, "width": 0.2, "rhyme": 1.0, "drift": 0.0, "copied": 0.0}; a value
    -- that is not a finite number (the likelihood of an empty line) is null
    features      TEXT NOT NULL CHECK (json_valid(features)),
    kept          INTEGER NOT NULL CHECK (kept IN (0, 1)),
    UNIQUE (generation_id, step, option)
);
-- Compaction deletes the candidates not kept, oldest songs first.
CREATE INDEX candidates_lost ON candidates (generation_id) WHERE kept = 0;
