-- Records uploaded from laptops' local capture spools (POST /api/v1/spool). The record id
-- is the laptop's stable id: the unique key makes re-uploads (after a crash between the
-- upload and the spool's delete, or a lost acknowledgement) change nothing. `seq` is the
-- audit event the record became; `captured_at` is when the laptop recorded it.
CREATE TABLE spool_records (
    id          TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES sessions (id),
    seq         INTEGER NOT NULL,
    captured_at TEXT NOT NULL,
    uploaded_at TEXT NOT NULL
);
CREATE INDEX spool_records_session ON spool_records (session_id);
