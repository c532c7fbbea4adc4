-- Transparency (issue 20).
-- The Merkle tree's perfect subtrees, so an inclusion or consistency proof reads
-- O(log n) rows instead of the log. id = level << 56 | index (NodeId::key); hash is the
-- 32-byte node hash (level 0: SHA-256(0x00 || event hash)). Nodes never change.
CREATE TABLE audit_tree_nodes (
    id   INTEGER PRIMARY KEY,
    hash BLOB NOT NULL
);
-- How far the node table reaches (one row): its size, the Merkle frontier there (JSON
-- array of hex subtree hashes) and the chain hash of event #size.
CREATE TABLE audit_tree (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    size       INTEGER NOT NULL,
    frontier   TEXT NOT NULL,
    chain_head TEXT
);
-- Each checkpoint also as a C2SP tlog-checkpoint note, and the C2SP id of its key.
ALTER TABLE checkpoints ADD COLUMN note TEXT;
ALTER TABLE checkpoints ADD COLUMN key_id TEXT;
-- Each configured witness: the largest tree size it acknowledged, and its last failure.
CREATE TABLE audit_witnesses (
    name         TEXT PRIMARY KEY,
    size         INTEGER NOT NULL DEFAULT 0,
    checkpoint_id INTEGER,
    last_error   TEXT,
    attempted_at TEXT,
    delivered_at TEXT
);
-- What each witness answered per checkpoint: its cosignature lines (webhook witnesses),
-- or nothing for a witness that only keeps the note (file).
CREATE TABLE audit_cosignatures (
    witness       TEXT NOT NULL,
    checkpoint_id INTEGER NOT NULL,
    tree_size     INTEGER NOT NULL,
    signatures    TEXT,
    at            TEXT NOT NULL,
    PRIMARY KEY (witness, checkpoint_id)
);
