-- Retention (issue 6): the PostgreSQL twin of migrations/sqlite/0018_retention.sql.
CREATE TABLE audit_anchors (
    tree_size      BIGINT PRIMARY KEY,
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
ALTER TABLE checkpoints ADD COLUMN frontier TEXT;
-- Still append-only, except that events covered by a retention anchor may be deleted.
CREATE FUNCTION audit_events_prune_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.seq <= (SELECT COALESCE(MAX(tree_size), 0) FROM audit_anchors) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only';
END $$;
DROP TRIGGER audit_events_append_only_delete ON audit_events;
CREATE TRIGGER audit_events_append_only_delete BEFORE DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_prune_only();
