-- Signed checkpoints: an Ed25519 signature over the RFC 6962 Merkle tree head of events
-- 1..tree_size and the chain hash at tree_size.
CREATE TABLE checkpoints (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    tree_size  INTEGER NOT NULL,
    root_hash  TEXT NOT NULL,
    chain_head TEXT NOT NULL,
    at         TEXT NOT NULL,
    public_key TEXT NOT NULL,
    signature  TEXT NOT NULL
);
