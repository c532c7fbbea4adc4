-- Dashboard sign-ins. The browser's cookie holds a random id; only its SHA-256 is stored,
-- so a copy of the database cannot be used to sign in. Sign-out sets revoked_at.
CREATE TABLE web_sessions (
    id_hash     TEXT PRIMARY KEY,
    principal   TEXT NOT NULL,
    groups_json TEXT NOT NULL,
    via         TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    revoked_at  TEXT
);

-- Per-session summaries kept by a trigger, so the Sessions page filters 100,000 sessions
-- by index instead of scanning their events.
ALTER TABLE sessions ADD COLUMN masked_total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN denied INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
CREATE TABLE session_tools (
    tool       TEXT NOT NULL,
    session_id TEXT NOT NULL,
    PRIMARY KEY (tool, session_id)
) WITHOUT ROWID;
CREATE INDEX sessions_principal ON sessions (principal, started_at);
CREATE INDEX sessions_server ON sessions (server, started_at);

UPDATE sessions SET
    masked_total = COALESCE((SELECT SUM(j.value) FROM audit_events e, json_each(e.masked) j WHERE e.session_id = sessions.id), 0),
    denied = (SELECT COUNT(*) FROM audit_events e WHERE e.session_id = sessions.id AND json_extract(e.decision, '$.effect') = 'deny'),
    held = (SELECT COUNT(*) FROM audit_events e WHERE e.session_id = sessions.id AND json_extract(e.decision, '$.effect') = 'require_approval');
INSERT OR IGNORE INTO session_tools (tool, session_id)
    SELECT DISTINCT tool, session_id FROM audit_events WHERE tool IS NOT NULL;

CREATE TRIGGER audit_events_summary AFTER INSERT ON audit_events
WHEN NEW.masked IS NOT NULL OR NEW.decision IS NOT NULL
BEGIN
    UPDATE sessions SET
        masked_total = masked_total + COALESCE((SELECT SUM(value) FROM json_each(NEW.masked)), 0),
        denied = denied + COALESCE(json_extract(NEW.decision, '$.effect') = 'deny', 0),
        held = held + COALESCE(json_extract(NEW.decision, '$.effect') = 'require_approval', 0)
    WHERE id = NEW.session_id;
END;
CREATE TRIGGER audit_events_tools AFTER INSERT ON audit_events
WHEN NEW.tool IS NOT NULL
BEGIN
    INSERT OR IGNORE INTO session_tools (tool, session_id) VALUES (NEW.tool, NEW.session_id);
END;

-- An admin who refuses a changed tool definition: the tool stays blocked, and the alert
-- shows who refused it, until the server goes back to the accepted definition.
ALTER TABLE tool_pins ADD COLUMN rejected_by TEXT;
ALTER TABLE tool_pins ADD COLUMN rejected_at TEXT;
