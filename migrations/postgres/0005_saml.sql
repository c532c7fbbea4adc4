-- SAML assertions already used to sign in (replay guard); see migrations/sqlite/0014_saml.sql.
CREATE TABLE saml_assertions_seen (
    id         TEXT PRIMARY KEY,
    seen_at    TEXT NOT NULL
);
