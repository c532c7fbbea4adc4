//! Streaming the audit log to a SIEM (`[[audit.sinks]]`): JSON lines to a rotated file,
//! batches POSTed to a webhook, or OpenTelemetry logs (OTLP/HTTP JSON) to a collector.
//!
//! Delivery is at-least-once. Each sink reads the log in order from its cursor (the last
//! `seq` it delivered, kept in the store's `audit_sink_cursors`), delivers a batch, and
//! only then moves the cursor. While the receiver is down it retries the same batch with
//! exponential backoff; after a restart it resumes at the cursor. A crash between a
//! delivery and the cursor update repeats that one batch: receivers deduplicate by `seq`.
//!
//! Every signed checkpoint follows the events it covers, as a record of its own type
//! (`"record": "checkpoint"`: tree size, root, signing key and time, signature and the
//! C2SP checkpoint note; in OTLP a log record with `gatehouse.record = checkpoint`), with a
//! cursor of its own (`<sink>/checkpoints`): the SIEM keeps the tree heads the log
//! signed, outside the operators' reach, and can check later exports against them.
//!
//! With several replicas on one PostgreSQL, each sink is delivered by one replica at a
//! time: the one holding the sink's advisory lock ([`Store::try_lead`]). The others wait
//! and take over when its connection drops (the replica died); the cursor is shared in
//! the database, so the new leader resumes where the old one stopped.

use crate::store::Store;
use crate::store::leader::Leadership;
use gatehouse_audit::StoredEvent;
use serde::Deserialize;
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// One `[[audit.sinks]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// `jsonl`, `webhook` or `otlp`.
    #[serde(rename = "type")]
    pub kind: SinkKind,
    /// The name its cursor is kept under; defaults to the type. Two sinks of one type need
    /// distinct names.
    #[serde(default)]
    pub name: Option<String>,
    /// `jsonl`: the file (`-` for standard output).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// `jsonl`: rotate when the file reaches this size (the old ones become FILE.1 .. FILE.5).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// `webhook`: the URL POSTed to; `otlp`: the collector's logs URL (…/v1/logs).
    #[serde(default)]
    pub url: Option<String>,
    /// Events per delivery.
    #[serde(default = "default_batch")]
    pub batch: u32,
}

fn default_max_bytes() -> u64 {
    100 * 1024 * 1024
}

fn default_batch() -> u32 {
    500
}

/// The kinds of sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    /// JSON lines to a file or standard output.
    Jsonl,
    /// A JSON array of events per POST.
    Webhook,
    /// OpenTelemetry logs, OTLP/HTTP with JSON encoding.
    Otlp,
}

impl SinkConfig {
    /// The cursor's name.
    pub fn name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            match self.kind {
                SinkKind::Jsonl => "jsonl",
                SinkKind::Webhook => "webhook",
                SinkKind::Otlp => "otlp",
            }
            .to_string()
        })
    }

    /// Says what is missing for this kind of sink.
    pub fn validate(&self) -> Result<(), String> {
        let name = self.name();
        match self.kind {
            SinkKind::Jsonl if self.path.is_none() => Err(format!(
                "audit sink `{name}`: a jsonl sink needs `path` (a file, or \"-\" for standard output)"
            )),
            SinkKind::Webhook | SinkKind::Otlp if self.url.is_none() => Err(format!(
                "audit sink `{name}`: a {:?} sink needs `url`",
                self.kind
            )
            .to_lowercase()),
            _ if self.batch == 0 => Err(format!("audit sink `{name}`: batch must be at least 1")),
            _ => Ok(()),
        }
    }
}

