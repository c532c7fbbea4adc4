-- SAML assertions already used to sign in: an assertion is accepted once (replay guard),
-- remembered until it could no longer be valid anyway.
CREATE TABLE saml_assertions_seen (
    id         TEXT PRIMARY KEY,
    seen_at    TEXT NOT NULL
);
