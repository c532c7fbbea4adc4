-- Periodic access reviews (SOC 2 CC6.2/CC6.3): who could use each server in a period,
-- what they did with it, and each owner's keep/revoke decision. A review's entries are a
-- snapshot taken when it starts; once every entry is decided it closes and its result
-- (result_json, whose SHA-256 is result_digest) is recorded in the audit log.
CREATE TABLE access_reviews (
    id            TEXT PRIMARY KEY,
    period        TEXT NOT NULL,
    period_from   TEXT NOT NULL,
    period_to     TEXT NOT NULL,
    covered_to    TEXT NOT NULL,
    started_by    TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('open', 'closed')),
    closed_by     TEXT,
    closed_at     TEXT,
    result_json   TEXT,
    result_digest TEXT
);
CREATE INDEX access_reviews_period ON access_reviews (period_from, period_to);

CREATE TABLE access_review_entries (
    review_id     TEXT NOT NULL REFERENCES access_reviews (id),
    entry         INTEGER NOT NULL,
    person        TEXT NOT NULL,
    server        TEXT NOT NULL,
    access_json   TEXT NOT NULL,
    lost_at       TEXT,
    sessions      INTEGER NOT NULL,
    calls         INTEGER NOT NULL,
    refusals      INTEGER NOT NULL,
    last_used     TEXT,
    reviewers     TEXT NOT NULL,
    decision      TEXT CHECK (decision IN ('keep', 'revoke')),
    comment       TEXT,
    decided_by    TEXT,
    decided_at    TEXT,
    change_json   TEXT,
    PRIMARY KEY (review_id, entry)
);
