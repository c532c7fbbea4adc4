-- Calls held for human approval, and the votes on them. An approval binds to the exact
-- request (server, method, tool, canonical-arguments digest) and expires.
CREATE TABLE approvals (
    id            TEXT PRIMARY KEY,
    session_id    TEXT NOT NULL REFERENCES sessions (id),
    requester     TEXT NOT NULL,
    server        TEXT NOT NULL,
    method        TEXT NOT NULL,
    tool          TEXT,
    digest        TEXT NOT NULL,
    arguments     TEXT NOT NULL,
    approvers     TEXT NOT NULL,
    quorum        INTEGER NOT NULL,
    mode          TEXT NOT NULL,
    rule          TEXT,
    state         TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'expired', 'used')),
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    decided_at    TEXT,
    reason        TEXT
);
CREATE INDEX approvals_pending ON approvals (state, expires_at);
CREATE INDEX approvals_digest ON approvals (digest, requester);

CREATE TABLE approval_votes (
    approval_id TEXT NOT NULL REFERENCES approvals (id),
    approver    TEXT NOT NULL,
    vote        TEXT NOT NULL CHECK (vote IN ('approve', 'deny')),
    reason      TEXT NOT NULL,
    at          TEXT NOT NULL,
    PRIMARY KEY (approval_id, approver)
);
