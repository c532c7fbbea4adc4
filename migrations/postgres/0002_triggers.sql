-- The guards and summaries SQLite keeps with triggers (0001, 0002, 0011).

-- Append-only: no row of the audit log is ever changed or removed, nor the table emptied.
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END $$;
CREATE TRIGGER audit_events_append_only_update BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_append_only_delete BEFORE DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_append_only_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- Session summaries (message count, last seen, masked values, denials, holds, tools),
-- kept inside the statement that appends the events. One statement-level trigger over
-- the inserted rows: a group of 500 events updates each session once, not 500 times.
CREATE FUNCTION audit_events_summarise() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE sessions s SET
        message_count = s.message_count + n.messages,
        last_seen_at = n.last_at,
        masked_total = s.masked_total + n.masked,
        denied = s.denied + n.denied,
        held = s.held + n.held
    FROM (
        SELECT r.session_id,
               COUNT(*) AS messages,
               MAX(r.at) AS last_at,
               COALESCE(SUM(m.total), 0) AS masked,
               COUNT(*) FILTER (WHERE r.decision::jsonb ->> 'effect' = 'deny') AS denied,
               COUNT(*) FILTER (WHERE r.decision::jsonb ->> 'effect' = 'require_approval') AS held
        FROM new_events r
        LEFT JOIN LATERAL (
            SELECT SUM(j.value::bigint) AS total FROM jsonb_each_text(r.masked::jsonb) j
        ) m ON true
        GROUP BY r.session_id
    ) n
    WHERE s.id = n.session_id;
    INSERT INTO session_tools (tool, session_id)
        SELECT DISTINCT tool, session_id FROM new_events WHERE tool IS NOT NULL
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER audit_events_summary AFTER INSERT ON audit_events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_summarise();
