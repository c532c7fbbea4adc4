-- audit_events without AUTOINCREMENT: the writer gives every event its `seq` (the hash
-- chain's position), so SQLite's own sequence table only cost one more lookup, update and
-- written page per commit. Same columns in the same order, same index, same append-only
-- guards. The copy is done once, at this upgrade, and takes as long as the log is large.
CREATE TABLE audit_events_new (
    seq        INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id),
    at         TEXT NOT NULL,
    direction  TEXT NOT NULL CHECK (direction IN ('client_to_server', 'server_to_client', 'gateway')),
    kind       TEXT NOT NULL,
    method     TEXT,
    tool       TEXT,
    rpc_id     TEXT,
    payload    TEXT NOT NULL,
    masked     TEXT,
    prev_hash  TEXT,
    hash       TEXT,
    decision   TEXT
);
INSERT INTO audit_events_new (seq, session_id, at, direction, kind, method, tool, rpc_id, payload, masked, prev_hash, hash, decision)
    SELECT seq, session_id, at, direction, kind, method, tool, rpc_id, payload, masked, prev_hash, hash, decision FROM audit_events;
-- Dropping the table drops its index and triggers (a drop fires no trigger).
DROP TABLE audit_events;
ALTER TABLE audit_events_new RENAME TO audit_events;
DELETE FROM sqlite_sequence WHERE name = 'audit_events';
CREATE INDEX audit_events_session ON audit_events (session_id, seq);
CREATE TRIGGER audit_events_append_only_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
-- As 0018: events covered by a retention anchor may be deleted, no others.
CREATE TRIGGER audit_events_append_only_delete BEFORE DELETE ON audit_events
WHEN OLD.seq > COALESCE((SELECT MAX(tree_size) FROM audit_anchors), 0)
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