/// Runs one sink until `stop` is cancelled, delivering whenever this replica leads it.
pub async fn run(store: Store, config: SinkConfig, stop: CancellationToken) {
    let name = config.name();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default();
    let job = format!("audit sink {name}");
    let mut following = false;
    loop {
        let wait = match store.try_lead(&job).await {
            Ok(Some(mut lead)) => {
                if following {
                    tracing::info!(sink = %name, "took over delivery of this audit sink");
                }
                following = false;
                deliver(&store, &config, &name, &http, &mut lead, &stop).await;
                lead.release().await;
                Duration::from_millis(200)
            }
            Ok(None) => {
                if !following {
                    tracing::info!(sink = %name, "another replica delivers this audit sink; standing by");
                }
                following = true;
                Duration::from_secs(1)
            }
            Err(e) => {
                tracing::warn!(sink = %name, error = %e, "cannot take the lead of this audit sink; retrying");
                Duration::from_secs(2)
            }
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Delivers batches while `lead` holds, until `stop` is cancelled.
async fn deliver(
    store: &Store,
    config: &SinkConfig,
    name: &str,
    http: &reqwest::Client,
    lead: &mut Leadership,
    stop: &CancellationToken,
) {
    let mut backoff = Duration::from_millis(200);
    let mut changes = store.events_written();
    loop {
        if stop.is_cancelled() {
            return;
        }
        if !lead.holds().await {
            tracing::warn!(sink = %name, "lost the lead of this audit sink (database connection dropped)");
            return;
        }
        let outcome = step(store, config, name, http).await;
        let wait = match outcome {
            Ok(delivered) if delivered > 0 => {
                backoff = Duration::from_millis(200);
                continue;
            }
            // Nothing new: wait for the writer (or the poll, for other replicas' events).
            Ok(_) => Duration::from_millis(500),
            Err(e) => {
                tracing::warn!(sink = %name, error = %e, retry_in_ms = backoff.as_millis() as u64, "audit sink delivery failed; retrying");
                let w = backoff;
                backoff = (backoff * 2).min(Duration::from_secs(30));
                w
            }
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
            _ = changes.changed(), if wait == Duration::from_millis(500) => {}
        }
    }
}

/// Delivers the next batch of events, then the checkpoints they complete; returns how
/// many records it delivered.
async fn step(
    store: &Store,
    config: &SinkConfig,
    name: &str,
    http: &reqwest::Client,
) -> Result<usize, String> {
    let cursor = store.sink_cursor(name).await.map_err(|e| e.to_string())?;
    let events = store
        .events_after(cursor, i64::from(config.batch))
        .await
        .map_err(|e| e.to_string())?;
    let mut delivered = 0;
    let mut covered = cursor;
    if let Some(last) = events.last().map(|e| e.seq) {
        let records: Vec<Value> = events.iter().map(|e| json!(e)).collect();
        send(config, http, records, otlp_logs(&events)).await?;
        store
            .set_sink_cursor(name, last)
            .await
            .map_err(|e| e.to_string())?;
        delivered += events.len();
        covered = last;
    }
    delivered += step_checkpoints(store, config, name, http, covered).await?;
    Ok(delivered)
}

/// A checkpoint row as sinks receive it.
type CheckpointRecord = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

/// Delivers the checkpoints not sent yet whose events the sink has (`covered`).
async fn step_checkpoints(
    store: &Store,
    config: &SinkConfig,
    name: &str,
    http: &reqwest::Client,
    covered: i64,
) -> Result<usize, String> {
    let cursor_name = format!("{name}/checkpoints");
    let after = store
        .sink_cursor(&cursor_name)
        .await
        .map_err(|e| e.to_string())?;
    let rows: Vec<CheckpointRecord> = sqlx::query_as(
        "SELECT id, tree_size, root_hash, chain_head, at, public_key, signature, key_id, note \
         FROM checkpoints WHERE id > $1 AND tree_size <= $2 ORDER BY id LIMIT $3",
    )
    .bind(after)
    .bind(covered)
    .bind(i64::from(config.batch))
    .fetch_all(store.pool())
    .await
    .map_err(|e| e.to_string())?;
    let Some(last) = rows.last().map(|r| r.0) else {
        return Ok(0);
    };
    let records: Vec<Value> = rows.iter().map(checkpoint_record).collect();
    let otlp = otlp_checkpoints(&records);
    send(config, http, records, otlp).await?;
    store
        .set_sink_cursor(&cursor_name, last)
        .await
        .map_err(|e| e.to_string())?;
    Ok(rows.len())
}

/// A signed checkpoint as a record of its own type.
fn checkpoint_record(
    (_, tree_size, root_hash, chain_head, at, public_key, signature, key_id, note): &CheckpointRecord,
) -> Value {
    json!({
        "record": "checkpoint",
        "tree_size": tree_size,
        "root_hash": root_hash,
        "chain_head": chain_head,
        "at": at,
        "public_key": public_key,
        "key_id": key_id,
        "signature": signature,
        "note": note,
    })
}

/// Sends one batch of records: JSON lines, a JSON array, or `otlp` to a collector.
async fn send(
    config: &SinkConfig,
    http: &reqwest::Client,
    records: Vec<Value>,
    otlp: Value,
) -> Result<(), String> {
    match config.kind {
        SinkKind::Jsonl => {
            let path = config.path.clone().unwrap_or_else(|| "-".into());
            let max = config.max_bytes;
            tokio::task::spawn_blocking(move || write_jsonl(&path, max, &records))
                .await
                .map_err(|e| e.to_string())?
        }
        SinkKind::Webhook => {
            post(
                http,
                config.url.as_deref().unwrap_or_default(),
                &Value::Array(records),
            )
            .await
        }
        SinkKind::Otlp => post(http, config.url.as_deref().unwrap_or_default(), &otlp).await,
    }
}

async fn post(http: &reqwest::Client, url: &str, body: &Value) -> Result<(), String> {
    let r = http
        .post(url)
        .json(body)
        .send()
        .await
        .map_err(|e| format!("POST {url}: {e}"))?;
    if r.status().is_success() {
        Ok(())
    } else {
        Err(format!("POST {url}: the receiver answered {}", r.status()))
    }
}

/// Appends the records as JSON lines and flushes them to disk, rotating first when the
/// file has reached `max_bytes`.
fn write_jsonl(path: &Path, max_bytes: u64, events: &[Value]) -> Result<(), String> {
    let mut text = String::new();
    for e in events {
        text.push_str(&serde_json::to_string(e).map_err(|e| e.to_string())?);
        text.push('\n');
    }
    if path == Path::new("-") {
        let mut out = std::io::stdout().lock();
        return out
            .write_all(text.as_bytes())
            .and_then(|_| out.flush())
            .map_err(|e| format!("writing to standard output: {e}"));
    }
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if size > 0 && size + text.len() as u64 > max_bytes {
        rotate(path).map_err(|e| format!("rotating {}: {e}", path.display()))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_data())
        .map_err(|e| format!("writing {}: {e}", path.display()))
}

/// FILE → FILE.1 → … → FILE.5 (the oldest is dropped).
fn rotate(path: &Path) -> std::io::Result<()> {
    const KEEP: u32 = 5;
    let numbered = |n: u32| PathBuf::from(format!("{}.{n}", path.display()));
    let _ = std::fs::remove_file(numbered(KEEP));
    for n in (1..KEEP).rev() {
        if numbered(n).exists() {
            std::fs::rename(numbered(n), numbered(n + 1))?;
        }
    }
    std::fs::rename(path, numbered(1))
}

/// The events as an OTLP `ExportLogsServiceRequest` (JSON encoding): one log record per
/// event, the event itself as the body, its key fields as attributes.
pub fn otlp_logs(events: &[StoredEvent]) -> Value {
    let records: Vec<Value> = events
        .iter()
        .map(|e| {
            let nanos = chrono::DateTime::parse_from_rfc3339(&e.at)
                .ok()
                .and_then(|t| t.timestamp_nanos_opt())
                .unwrap_or(0);
            let mut attrs = vec![
                json!({"key": "gatehouse.seq", "value": {"intValue": e.seq.to_string()}}),
                json!({"key": "gatehouse.session_id", "value": {"stringValue": e.session_id}}),
                json!({"key": "gatehouse.direction", "value": {"stringValue": e.direction}}),
                json!({"key": "gatehouse.kind", "value": {"stringValue": e.kind}}),
                json!({"key": "gatehouse.hash", "value": {"stringValue": e.hash}}),
            ];
            for (k, v) in [("method", &e.method), ("tool", &e.tool)] {
                if let Some(v) = v {
                    attrs.push(
                        json!({"key": format!("gatehouse.{k}"), "value": {"stringValue": v}}),
                    );
                }
            }
            json!({
                "timeUnixNano": nanos.to_string(),
                "severityNumber": 9,
                "severityText": "INFO",
                "body": {"stringValue": serde_json::to_string(e).unwrap_or_default()},
                "attributes": attrs,
            })
        })
        .collect();
    resource_logs(records)
}

/// Log records in an OTLP `ExportLogsServiceRequest` from this service.
fn resource_logs(records: Vec<Value>) -> Value {
    json!({
        "resourceLogs": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "gatehouse"}}]},
            "scopeLogs": [{"scope": {"name": "gatehouse.audit"}, "logRecords": records}],
        }]
    })
}

/// Checkpoint records (see [`checkpoint_record`]) as OTLP log records: the record as
/// the body, its type and tree head as attributes.
fn otlp_checkpoints(records: &[Value]) -> Value {
    let logs = records
        .iter()
        .map(|c| {
            let nanos = c["at"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .and_then(|t| t.timestamp_nanos_opt())
                .unwrap_or(0);
            json!({
                "timeUnixNano": nanos.to_string(),
                "eventName": "gatehouse.checkpoint",
                "severityNumber": 9,
                "severityText": "INFO",
                "body": {"stringValue": c.to_string()},
                "attributes": [
                    {"key": "gatehouse.record", "value": {"stringValue": "checkpoint"}},
                    {"key": "gatehouse.tree_size", "value": {"intValue": c["tree_size"].to_string()}},
                    {"key": "gatehouse.root_hash", "value": {"stringValue": c["root_hash"]}},
                    {"key": "gatehouse.public_key", "value": {"stringValue": c["public_key"]}},
                ],
            })
        })
        .collect();
    resource_logs(logs)
}
