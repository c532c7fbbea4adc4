//! The authorization server's records: MCP clients, grants (one person's consent to one
//! client for one resource), single-use authorization codes and rotating refresh tokens.
//! Codes, device codes and refresh tokens are stored as SHA-256 digests only; the
//! identity provider's refresh token of a grant is stored as the gateway hands it over
//! (sealed: see `identity::authz::at_rest`). Old rows are collected by
//! [`Store::collect_authz_garbage`].

use super::handle::Store;
use super::types::StoreError;
use super::writer::now;
use crate::identity::auth::Principal;
use chrono::{Duration as ChronoDuration, Utc};
use sha2::{Digest, Sha256};
use sqlx::Row;

/// The SHA-256 (hex) under which a secret is stored.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn at(offset: ChronoDuration) -> String {
    (Utc::now() + offset).to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// A registered (or metadata-document) MCP client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthzClient {
    /// Its id (random for registered clients, the document URL otherwise).
    pub client_id: String,
    /// The name shown on the consent page.
    pub client_name: String,
    /// Redirect URIs, matched exactly (loopback port excepted).
    pub redirect_uris: Vec<String>,
    /// `registered` or `metadata_document`.
    pub source: String,
    /// The grant types it may use.
    pub grant_types: Vec<String>,
}

/// The grant types of a client that named none.
pub fn default_grant_types() -> Vec<String> {
    vec!["authorization_code".into(), "refresh_token".into()]
}

/// A person's consent to a client for a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Its id (`sid` in access tokens).
    pub id: String,
    /// The client.
    pub client_id: String,
    /// Who.
    pub principal: Principal,
    /// The audience of its tokens.
    pub resource: String,
    /// Scopes.
    pub scope: String,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// A redeemed authorization code.
#[derive(Debug, Clone)]
pub struct Code {
    /// Its grant.
    pub grant_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The redirect URI of the authorization request.
    pub redirect_uri: String,
    /// The PKCE S256 challenge.
    pub code_challenge: String,
}

/// What presenting a code or refresh token found.
#[derive(Debug, Clone)]
pub enum Redeemed<T> {
    /// First use, within its lifetime.
    Fresh(T),
    /// Used before: the grant (given) must be revoked.
    Replayed(String),
    /// Unknown or expired.
    Unknown,
}

