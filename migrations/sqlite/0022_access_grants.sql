-- Just-in-time access: a person asked for a role on a server for a while, approvers
-- decided through the approvals table (method 'access/request'), and an approved request
-- became this grant. A grant is live from starts_at until ends_at, unless ended early
-- (ended_at, ended_by, end_reason). Rows are never deleted: access reviews and evidence
-- read past grants.
CREATE TABLE access_grants (
    id          TEXT PRIMARY KEY,
    approval_id TEXT NOT NULL UNIQUE REFERENCES approvals (id),
    person      TEXT NOT NULL,
    server      TEXT NOT NULL,
    role        TEXT NOT NULL,
    rule        TEXT NOT NULL,
    reason      TEXT NOT NULL,
    starts_at   TEXT NOT NULL,
    ends_at     TEXT NOT NULL,
    ended_at    TEXT,
    ended_by    TEXT,
    end_reason  TEXT CHECK (end_reason IN ('revoked', 'expired'))
);
CREATE INDEX access_grants_live ON access_grants (person, server, ends_at);
CREATE INDEX access_grants_server ON access_grants (server, starts_at);
