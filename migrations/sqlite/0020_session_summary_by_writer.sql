-- The writer keeps each session's summary (message_count, last_seen_at, masked_total,
-- denied, held) and its tool list itself, once per session per committed group, in the
-- same transaction as the events. The per-event triggers did the same with two or three
-- more statements for every event, on the path every MCP call waits for.
DROP TRIGGER audit_events_count;
DROP TRIGGER audit_events_summary;
DROP TRIGGER audit_events_tools;
