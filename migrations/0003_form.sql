-- The song form each request asked for: "verse" (a stretch of lyrics) or "song" (sections).
ALTER TABLE generations ADD COLUMN form TEXT NOT NULL DEFAULT 'verse'
    CHECK (form IN ('verse', 'song'));
