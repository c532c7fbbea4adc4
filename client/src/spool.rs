//! The durable local spool: every captured message is written here (SQLite, WAL,
//! `synchronous = FULL`, so it is on disk before the message moves on) with a stable
//! id, and deleted only after the control plane acknowledged it. Several processes (the
//! tray, `gatehouse connect --local` instances) may share one spool file.
//!
//! Exactly once = at least once from here (nothing is deleted unacknowledged; a crash
//! between upload and delete re-sends) + idempotence there (the control plane keeps a
//! unique key on the record id and ignores repeats).

use serde::{Deserialize, Serialize};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::time::Duration;

/// One captured message or session event, as kept and uploaded. Only [`Spool::keep`]
/// writes one, from a pipeline [`gatehouse_pipeline::Record`]: the spool has no way in
/// for a payload the pipeline did not mask (or write as its own note).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Stable unique id (UUID), the control plane's idempotency key.
    pub id: String,
    /// The local session (`local-<uuid>`).
    pub session_id: String,
    /// The local server's name (recorded on the control plane as `local:NAME`).
    pub server: String,
    /// When it was captured (RFC 3339).
    pub at: String,
    /// `client_to_server`, `server_to_client`, or `gateway`.
    pub direction: String,
    /// `request`, `response`, `error`, `notification`, or `session_start` / `session_end`.
    pub kind: String,
    /// JSON-RPC method.
    pub method: Option<String>,
    /// Tool, prompt or resource named.
    pub tool: Option<String>,
    /// JSON-RPC id as text.
    pub rpc_id: Option<String>,
    /// The JSON payload (already masked).
    pub payload: String,
    /// Masked value counts (JSON object), when any.
    pub masked: Option<String>,
    /// The policy decision (JSON), for client requests.
    pub decision: Option<String>,
}

/// The spool could not be used.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the local capture spool {path}: {reason}")]
pub struct SpoolError {
    path: String,
    reason: String,
}

/// A handle on the spool file; cheap to clone.
#[derive(Clone)]
pub struct Spool {
    pool: SqlitePool,
    path: String,
}

impl Spool {
    /// Opens (creating) the spool at `path`.
    pub async fn open(path: &Path) -> Result<Spool, SpoolError> {
        let shown = path.display().to_string();
        let err = |reason: String| SpoolError {
            path: shown.clone(),
            reason,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        }
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(opts)
            .await
            .map_err(|e| err(format!("cannot open it: {e}")))?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS records (\
             n INTEGER PRIMARY KEY AUTOINCREMENT, \
             id TEXT NOT NULL UNIQUE, \
             body TEXT NOT NULL)",
        )
        .execute(&pool)
        .await
        .map_err(|e| err(format!("cannot set it up: {e}")))?;
        Ok(Spool { pool, path: shown })
    }

    fn err(&self, e: sqlx::Error) -> SpoolError {
        SpoolError {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }

    /// Keeps the records of a capture of local server `server` in one transaction;
    /// durable (fsync) on return. Payloads are masked or Gatehouse's own notes: the spool
    /// takes nothing else.
    pub async fn keep(
        &self,
        server: &str,
        records: Vec<gatehouse_pipeline::Record>,
    ) -> Result<(), SpoolError> {
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let records: Vec<Record> = records
            .into_iter()
            .map(|r| Record {
                id: uuid::Uuid::new_v4().to_string(),
                server: server.to_string(),
                at: at.clone(),
                direction: r.direction.as_str().to_string(),
                payload: r.payload().to_string(),
                masked: r.masked().map(String::from),
                session_id: r.session_id,
                kind: r.kind,
                method: r.method,
                tool: r.tool,
                rpc_id: r.rpc_id,
                decision: r.decision,
            })
            .collect();
        self.append(&records).await
    }

    /// Appends records in one transaction; durable (fsync) on return.
    async fn append(&self, records: &[Record]) -> Result<(), SpoolError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        for r in records {
            sqlx::query("INSERT INTO records (id, body) VALUES (?, ?)")
                .bind(&r.id)
                .bind(serde_json::to_string(r).unwrap_or_default())
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))
    }

    /// The oldest `limit` records, in capture order.
    pub async fn oldest(&self, limit: u32) -> Result<Vec<Record>, SpoolError> {
        let rows = sqlx::query("SELECT body FROM records ORDER BY n LIMIT ?")
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(rows
            .iter()
            .filter_map(|r| serde_json::from_str(&r.get::<String, _>("body")).ok())
            .collect())
    }

    /// Deletes acknowledged records.
    pub async fn remove(&self, ids: &[String]) -> Result<(), SpoolError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        for id in ids {
            sqlx::query("DELETE FROM records WHERE id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))
    }

    /// How many records wait for upload.
    pub async fn pending(&self) -> Result<i64, SpoolError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM records")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_mask::{Masker, Profile};
    use gatehouse_pipeline::Masking;
    use gatehouse_proxy_core::jsonrpc::Message;
    use std::sync::Arc;

    /// Call `n` as the capture records it: masked by the pipeline.
    fn call(n: usize) -> gatehouse_pipeline::Record {
        let masking = Masking::new(Arc::new(Masker::new(&Profile::default(), None).unwrap()));
        let msg = Message::from_value(serde_json::json!({
            "jsonrpc": "2.0", "id": n, "method": "tools/call",
            "params": { "name": "mail", "arguments": { "to": "ada@example.com" } },
        }))
        .unwrap();
        gatehouse_pipeline::Record::client("local-s", &msg, &masking.client_record(&msg), None)
    }

    #[tokio::test]
    async fn records_survive_reopening_in_order_until_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool.db");
        {
            let s = Spool::open(&path).await.unwrap();
            s.keep("files", (0..5).map(call).collect()).await.unwrap();
        }
        let s = Spool::open(&path).await.unwrap();
        let all = s.oldest(10).await.unwrap();
        assert_eq!(
            all.iter().map(|r| r.rpc_id.as_deref()).collect::<Vec<_>>(),
            ["0", "1", "2", "3", "4"].map(Some)
        );
        assert!(all.iter().all(|r| !r.payload.contains("ada@")), "{all:?}");
        assert_eq!(all[0].masked.as_deref(), Some(r#"{"email":1}"#));
        assert_eq!(
            (all[0].server.as_str(), all[0].session_id.as_str()),
            ("files", "local-s")
        );
        s.remove(&[all[0].id.clone(), all[1].id.clone()])
            .await
            .unwrap();
        assert_eq!(s.pending().await.unwrap(), 3);
        assert_eq!(s.oldest(1).await.unwrap()[0], all[2]);
        let dup = s.append(&[all[2].clone()]).await.unwrap_err();
        assert!(dup.to_string().contains("spool"), "{dup}");
    }
}
