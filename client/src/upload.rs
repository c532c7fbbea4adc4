//! Uploads the spool to the control plane: oldest first, in batches, deleting only what
//! the control plane acknowledged. Runs whenever something is spooled and, while the
//! control plane is unreachable, retries with a growing pause.

use crate::api::{ApiError, ControlPlane};
use crate::spool::{Spool, SpoolError};
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Gives a bearer token for the control plane (None: not signed in right now).
pub type TokenSource = Arc<dyn Fn() -> BoxFuture<'static, Option<String>> + Send + Sync>;

/// Records per upload request.
const BATCH: u32 = 500;

/// Why an upload round stopped.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UploadError {
    /// The spool failed.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// The control plane failed or refused.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// No token.
    #[error("not signed in: spooled records wait until you sign in")]
    SignedOut,
}

/// The uploader of one spool.
#[derive(Clone)]
pub struct Uploader {
    spool: Spool,
    api: ControlPlane,
    token: TokenSource,
    wake: Arc<Notify>,
}

impl Uploader {
    /// An uploader from `spool` to `api`.
    pub fn new(spool: Spool, api: ControlPlane, token: TokenSource) -> Uploader {
        Uploader {
            spool,
            api,
            token,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Asks the running loop to upload now (after new records were spooled).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Uploads everything spooled; returns how many records were acknowledged.
    pub async fn upload_all(&self) -> Result<usize, UploadError> {
        let mut done = 0;
        loop {
            let batch = self.spool.oldest(BATCH).await?;
            if batch.is_empty() {
                return Ok(done);
            }
            let token = (self.token)().await.ok_or(UploadError::SignedOut)?;
            let values: Vec<serde_json::Value> = batch
                .iter()
                .filter_map(|r| serde_json::to_value(r).ok())
                .collect();
            let ack = self.api.upload_spool(&token, &values).await?;
            let acked: Vec<String> = ack["acknowledged"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            if acked.is_empty() {
                return Err(UploadError::Api(ApiError::Refused(
                    "the control plane acknowledged none of the uploaded records".into(),
                )));
            }
            self.spool.remove(&acked).await?;
            done += acked.len();
            tracing::debug!(acknowledged = acked.len(), "spool upload");
        }
    }

    /// Uploads now and whenever woken, retrying failures every 0.5 s .. 30 s; never returns
    /// (abort the task to stop it). `status` hears each round's outcome.
    pub async fn run(self, status: impl Fn(&Result<usize, UploadError>) + Send) {
        let mut pause = Duration::from_millis(500);
        loop {
            let r = self.upload_all().await;
            status(&r);
            match &r {
                Ok(_) => {
                    pause = Duration::from_millis(500);
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(Duration::from_secs(30)) => {}
                    }
                }
                Err(e) => {
                    // While failing, new records do not hurry the retry.
                    tracing::info!(error = %e, retry_in = ?pause, "spool upload failed; will retry");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(30));
                }
            }
        }
    }
}
