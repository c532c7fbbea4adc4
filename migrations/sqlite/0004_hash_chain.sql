-- The hash chain: each event stores the previous event's hash and its own
-- (gatehouse-audit::chain_hash), so any change, removal or reordering is detectable.
ALTER TABLE audit_events ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_events ADD COLUMN hash TEXT;
