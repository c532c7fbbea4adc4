-- The control plane as the OAuth 2.1 authorization server MCP clients see.
-- Clients registered dynamically (RFC 7591) or known by a client ID metadata document.
CREATE TABLE authz_clients (
    client_id          TEXT PRIMARY KEY,
    client_name        TEXT NOT NULL,
    redirect_uris_json TEXT NOT NULL,
    source             TEXT NOT NULL,      -- 'registered' | 'metadata_document'
    created_at         TEXT NOT NULL
);

-- One person's consent to one client for one resource: the "session" every code, refresh
-- token and access token (claim `sid`) hangs off. Revoking it ends them all.
CREATE TABLE authz_grants (
    id              TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL,
    principal       TEXT NOT NULL,
    groups_json     TEXT NOT NULL,
    resource        TEXT NOT NULL,
    scope           TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    -- The identity provider's refresh token from the person's sign-in (offline_access),
    -- redeemed at every refresh so the provider's word on the person (disabled, groups
    -- changed) counts within one access-token lifetime.
    idp_refresh_token TEXT,
    revoked_at      TEXT,
    revoked_reason  TEXT
);
CREATE INDEX authz_grants_principal ON authz_grants (principal);

-- Authorization codes: only their SHA-256 is stored; single use, short-lived.
CREATE TABLE authz_codes (
    code_hash       TEXT PRIMARY KEY,
    grant_id        TEXT NOT NULL REFERENCES authz_grants (id),
    client_id       TEXT NOT NULL,
    redirect_uri    TEXT NOT NULL,
    code_challenge  TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    used_at         TEXT
);

-- Refresh tokens: SHA-256 only; each use rotates it (rotated_at set, a new row made).
-- Presenting a rotated one again is reuse: the whole grant is revoked.
CREATE TABLE authz_refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    grant_id    TEXT NOT NULL REFERENCES authz_grants (id),
    client_id   TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    rotated_at  TEXT
);
CREATE INDEX authz_refresh_grant ON authz_refresh_tokens (grant_id);
