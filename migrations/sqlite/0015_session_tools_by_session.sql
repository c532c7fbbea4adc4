-- The Sessions page lists each session's tools: look them up by session, not by scan.
CREATE INDEX session_tools_session ON session_tools (session_id);
