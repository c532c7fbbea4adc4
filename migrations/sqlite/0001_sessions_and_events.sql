-- Sessions and their messages: the session record auditors read.
CREATE TABLE sessions (
    id               TEXT PRIMARY KEY,
    principal        TEXT NOT NULL,
    groups_json      TEXT NOT NULL DEFAULT '[]',
    server           TEXT NOT NULL,
    era              TEXT NOT NULL,
    client_name      TEXT,
    client_version   TEXT,
    protocol_version TEXT,
    started_at       TEXT NOT NULL,
    last_seen_at     TEXT NOT NULL,
    ended_at         TEXT,
    end_reason       TEXT,
    message_count    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sessions_started ON sessions (started_at);

-- Append-only: one row per message in either direction, or per gateway event
-- (session start/end, errors the gateway itself answered).
CREATE TABLE audit_events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions (id),
    at         TEXT NOT NULL,
    direction  TEXT NOT NULL CHECK (direction IN ('client_to_server', 'server_to_client', 'gateway')),
    kind       TEXT NOT NULL,
    method     TEXT,
    tool       TEXT,
    rpc_id     TEXT,
    payload    TEXT NOT NULL
);
CREATE INDEX audit_events_session ON audit_events (session_id, seq);

CREATE TRIGGER audit_events_append_only_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_append_only_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
