//! Dashboard sign-ins: a random id in the browser's cookie, its SHA-256 in the store.

use super::handle::Store;
use super::types::StoreError;
use super::writer::now;
use crate::identity::auth::Principal;
use chrono::{Duration as ChronoDuration, Utc};
use sha2::{Digest, Sha256};
use sqlx::Row;

fn id_hash(cookie: &str) -> String {
    hex::encode(Sha256::digest(cookie.as_bytes()))
}

/// A new unguessable cookie value (244 random bits from the OS).
fn new_cookie_value() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl Store {
    /// Starts a dashboard sign-in for `principal` lasting `hours`; returns the cookie value.
    pub async fn create_web_session(
        &self,
        principal: &Principal,
        via: &str,
        hours: u64,
    ) -> Result<String, StoreError> {
        let cookie = new_cookie_value();
        let hours = i64::try_from(hours).unwrap_or(i64::MAX).min(24 * 30);
        let expires = (Utc::now() + ChronoDuration::hours(hours))
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        sqlx::query(
            "INSERT INTO web_sessions (id_hash, principal, groups_json, via, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id_hash(&cookie))
        .bind(&principal.user)
        .bind(serde_json::to_string(&principal.groups).unwrap_or_else(|_| "[]".into()))
        .bind(via)
        .bind(now())
        .bind(expires)
        .execute(self.pool())
        .await?;
        Ok(cookie)
    }

    /// The person signed in with this cookie value, unless it expired or was signed out.
    pub async fn web_session(&self, cookie: &str) -> Result<Option<Principal>, StoreError> {
        let row = sqlx::query(
            "SELECT principal, groups_json FROM web_sessions WHERE id_hash = $1 AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(id_hash(cookie))
        .bind(now())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| Principal {
            user: r.get("principal"),
            groups: serde_json::from_str(&r.get::<String, _>("groups_json")).unwrap_or_default(),
        }))
    }

    /// Makes sure the day's control record exists: sign-ins, failures, sign-outs and admin
    /// decisions are recorded there, in the same hash chain as every MCP session.
    pub async fn ensure_control_session(&self, id: &str) -> Result<(), StoreError> {
        let at = now();
        sqlx::query(
            "INSERT INTO sessions (id, principal, groups_json, server, era, started_at, last_seen_at) \
             VALUES ($1, 'gatehouse', '[]', 'gatehouse', 'control', $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(&at)
        .bind(&at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records a SAML assertion's use; false when it was used before (a replay).
    pub async fn first_use_of_saml_assertion(&self, id: &str) -> Result<bool, StoreError> {
        let n =
            sqlx::query("INSERT INTO saml_assertions_seen (id, seen_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING")
                .bind(id)
                .bind(now())
                .execute(self.pool())
                .await?
                .rows_affected();
        Ok(n == 1)
    }

    /// Signs a cookie out; returns who it belonged to (when it was live).
    pub async fn revoke_web_session(&self, cookie: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "UPDATE web_sessions SET revoked_at = $1 WHERE id_hash = $2 AND revoked_at IS NULL RETURNING principal",
        )
        .bind(now())
        .bind(id_hash(cookie))
        .fetch_optional(self.pool())
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_signed_out_cookie_no_longer_signs_in() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/w.db", dir.path().display()))
            .await
            .unwrap();
        let alice = Principal {
            user: "alice".into(),
            groups: vec!["eng".into()],
        };
        let cookie = store.create_web_session(&alice, "dev", 1).await.unwrap();
        assert_eq!(store.web_session(&cookie).await.unwrap(), Some(alice));
        assert_eq!(store.web_session("guess").await.unwrap(), None);
        let stored: String = sqlx::query_scalar("SELECT id_hash FROM web_sessions")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_ne!(stored, cookie, "only the digest is stored");
        assert_eq!(
            store.revoke_web_session(&cookie).await.unwrap().as_deref(),
            Some("alice")
        );
        assert_eq!(store.web_session(&cookie).await.unwrap(), None);
    }
}
