//! The control plane's JSON API, as the tray and `gatehouse connect --local` use it:
//! who am I, servers, approvals (list, decide), my sessions, spool uploads, and the watch
//! streams (Server-Sent Events) for the policy in force and pending approvals.

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::mpsc;

/// A call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// The control plane could not be reached (or answered 5xx): try again later.
    #[error("the control plane at {0} cannot be reached")]
    Unreachable(String),
    /// It refused (401/403/4xx) with this message.
    #[error("the control plane refused: {0}")]
    Refused(String),
}

/// Who the control plane says the caller is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Me {
    /// User name.
    pub user: String,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Dashboard roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Live just-in-time grants on local servers.
    #[serde(default)]
    pub local_grants: Vec<crate::access::LocalGrant>,
}

/// A published policy version.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct PolicyVersion {
    /// Version number.
    pub version: i64,
    /// Content digest.
    pub digest: String,
    /// The YAML.
    pub document: String,
}

/// A client for one control plane.
#[derive(Debug, Clone)]
pub struct ControlPlane {
    base: String,
    http: reqwest::Client,
}

impl ControlPlane {
    /// A client for the control plane at `base` (`https://gatehouse.example`).
    pub fn new(base: &str) -> ControlPlane {
        ControlPlane {
            base: base.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
        }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Value, ApiError> {
        let r = req
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| ApiError::Unreachable(format!("{} ({e})", self.base)))?;
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        if status.is_server_error() {
            return Err(ApiError::Unreachable(format!(
                "{} (it answered {status}: {})",
                self.base,
                body["error"].as_str().unwrap_or("")
            )));
        }
        if !status.is_success() {
            return Err(ApiError::Refused(format!(
                "{status}: {}",
                body["error"].as_str().unwrap_or("no reason given")
            )));
        }
        Ok(body)
    }

    fn get(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
    }

    fn post(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
    }

    /// POSTs `body` to `path` with `token`; the answer's JSON.
    pub async fn post_json(
        &self,
        path: &str,
        token: &str,
        body: &Value,
    ) -> Result<Value, ApiError> {
        self.send(self.post(path, token).json(body)).await
    }

    /// `GET /api/v1/me`
    pub async fn me(&self, token: &str) -> Result<Me, ApiError> {
        let v = self.send(self.get("/api/v1/me", token)).await?;
        serde_json::from_value(v).map_err(|e| ApiError::Refused(format!("unexpected /me: {e}")))
    }

    /// `GET /api/v1/servers`: every configured server (name, transport, ...).
    pub async fn servers(&self, token: &str) -> Result<Vec<Value>, ApiError> {
        let v = self.send(self.get("/api/v1/servers", token)).await?;
        Ok(v["servers"].as_array().cloned().unwrap_or_default())
    }

    /// `GET /api/v1/approvals`: pending approvals this person may see.
    pub async fn approvals(&self, token: &str) -> Result<Vec<Value>, ApiError> {
        let v = self.send(self.get("/api/v1/approvals", token)).await?;
        Ok(v["approvals"].as_array().cloned().unwrap_or_default())
    }

    /// `POST /api/v1/approvals/{id}/approve|deny` with a reason.
    pub async fn decide(
        &self,
        token: &str,
        id: &str,
        approve: bool,
        reason: &str,
    ) -> Result<Value, ApiError> {
        let verb = if approve { "approve" } else { "deny" };
        self.send(
            self.post(&format!("/api/v1/approvals/{id}/{verb}"), token)
                .json(&json!({ "reason": reason })),
        )
        .await
    }

    /// `GET /api/v1/sessions?user=...&limit=...`: recent sessions of a person.
    pub async fn sessions(
        &self,
        token: &str,
        user: &str,
        limit: u32,
    ) -> Result<Vec<Value>, ApiError> {
        let v = self
            .send(
                self.get("/api/v1/sessions", token)
                    .query(&[("user", user), ("limit", &limit.to_string())]),
            )
            .await?;
        Ok(v["sessions"].as_array().cloned().unwrap_or_default())
    }

    /// `GET /api/v1/local-servers`: the local servers this person may run, with their
    /// masking profiles and the policy in force.
    pub async fn local_servers(&self, token: &str) -> Result<Value, ApiError> {
        self.send(self.get("/api/v1/local-servers", token)).await
    }

    /// `POST /api/v1/local-servers/{name}/approvals`: asks for an approval of a local
    /// call (`request` is the JSON-RPC request as the client sent it).
    pub async fn request_local_approval(
        &self,
        token: &str,
        server: &str,
        session_id: &str,
        request: &Value,
    ) -> Result<Value, ApiError> {
        self.send(
            self.post(&format!("/api/v1/local-servers/{server}/approvals"), token)
                .json(&json!({ "session_id": session_id, "request": request })),
        )
        .await
    }

    /// `POST /api/v1/local-servers/approvals/{id}/wait?secs=N`: the approval once decided
    /// or after `secs` (at most 30); an approved one comes back `used` (consumed).
    pub async fn wait_local_approval(
        &self,
        token: &str,
        id: &str,
        secs: u64,
    ) -> Result<Value, ApiError> {
        self.send(
            self.post(&format!("/api/v1/local-servers/approvals/{id}/wait"), token)
                .query(&[("secs", secs.to_string())]),
        )
        .await
    }

    /// `POST /api/v1/spool`: uploads spooled records; the answer acknowledges them all
    /// (new or already there).
    pub async fn upload_spool(&self, token: &str, records: &[Value]) -> Result<Value, ApiError> {
        self.send(
            self.post("/api/v1/spool", token)
                .json(&json!({ "records": records })),
        )
        .await
    }

    /// Follows an SSE stream (`/api/v1/policies/watch` → `policy`, `/api/v1/approvals/watch`
    /// → `approvals`): every event's JSON goes to `out`; reconnects after failures with a
    /// growing pause, asking `token` for a fresh token each time. Ends when `out` closes.
    /// `reachable` is told whether the stream is up.
    pub async fn watch<T, F>(
        &self,
        path: &str,
        event: &str,
        token: T,
        out: mpsc::Sender<Value>,
        reachable: F,
    ) where
        T: Fn() -> futures::future::BoxFuture<'static, Option<String>> + Send,
        F: Fn(bool, &str) + Send,
    {
        let mut pause = Duration::from_millis(500);
        loop {
            if out.is_closed() {
                return;
            }
            let Some(t) = token().await else {
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            };
            let resp = self
                .get(path, &t)
                .header("accept", "text/event-stream")
                .send()
                .await;
            match resp {
                Ok(r) if r.status().is_success() => {
                    reachable(true, "");
                    pause = Duration::from_millis(500);
                    let mut body = r.bytes_stream();
                    let mut dec = gatehouse_proxy_core::sse::Decoder::default();
                    while let Some(chunk) = body.next().await {
                        let Ok(chunk) = chunk else { break };
                        for ev in dec.feed(&chunk) {
                            if ev.event.as_deref() == Some(event)
                                && let Ok(v) = serde_json::from_str::<Value>(&ev.data)
                                && out.send(v).await.is_err()
                            {
                                return;
                            }
                        }
                    }
                    reachable(false, "the watch stream ended");
                }
                Ok(r) => {
                    tracing::warn!(status = %r.status(), path, "the control plane refused a watch stream");
                    reachable(false, &format!("{path} answered {}", r.status()));
                }
                Err(e) => reachable(false, &e.to_string()),
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(30));
        }
    }
}
