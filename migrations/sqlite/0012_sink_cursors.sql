-- How far each SIEM sink ([[audit.sinks]]) has delivered the audit log: the last `seq`
-- it handed over. Moved only after a delivery succeeded, so a restart resumes there
-- (at-least-once: a crash between delivery and this update repeats one batch).
CREATE TABLE audit_sink_cursors (
    sink TEXT PRIMARY KEY,
    seq  INTEGER NOT NULL,
    at   TEXT NOT NULL
);
