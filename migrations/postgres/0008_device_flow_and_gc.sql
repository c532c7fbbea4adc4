-- Sign-in for machines without a browser (RFC 8628 device authorization grant). The device
-- polls with the device code; the person types the short user code on the verification
-- page, consents and signs in at the identity provider. Both codes are stored as SHA-256
-- digests only. status: pending -> approved | denied; approved -> redeemed (once).
CREATE TABLE authz_device_codes (
    device_code_hash TEXT PRIMARY KEY,
    user_code_hash   TEXT NOT NULL UNIQUE,
    client_id        TEXT NOT NULL,
    resource         TEXT NOT NULL,
    scope            TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    expires_at       TEXT NOT NULL,
    interval_secs    BIGINT NOT NULL,
    last_polled_at   TEXT,
    status           TEXT NOT NULL,
    grant_id         TEXT REFERENCES authz_grants (id),
    decided_at       TEXT
);
CREATE INDEX authz_device_codes_expires ON authz_device_codes (expires_at);

-- The grant types a client registered (JSON list; NULL: authorization_code and
-- refresh_token), and when it was last used (unused registrations are collected).
ALTER TABLE authz_clients ADD COLUMN grant_types_json TEXT;
ALTER TABLE authz_clients ADD COLUMN last_used_at TEXT;

CREATE INDEX authz_codes_expires ON authz_codes (expires_at);
CREATE INDEX authz_refresh_expires ON authz_refresh_tokens (expires_at);

-- The identity provider's refresh tokens are now kept encrypted (AES-256-GCM). Ones kept
-- in the clear before cannot be encrypted here: they are erased and their sign-ins end,
-- so those people sign in again once.
UPDATE authz_grants
   SET revoked_at = COALESCE(revoked_at, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')),
       revoked_reason = COALESCE(revoked_reason, 'ended by the upgrade that encrypts identity provider tokens at rest; sign in again'),
       idp_refresh_token = NULL
 WHERE idp_refresh_token IS NOT NULL;
