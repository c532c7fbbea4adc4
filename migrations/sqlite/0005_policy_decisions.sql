-- The policy decision for a client request: effect, deciding rule (or default) and the
-- policy version in force, as JSON. NULL for messages that are not policy-checked.
ALTER TABLE audit_events ADD COLUMN decision TEXT;
