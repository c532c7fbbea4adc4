//! One replica at a time: work that must not run twice across control-plane replicas
//! sharing one PostgreSQL (delivering to an audit sink, pruning the log) is done by
//! whichever replica holds a session-level advisory lock on a connection of its own.
//! When that replica dies, its connection closes, PostgreSQL drops the lock, and the next
//! replica that asks takes over. On SQLite there is one process: it always leads.

use super::db::Backend;
use super::handle::Store;
use super::types::StoreError;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Connection};

/// The advisory lock key for a named job: the first 8 bytes of SHA-256 of the name.
pub fn lock_key(name: &str) -> i64 {
    let d = Sha256::digest(format!("gatehouse leader {name}").as_bytes());
    i64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// Held while this replica leads a job; dropping it ends the lead.
pub struct Leadership {
    /// The connection holding the lock (PostgreSQL); `None` on SQLite.
    conn: Option<AnyConnection>,
    key: i64,
}

impl Store {
    /// Takes the lead of job `name` if no other replica holds it; `None` when one does.
    pub async fn try_lead(&self, name: &str) -> Result<Option<Leadership>, StoreError> {
        let key = lock_key(name);
        if self.backend() == Backend::Sqlite {
            return Ok(Some(Leadership { conn: None, key }));
        }
        // A connection outside the pool: a pooled one would keep the lock when returned.
        let mut conn = self.pool().acquire().await?.detach();
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut conn)
            .await?;
        Ok(got.then_some(Leadership {
            conn: Some(conn),
            key,
        }))
    }
}

impl Leadership {
    /// True while the lock is still held (its connection is alive).
    pub async fn holds(&mut self) -> bool {
        match &mut self.conn {
            None => true,
            Some(c) => c.ping().await.is_ok(),
        }
    }

    /// Gives the lead up at once (dropping it does too, when the connection closes).
    pub async fn release(mut self) {
        if let Some(mut c) = self.conn.take() {
            let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(self.key)
                .execute(&mut c)
                .await;
            let _ = c.close().await;
        }
    }
}
