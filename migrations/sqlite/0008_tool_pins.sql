-- Tool pinning: the digest of each upstream tool's definition (name, description, input
-- schema) when first seen. A later, different definition is kept as `pending_digest`
-- until an admin accepts it; on pinned servers the tool is blocked meanwhile.
CREATE TABLE tool_pins (
    server             TEXT NOT NULL,
    tool               TEXT NOT NULL,
    digest             TEXT NOT NULL,
    definition         TEXT NOT NULL,
    pending_digest     TEXT,
    pending_definition TEXT,
    first_seen         TEXT NOT NULL,
    changed_at         TEXT,
    accepted_by        TEXT,
    accepted_at        TEXT,
    PRIMARY KEY (server, tool)
);
