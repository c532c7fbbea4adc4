//! What the store keeps about agents: tokens (as SHA-256 hashes only), drained agent
//! names, and connections (version, servers, last seen). Nothing about upstreams.

use crate::store::{Store, StoreError};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

/// A token as stored (the token itself is never stored).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenRow {
    /// Short id, used to revoke it.
    pub id: String,
    /// The agent name the token belongs to.
    pub agent: String,
    /// Who created it.
    pub created_by: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// When it was revoked, if it was.
    #[schema(required)]
    pub revoked_at: Option<String>,
    /// Who revoked it.
    #[schema(required)]
    pub revoked_by: Option<String>,
}

/// An agent connection as stored.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionRow {
    /// Connection id.
    pub id: String,
    /// Agent name.
    pub agent: String,
    /// The token it signed in with.
    pub token_id: String,
    /// Agent version.
    pub version: String,
    /// Servers it serves.
    pub servers: Vec<String>,
    /// When it connected.
    pub connected_at: String,
    /// When it was last heard from.
    pub last_seen_at: String,
    /// When it disconnected, if it did.
    pub disconnected_at: Option<String>,
    /// Why.
    pub disconnect_reason: Option<String>,
}

/// The SHA-256 of a token, hex: the only form the control plane keeps.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// 64 hex characters of randomness (two v4 UUIDs: 244 random bits).
fn random_hex() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn token_row(r: &sqlx::any::AnyRow) -> TokenRow {
    TokenRow {
        id: r.get("id"),
        agent: r.get("agent"),
        created_by: r.get("created_by"),
        created_at: r.get("created_at"),
        revoked_at: r.get("revoked_at"),
        revoked_by: r.get("revoked_by"),
    }
}

const TOKEN_COLUMNS: &str = "id, agent, created_by, created_at, revoked_at, revoked_by";

impl Store {
    /// Creates a token for agent `agent`; returns its row and the token, which is shown
    /// this once and never stored.
    pub async fn create_agent_token(
        &self,
        agent: &str,
        by: &str,
    ) -> Result<(TokenRow, String), StoreError> {
        let token = format!("gha_{}", random_hex());
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        let at = now();
        sqlx::query("INSERT INTO agent_tokens (id, agent, token_sha256, created_by, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&id)
            .bind(agent)
            .bind(token_hash(&token))
            .bind(by)
            .bind(&at)
            .execute(self.pool())
            .await?;
        let row = TokenRow {
            id,
            agent: agent.to_string(),
            created_by: by.to_string(),
            created_at: at,
            revoked_at: None,
            revoked_by: None,
        };
        Ok((row, token))
    }

    /// Revokes the token with this id; `None` when there is none. Revoking twice keeps
    /// the first time.
    pub async fn revoke_agent_token(
        &self,
        id: &str,
        by: &str,
    ) -> Result<Option<TokenRow>, StoreError> {
        sqlx::query("UPDATE agent_tokens SET revoked_at = $1, revoked_by = $2 WHERE id = $3 AND revoked_at IS NULL")
            .bind(now())
            .bind(by)
            .bind(id)
            .execute(self.pool())
            .await?;
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM agent_tokens WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(token_row))
    }

    /// The token whose hash this is.
    pub async fn agent_token_by_hash(&self, hash: &str) -> Result<Option<TokenRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM agent_tokens WHERE token_sha256 = $1"
        ))
        .bind(hash)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(token_row))
    }

    /// Every token, oldest first.
    pub async fn agent_tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM agent_tokens ORDER BY created_at, id"
        ))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(token_row).collect())
    }

    /// Ids of revoked tokens.
    pub async fn revoked_agent_tokens(&self) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT id FROM agent_tokens WHERE revoked_at IS NOT NULL")
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// Drains (`true`) or resumes (`false`) an agent name.
    pub async fn set_agent_drained(
        &self,
        agent: &str,
        drained: bool,
        by: &str,
    ) -> Result<(), StoreError> {
        if drained {
            sqlx::query("INSERT INTO agent_drains (agent, drained_by, drained_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(agent)
                .bind(by)
                .bind(now())
                .execute(self.pool())
                .await?;
        } else {
            sqlx::query("DELETE FROM agent_drains WHERE agent = $1")
                .bind(agent)
                .execute(self.pool())
                .await?;
        }
        Ok(())
    }

    /// Agent names that are drained.
    pub async fn drained_agents(&self) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT agent FROM agent_drains ORDER BY agent")
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// Records a new agent connection.
    pub async fn agent_connected(&self, c: &ConnectionRow) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO agent_connections (id, agent, token_id, version, servers_json, connected_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&c.id)
            .bind(&c.agent)
            .bind(&c.token_id)
            .bind(&c.version)
            .bind(serde_json::to_string(&c.servers).unwrap_or_else(|_| "[]".into()))
            .bind(&c.connected_at)
            .bind(&c.last_seen_at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Notes that a connection was heard from now.
    pub async fn agent_seen(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE agent_connections SET last_seen_at = $1 WHERE id = $2")
            .bind(now())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Records how a connection ended.
    pub async fn agent_disconnected(&self, id: &str, reason: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE agent_connections SET disconnected_at = $1, last_seen_at = $2, disconnect_reason = $3 WHERE id = $4 AND disconnected_at IS NULL")
            .bind(now())
            .bind(now())
            .bind(reason)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The newest connection of every agent name.
    pub async fn agent_connections(&self) -> Result<Vec<ConnectionRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, agent, token_id, version, servers_json, connected_at, last_seen_at, disconnected_at, disconnect_reason \
             FROM agent_connections c WHERE disconnected_at IS NULL OR connected_at = \
             (SELECT MAX(connected_at) FROM agent_connections d WHERE d.agent = c.agent) ORDER BY agent, connected_at",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| ConnectionRow {
                id: r.get("id"),
                agent: r.get("agent"),
                token_id: r.get("token_id"),
                version: r.get("version"),
                servers: serde_json::from_str(&r.get::<String, _>("servers_json"))
                    .unwrap_or_default(),
                connected_at: r.get("connected_at"),
                last_seen_at: r.get("last_seen_at"),
                disconnected_at: r.get("disconnected_at"),
                disconnect_reason: r.get("disconnect_reason"),
            })
            .collect())
    }
}

impl Store {
    /// Marks connections a previous run left open as ended (the control plane stopped
    /// without closing them; their agents reconnect).
    pub async fn close_stale_agent_connections(&self) -> Result<(), StoreError> {
        sqlx::query("UPDATE agent_connections SET disconnected_at = $1, disconnect_reason = 'the control plane restarted' WHERE disconnected_at IS NULL")
            .bind(now())
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
