-- Keep sessions.message_count and last_seen_at current inside the same statement that
-- appends an event, so a group of events is one INSERT.
CREATE TRIGGER audit_events_count AFTER INSERT ON audit_events
BEGIN
    UPDATE sessions SET message_count = message_count + 1, last_seen_at = NEW.at WHERE id = NEW.session_id;
END;
