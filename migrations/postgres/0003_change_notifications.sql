-- Every replica LISTENs on `gatehouse_changes` (store::db::CHANGES_CHANNEL): a published
-- policy version or a changed approval reaches all of them at once, whichever replica
-- (or CLI) made it. Their pollers stay as the fallback.
CREATE FUNCTION gatehouse_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gatehouse_changes', TG_ARGV[0]);
    RETURN NULL;
END $$;
CREATE TRIGGER policies_notify AFTER INSERT ON policies
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_change('policy');
CREATE TRIGGER approvals_notify AFTER INSERT OR UPDATE ON approvals
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_change('approval');
CREATE TRIGGER approval_votes_notify AFTER INSERT ON approval_votes
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_change('approval');
