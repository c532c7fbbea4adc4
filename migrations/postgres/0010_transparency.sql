-- Transparency (issue 20): the PostgreSQL twin of migrations/sqlite/0019_transparency.sql.
CREATE TABLE audit_tree_nodes (
    id   BIGINT PRIMARY KEY,
    hash BYTEA NOT NULL
);
CREATE TABLE audit_tree (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    size       BIGINT NOT NULL,
    frontier   TEXT NOT NULL,
    chain_head TEXT
);
ALTER TABLE checkpoints ADD COLUMN note TEXT;
ALTER TABLE checkpoints ADD COLUMN key_id TEXT;
CREATE TABLE audit_witnesses (
    name          TEXT PRIMARY KEY,
    size          BIGINT NOT NULL DEFAULT 0,
    checkpoint_id BIGINT,
    last_error    TEXT,
    attempted_at  TEXT,
    delivered_at  TEXT
);
CREATE TABLE audit_cosignatures (
    witness       TEXT NOT NULL,
    checkpoint_id BIGINT NOT NULL,
    tree_size     BIGINT NOT NULL,
    signatures    TEXT,
    at            TEXT NOT NULL,
    PRIMARY KEY (witness, checkpoint_id)
);