impl Store {
    /// Saves a client (replacing a metadata document's earlier copy).
    pub async fn put_authz_client(&self, c: &AuthzClient) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO authz_clients (client_id, client_name, redirect_uris_json, source, created_at, grant_types_json, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $5) \
             ON CONFLICT (client_id) DO UPDATE SET client_name = excluded.client_name, redirect_uris_json = excluded.redirect_uris_json, source = excluded.source, \
             grant_types_json = excluded.grant_types_json, last_used_at = excluded.last_used_at",
        )
        .bind(&c.client_id)
        .bind(&c.client_name)
        .bind(serde_json::to_string(&c.redirect_uris).unwrap_or_else(|_| "[]".into()))
        .bind(&c.source)
        .bind(now())
        .bind(serde_json::to_string(&c.grant_types).unwrap_or_else(|_| "[]".into()))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A client by id.
    pub async fn authz_client(&self, client_id: &str) -> Result<Option<AuthzClient>, StoreError> {
        let row = sqlx::query(
            "SELECT client_id, client_name, redirect_uris_json, source, grant_types_json FROM authz_clients WHERE client_id = $1",
        )
        .bind(client_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| AuthzClient {
            client_id: r.get("client_id"),
            client_name: r.get("client_name"),
            redirect_uris: serde_json::from_str(&r.get::<String, _>("redirect_uris_json"))
                .unwrap_or_default(),
            source: r.get("source"),
            grant_types: r
                .get::<Option<String>, _>("grant_types_json")
                .and_then(|g| serde_json::from_str(&g).ok())
                .unwrap_or_else(default_grant_types),
        }))
    }

    /// Notes that a client was used now (unused registrations are collected).
    pub async fn touch_authz_client(&self, client_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE authz_clients SET last_used_at = $1 WHERE client_id = $2")
            .bind(now())
            .bind(client_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Records a new grant.
    pub async fn create_grant(&self, g: &Grant) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO authz_grants (id, client_id, principal, groups_json, resource, scope, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&g.id)
        .bind(&g.client_id)
        .bind(&g.principal.user)
        .bind(serde_json::to_string(&g.principal.groups).unwrap_or_else(|_| "[]".into()))
        .bind(&g.resource)
        .bind(&g.scope)
        .bind(now())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Keeps (or replaces) the provider's refresh token of a grant.
    pub async fn set_grant_idp_refresh(
        &self,
        id: &str,
        token: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE authz_grants SET idp_refresh_token = $1 WHERE id = $2")
            .bind(token)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The provider's refresh token of a grant, if it has one.
    pub async fn grant_idp_refresh(&self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar::<_, Option<String>>(
            "SELECT idp_refresh_token FROM authz_grants WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .flatten())
    }

    /// The person's groups as the provider says now.
    pub async fn set_grant_groups(&self, id: &str, groups: &[String]) -> Result<(), StoreError> {
        sqlx::query("UPDATE authz_grants SET groups_json = $1 WHERE id = $2")
            .bind(serde_json::to_string(groups).unwrap_or_else(|_| "[]".into()))
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// A grant by id.
    pub async fn grant(&self, id: &str) -> Result<Option<Grant>, StoreError> {
        let row = sqlx::query(
            "SELECT id, client_id, principal, groups_json, resource, scope, revoked_at FROM authz_grants WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| Grant {
            id: r.get("id"),
            client_id: r.get("client_id"),
            principal: Principal {
                user: r.get("principal"),
                groups: serde_json::from_str(&r.get::<String, _>("groups_json"))
                    .unwrap_or_default(),
            },
            resource: r.get("resource"),
            scope: r.get("scope"),
            revoked: r.get::<Option<String>, _>("revoked_at").is_some(),
        }))
    }

    /// When a grant was made (the person's sign-in), if it exists.
    pub async fn grant_started(
        &self,
        id: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        let at: Option<String> =
            sqlx::query_scalar("SELECT created_at FROM authz_grants WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
        Ok(at.as_deref().and_then(parse_time))
    }

    /// Revokes a grant (its codes, refresh and access tokens); returns its person when
    /// it was live.
    pub async fn revoke_grant(&self, id: &str, reason: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "UPDATE authz_grants SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL RETURNING principal",
        )
        .bind(now())
        .bind(reason)
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Grants revoked in the last `secs` seconds (their access tokens may still be
    /// within their lifetime).
    pub async fn recently_revoked_grants(&self, secs: u64) -> Result<Vec<String>, StoreError> {
        let since = at(-ChronoDuration::seconds(
            i64::try_from(secs).unwrap_or(i64::MAX / 2),
        ));
        Ok(
            sqlx::query_scalar("SELECT id FROM authz_grants WHERE revoked_at > $1")
                .bind(since)
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// Stores a new authorization code (by digest) valid for `secs`.
    pub async fn create_code(&self, code: &str, c: &Code, secs: u64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO authz_codes (code_hash, grant_id, client_id, redirect_uri, code_challenge, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(secret_hash(code))
        .bind(&c.grant_id)
        .bind(&c.client_id)
        .bind(&c.redirect_uri)
        .bind(&c.code_challenge)
        .bind(at(ChronoDuration::seconds(secs as i64)))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Spends a code: fresh the first time (within its lifetime), replayed after.
    pub async fn redeem_code(&self, code: &str) -> Result<Redeemed<Code>, StoreError> {
        let hash = secret_hash(code);
        let row = sqlx::query(
            "UPDATE authz_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL AND expires_at > $3 \
             RETURNING grant_id, client_id, redirect_uri, code_challenge",
        )
        .bind(now())
        .bind(&hash)
        .bind(now())
        .fetch_optional(self.pool())
        .await?;
        if let Some(r) = row {
            return Ok(Redeemed::Fresh(Code {
                grant_id: r.get("grant_id"),
                client_id: r.get("client_id"),
                redirect_uri: r.get("redirect_uri"),
                code_challenge: r.get("code_challenge"),
            }));
        }
        let used: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT grant_id, used_at FROM authz_codes WHERE code_hash = $1")
                .bind(&hash)
                .fetch_optional(self.pool())
                .await?;
        Ok(match used {
            Some((grant, Some(_))) => Redeemed::Replayed(grant),
            _ => Redeemed::Unknown,
        })
    }

    /// Stores a new refresh token (by digest) valid for `days`.
    pub async fn create_refresh_token(
        &self,
        token: &str,
        grant_id: &str,
        client_id: &str,
        days: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO authz_refresh_tokens (token_hash, grant_id, client_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(secret_hash(token))
        .bind(grant_id)
        .bind(client_id)
        .bind(now())
        .bind(at(ChronoDuration::days(days as i64)))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Rotates a refresh token: fresh (grant id, client id) on first use, replayed when
    /// it was rotated before.
    pub async fn rotate_refresh_token(
        &self,
        token: &str,
    ) -> Result<Redeemed<(String, String)>, StoreError> {
        let hash = secret_hash(token);
        let row: Option<(String, String)> = sqlx::query_as(
            "UPDATE authz_refresh_tokens SET rotated_at = $1 WHERE token_hash = $2 AND rotated_at IS NULL AND expires_at > $3 \
             RETURNING grant_id, client_id",
        )
        .bind(now())
        .bind(&hash)
        .bind(now())
        .fetch_optional(self.pool())
        .await?;
        if let Some(r) = row {
            return Ok(Redeemed::Fresh(r));
        }
        let used: Option<(String, Option<String>)> = sqlx::query_as(
            "SELECT grant_id, rotated_at FROM authz_refresh_tokens WHERE token_hash = $1",
        )
        .bind(&hash)
        .fetch_optional(self.pool())
        .await?;
        Ok(match used {
            Some((grant, Some(_))) => Redeemed::Replayed(grant),
            _ => Redeemed::Unknown,
        })
    }

    /// Undoes the rotation of a refresh token whose refresh could not be completed (the
    /// identity provider was unreachable), so the client may try again with it.
    pub async fn restore_refresh_token(&self, token: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE authz_refresh_tokens SET rotated_at = NULL WHERE token_hash = $1")
            .bind(secret_hash(token))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The grant of a refresh token (for revocation), whatever its state.
    pub async fn refresh_token_grant(&self, token: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT grant_id FROM authz_refresh_tokens WHERE token_hash = $1")
                .bind(secret_hash(token))
                .fetch_optional(self.pool())
                .await?,
        )
    }
}

/// A device authorization request (RFC 8628) as the verification page sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRequest {
    /// The digest of its device code (its key).
    pub device_code_hash: String,
    /// The client that asked.
    pub client_id: String,
    /// The audience of the tokens it would get.
    pub resource: String,
    /// Scopes.
    pub scope: String,
}

/// What one poll of the token endpoint with a device code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DevicePoll {
    /// Unknown device code.
    Unknown,
    /// The code was issued to another client.
    OtherClient,
    /// Past its lifetime.
    Expired,
    /// Polled sooner than the interval: it grew by 5 s to this.
    SlowDown(i64),
    /// Nobody decided yet.
    Pending,
    /// The person denied it.
    Denied,
    /// Approved: its grant, now redeemed (only this once).
    Approved(String),
    /// Redeemed before: the grant (given) must be revoked.
    Replayed(String),
}

/// How many rows one collection removed, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthzGarbage {
    /// Expired authorization codes.
    pub codes: u64,
    /// Expired device codes.
    pub device_codes: u64,
    /// Expired refresh tokens and those of revoked grants.
    pub refresh_tokens: u64,
    /// Grants (consent records) that ended: revoked, or with nothing left to use.
    pub grants: u64,
    /// Clients unused for the configured period with no grant left.
    pub clients: u64,
}

impl AuthzGarbage {
    /// Rows removed in all.
    pub fn total(&self) -> u64 {
        self.codes + self.device_codes + self.refresh_tokens + self.grants + self.clients
    }
}

fn parse_time(t: &str) -> Option<chrono::DateTime<Utc>> {
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A new device authorization request.
#[derive(Debug, Clone, Copy)]
pub struct NewDeviceCode<'a> {
    /// The device code (stored as its digest).
    pub device_code: &'a str,
    /// The normalized user code (stored as its digest).
    pub user_code: &'a str,
    /// The client asking.
    pub client_id: &'a str,
    /// The audience of the tokens.
    pub resource: &'a str,
    /// Scopes.
    pub scope: &'a str,
    /// Lifetime in seconds.
    pub secs: u64,
    /// Least seconds between polls.
    pub interval: u64,
}

impl Store {
    /// Stores a device authorization request valid for `secs`, polled at most every
    /// `interval` seconds. False when the user code is taken (the caller draws another).
    pub async fn create_device_code(&self, d: &NewDeviceCode<'_>) -> Result<bool, StoreError> {
        let NewDeviceCode {
            device_code,
            user_code,
            client_id,
            resource,
            scope,
            secs,
            interval,
        } = *d;
        let done = sqlx::query(
            "INSERT INTO authz_device_codes (device_code_hash, user_code_hash, client_id, resource, scope, created_at, expires_at, interval_secs, status) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending') ON CONFLICT DO NOTHING",
        )
        .bind(secret_hash(device_code))
        .bind(secret_hash(user_code))
        .bind(client_id)
        .bind(resource)
        .bind(scope)
        .bind(now())
        .bind(at(ChronoDuration::seconds(secs as i64)))
        .bind(i64::try_from(interval).unwrap_or(5))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The undecided, unexpired request a (normalized) user code names.
    pub async fn pending_device_request(
        &self,
        user_code: &str,
    ) -> Result<Option<DeviceRequest>, StoreError> {
        let row = sqlx::query(
            "SELECT device_code_hash, client_id, resource, scope FROM authz_device_codes \
             WHERE user_code_hash = $1 AND status = 'pending' AND expires_at > $2",
        )
        .bind(secret_hash(user_code))
        .bind(now())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| DeviceRequest {
            device_code_hash: r.get("device_code_hash"),
            client_id: r.get("client_id"),
            resource: r.get("resource"),
            scope: r.get("scope"),
        }))
    }

    /// Records the person's decision on a pending, unexpired device request: approved
    /// with `grant`, or denied (`None`). False when it was decided before or expired.
    pub async fn decide_device_request(
        &self,
        device_code_hash: &str,
        grant: Option<&str>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE authz_device_codes SET status = $1, grant_id = $2, decided_at = $3 \
             WHERE device_code_hash = $4 AND status = 'pending' AND expires_at > $3",
        )
        .bind(if grant.is_some() {
            "approved"
        } else {
            "denied"
        })
        .bind(grant)
        .bind(now())
        .bind(device_code_hash)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// One poll of the token endpoint by `client_id` with `device_code` (RFC 8628 §3.4):
    /// too soon after the last one slows the device down; an approved request is
    /// redeemed exactly once.
    pub async fn poll_device_code(
        &self,
        device_code: &str,
        client_id: &str,
    ) -> Result<DevicePoll, StoreError> {
        let hash = secret_hash(device_code);
        let row = sqlx::query(
            "SELECT client_id, status, expires_at, interval_secs, last_polled_at, grant_id FROM authz_device_codes WHERE device_code_hash = $1",
        )
        .bind(&hash)
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = row else {
            return Ok(DevicePoll::Unknown);
        };
        if r.get::<String, _>("client_id") != client_id {
            return Ok(DevicePoll::OtherClient);
        }
        let status: String = r.get("status");
        let grant: Option<String> = r.get("grant_id");
        if status == "redeemed" {
            return Ok(DevicePoll::Replayed(grant.unwrap_or_default()));
        }
        let now_t = Utc::now();
        if parse_time(&r.get::<String, _>("expires_at")).is_none_or(|e| e <= now_t) {
            return Ok(DevicePoll::Expired);
        }
        let interval: i64 = r.get("interval_secs");
        let too_soon = r
            .get::<Option<String>, _>("last_polled_at")
            .and_then(|t| parse_time(&t))
            .is_some_and(|last| (now_t - last) < ChronoDuration::seconds(interval));
        // Every poll is noted; one too soon also lengthens the interval by 5 s.
        let slow_down: i64 = if too_soon { 5 } else { 0 };
        sqlx::query(
            "UPDATE authz_device_codes SET interval_secs = interval_secs + $1, last_polled_at = $2 WHERE device_code_hash = $3",
        )
        .bind(slow_down)
        .bind(now())
        .bind(&hash)
        .execute(self.pool())
        .await?;
        if too_soon {
            return Ok(DevicePoll::SlowDown(interval + slow_down));
        }
        Ok(match status.as_str() {
            "pending" => DevicePoll::Pending,
            "denied" => DevicePoll::Denied,
            _ => {
                let redeemed = sqlx::query(
                    "UPDATE authz_device_codes SET status = 'redeemed' WHERE device_code_hash = $1 AND status = 'approved'",
                )
                .bind(&hash)
                .execute(self.pool())
                .await?;
                let grant = grant.unwrap_or_default();
                if redeemed.rows_affected() == 1 {
                    DevicePoll::Approved(grant)
                } else {
                    DevicePoll::Replayed(grant)
                }
            }
        })
    }

    /// Deletes what the authorization server no longer needs: expired authorization and
    /// device codes; refresh tokens that expired or whose grant was revoked (rotated,
    /// unexpired ones stay: presenting one again is how reuse is caught); grants revoked
    /// more than `grant_grace_secs` ago (the access tokens' lifetime: until then the
    /// revocation must still be known) or with nothing left to use and older than that;
    /// clients unused for `unused_client_days` with no grant left.
    pub async fn collect_authz_garbage(
        &self,
        grant_grace_secs: u64,
        unused_client_days: u64,
    ) -> Result<AuthzGarbage, StoreError> {
        let now_s = now();
        let grace = at(-ChronoDuration::seconds(
            i64::try_from(grant_grace_secs).unwrap_or(i64::MAX / 4),
        ));
        let unused = at(-ChronoDuration::days(
            i64::try_from(unused_client_days).unwrap_or(36_500),
        ));
        let pool = self.pool();
        let codes = sqlx::query("DELETE FROM authz_codes WHERE expires_at < $1")
            .bind(&now_s)
            .execute(pool)
            .await?
            .rows_affected();
        let device_codes = sqlx::query("DELETE FROM authz_device_codes WHERE expires_at < $1")
            .bind(&now_s)
            .execute(pool)
            .await?
            .rows_affected();
        let refresh_tokens = sqlx::query(
            "DELETE FROM authz_refresh_tokens WHERE expires_at < $1 \
             OR grant_id IN (SELECT id FROM authz_grants WHERE revoked_at IS NOT NULL)",
        )
        .bind(&now_s)
        .execute(pool)
        .await?
        .rows_affected();
        let grants = sqlx::query(
            "DELETE FROM authz_grants WHERE created_at < $1 AND (revoked_at IS NULL OR revoked_at < $1) \
             AND NOT EXISTS (SELECT 1 FROM authz_codes c WHERE c.grant_id = authz_grants.id) \
             AND NOT EXISTS (SELECT 1 FROM authz_refresh_tokens r WHERE r.grant_id = authz_grants.id) \
             AND NOT EXISTS (SELECT 1 FROM authz_device_codes d WHERE d.grant_id = authz_grants.id)",
        )
        .bind(&grace)
        .execute(pool)
        .await?
        .rows_affected();
        let clients = sqlx::query(
            "DELETE FROM authz_clients WHERE COALESCE(last_used_at, created_at) < $1 \
             AND NOT EXISTS (SELECT 1 FROM authz_grants g WHERE g.client_id = authz_clients.client_id) \
             AND NOT EXISTS (SELECT 1 FROM authz_device_codes d WHERE d.client_id = authz_clients.client_id)",
        )
        .bind(&unused)
        .execute(pool)
        .await?
        .rows_affected();
        Ok(AuthzGarbage {
            codes,
            device_codes,
            refresh_tokens,
            grants,
            clients,
        })
    }
}
