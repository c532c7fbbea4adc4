-- Agents: the in-network processes that dial out to the control plane and reach upstream
-- servers the control plane cannot. Tokens are stored only as SHA-256 hashes; each token
-- belongs to one agent name. Upstream credentials are never stored here: they stay in the
-- agent's own config.
CREATE TABLE agent_tokens (
    id           TEXT PRIMARY KEY,
    agent        TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    revoked_at   TEXT,
    revoked_by   TEXT
);
CREATE INDEX agent_tokens_agent ON agent_tokens (agent);

-- Agent names an admin drained: no new sessions go to them; open ones finish.
CREATE TABLE agent_drains (
    agent      TEXT PRIMARY KEY,
    drained_by TEXT NOT NULL,
    drained_at TEXT NOT NULL
);

-- Agent connections, for `gatehouse agents list`: who connected with which version and
-- servers, when it was last heard from, and how it ended.
CREATE TABLE agent_connections (
    id                TEXT PRIMARY KEY,
    agent             TEXT NOT NULL,
    token_id          TEXT NOT NULL,
    version           TEXT NOT NULL,
    servers_json      TEXT NOT NULL,
    connected_at      TEXT NOT NULL,
    last_seen_at      TEXT NOT NULL,
    disconnected_at   TEXT,
    disconnect_reason TEXT
);
CREATE INDEX agent_connections_agent ON agent_connections (agent, connected_at);
