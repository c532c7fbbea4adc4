//! Tool pinning: trust a tool's definition on first use, notice when a server later
//! changes it (a poisoned description, a widened schema), and let an admin accept the new
//! definition before pinned servers let anyone call it again.

use crate::store::{Store, StoreError};
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

/// What the gateway knows about one tool's definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinState {
    /// Seen for the first time now: pinned as it is.
    New,
    /// Same as the accepted definition.
    Accepted,
    /// Different from the accepted definition (first noticed now when `fresh`).
    Changed {
        /// The accepted digest.
        accepted: String,
        /// The new digest.
        now: String,
        /// True the first time this new definition is seen.
        fresh: bool,
    },
}

/// A pinned tool, for `gatehouse tools list`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Pin {
    /// Server.
    pub server: String,
    /// Tool.
    pub tool: String,
    /// Accepted digest.
    pub digest: String,
    /// A changed definition waiting for acceptance.
    #[schema(required)]
    pub pending_digest: Option<String>,
    /// First seen.
    pub first_seen: String,
    /// Who accepted the current definition (after a change).
    #[schema(required)]
    pub accepted_by: Option<String>,
    /// The accepted definition (name, description, input schema).
    pub definition: Value,
    /// The changed definition waiting for an admin.
    #[schema(required)]
    pub pending_definition: Option<Value>,
    /// When the definition changed.
    #[schema(required)]
    pub changed_at: Option<String>,
    /// The admin who refused the change (the tool stays blocked).
    #[schema(required)]
    pub rejected_by: Option<String>,
}

fn json_or_null(text: String) -> Value {
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// The digest of what a model reads about a tool: one definition, the pipeline's.
pub use gatehouse_pipeline::tool_digest;

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

impl Store {
    /// Records what a tools/list showed for one tool and says how it compares.
    pub async fn observe_tool(
        &self,
        server: &str,
        tool: &str,
        digest: &str,
        definition: &str,
    ) -> Result<PinState, StoreError> {
        let row = sqlx::query(
            "SELECT digest, pending_digest FROM tool_pins WHERE server = $1 AND tool = $2",
        )
        .bind(server)
        .bind(tool)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            sqlx::query("INSERT INTO tool_pins (server, tool, digest, definition, first_seen) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING")
                .bind(server)
                .bind(tool)
                .bind(digest)
                .bind(definition)
                .bind(now())
                .execute(self.pool())
                .await?;
            return Ok(PinState::New);
        };
        let accepted: String = row.get("digest");
        let pending: Option<String> = row.get("pending_digest");
        if accepted == digest {
            if pending.is_some() {
                // The server went back to the accepted definition: the alert is over.
                sqlx::query("UPDATE tool_pins SET pending_digest = NULL, pending_definition = NULL, rejected_by = NULL, rejected_at = NULL WHERE server = $1 AND tool = $2")
                    .bind(server)
                    .bind(tool)
                    .execute(self.pool())
                    .await?;
            }
            return Ok(PinState::Accepted);
        }
        let fresh = pending.as_deref() != Some(digest);
        if fresh {
            sqlx::query("UPDATE tool_pins SET pending_digest = $1, pending_definition = $2, changed_at = $3, rejected_by = NULL, rejected_at = NULL WHERE server = $4 AND tool = $5")
                .bind(digest)
                .bind(definition)
                .bind(now())
                .bind(server)
                .bind(tool)
                .execute(self.pool())
                .await?;
        }
        Ok(PinState::Changed {
            accepted,
            now: digest.to_string(),
            fresh,
        })
    }

    /// True when the tool's current definition differs from the accepted one.
    pub async fn tool_changed(&self, server: &str, tool: &str) -> Result<bool, StoreError> {
        let pending: Option<Option<String>> = sqlx::query_scalar(
            "SELECT pending_digest FROM tool_pins WHERE server = $1 AND tool = $2",
        )
        .bind(server)
        .bind(tool)
        .fetch_optional(self.pool())
        .await?;
        Ok(matches!(pending, Some(Some(_))))
    }

    /// Accepts a changed definition. Returns false when there was nothing to accept.
    pub async fn accept_tool(
        &self,
        server: &str,
        tool: &str,
        by: &str,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE tool_pins SET digest = pending_digest, definition = pending_definition, pending_digest = NULL, \
             pending_definition = NULL, rejected_by = NULL, rejected_at = NULL, accepted_by = $1, accepted_at = $2 WHERE server = $3 AND tool = $4 AND pending_digest IS NOT NULL",
        )
        .bind(by)
        .bind(now())
        .bind(server)
        .bind(tool)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Refuses a changed definition: the tool stays blocked until the server goes back to
    /// the accepted one. Returns false when there was nothing to refuse.
    pub async fn reject_tool(
        &self,
        server: &str,
        tool: &str,
        by: &str,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE tool_pins SET rejected_by = $1, rejected_at = $2 WHERE server = $3 AND tool = $4 AND pending_digest IS NOT NULL",
        )
        .bind(by)
        .bind(now())
        .bind(server)
        .bind(tool)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Every pin, by server and tool.
    pub async fn pins(&self) -> Result<Vec<Pin>, StoreError> {
        let rows = sqlx::query("SELECT server, tool, digest, definition, pending_digest, pending_definition, changed_at, \
             first_seen, accepted_by, rejected_by FROM tool_pins ORDER BY server, tool")
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .iter()
            .map(|r| Pin {
                server: r.get("server"),
                tool: r.get("tool"),
                digest: r.get("digest"),
                pending_digest: r.get("pending_digest"),
                first_seen: r.get("first_seen"),
                accepted_by: r.get("accepted_by"),
                definition: json_or_null(r.get("definition")),
                pending_definition: r
                    .get::<Option<String>, _>("pending_definition")
                    .map(json_or_null),
                changed_at: r.get("changed_at"),
                rejected_by: r.get("rejected_by"),
            })
            .collect())
    }
}
