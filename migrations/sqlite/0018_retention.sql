-- Retention (issue 6): events older than `[audit] retention_days` are archived to a
-- bundle, then pruned under a signed anchor that lets the rest of the log still verify.
-- `frontier` is the Merkle frontier at `tree_size` (JSON array of hex subtree hashes).
CREATE TABLE audit_anchors (
    tree_size      INTEGER PRIMARY KEY,
    root_hash      TEXT NOT NULL,
    chain_head     TEXT NOT NULL,
    frontier       TEXT NOT NULL,
    pruned_before  TEXT NOT NULL,
    archive        TEXT NOT NULL,
    archive_digest TEXT NOT NULL,
    at             TEXT NOT NULL,
    public_key     TEXT NOT NULL,
    signature      TEXT NOT NULL
);
-- The frontier each checkpoint was computed from, so the next one hashes only the
-- events after it (and a pruned log can still be checkpointed).
ALTER TABLE checkpoints ADD COLUMN frontier TEXT;
-- Still append-only, except that events covered by a retention anchor may be deleted
-- (the anchor is written first, in the prune's own transaction).
DROP TRIGGER audit_events_append_only_delete;
CREATE TRIGGER audit_events_append_only_delete BEFORE DELETE ON audit_events
WHEN OLD.seq > COALESCE((SELECT MAX(tree_size) FROM audit_anchors), 0)
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
