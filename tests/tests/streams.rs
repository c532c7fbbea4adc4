//! Server-to-client streams through the gateway: the session's GET stream with
//! `Last-Event-ID` resumption, and a legacy HTTP+SSE upstream.

use futures::StreamExt;
use gatehouse_e2e::*;
use serde_json::{Value, json};
use std::time::Duration;

struct Client {
    http: reqwest::Client,
    url: String,
    sid: String,
}

impl Client {
    async fn open(url: String) -> Client {
        let http = reqwest::Client::new();
        let r = http
            .post(&url)
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .json(&json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"stream-test","version":"1"}}}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let sid = r.headers()["mcp-session-id"]
            .to_str()
            .unwrap_or_default()
            .to_string();
        let c = Client { http, url, sid };
        c.post(json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
            .await;
        c
    }

    async fn post(&self, body: Value) -> String {
        self.http
            .post(&self.url)
            .bearer_auth(TOKEN)
            .header("mcp-session-id", &self.sid)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .text()
            .await
            .unwrap_or_default()
    }

    /// Opens the GET stream and returns the first `n` events as (id, message).
    async fn read_events(&self, last_event_id: Option<&str>, n: usize) -> Vec<(String, Value)> {
        let mut req = self
            .http
            .get(&self.url)
            .bearer_auth(TOKEN)
            .header("mcp-session-id", &self.sid)
            .header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resp.status(), 200);
        let mut body = resp.bytes_stream();
        let mut buf = String::new();
        let mut events = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while events.len() < n {
            let chunk = tokio::time::timeout_at(deadline, body.next())
                .await
                .unwrap_or_else(|_| {
                    panic!("only {} of {n} events arrived: {events:?}", events.len())
                })
                .unwrap_or_else(|| panic!("the stream ended"))
                .unwrap_or_else(|e| panic!("{e}"));
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let block: String = buf.drain(..end + 2).collect();
                let id = block
                    .lines()
                    .find_map(|l| l.strip_prefix("id: "))
                    .unwrap_or_default()
                    .to_string();
                if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) {
                    events.push((id, serde_json::from_str(data).unwrap_or(Value::Null)));
                }
            }
        }
        events
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_get_stream_resumes_after_a_disconnect_without_losing_messages() {
    let upstream = everything_http().await;
    let mut g = Gatehouse::start(&url_server("everything", &upstream.url, "legacy")).await;
    let c = Client::open(g.url("everything")).await;
    c.post(json!({"jsonrpc":"2.0","id":1,"method":"logging/setLevel","params":{"level":"debug"}}))
        .await;
    // Logs come every 5 s once simulated logging is on; they belong to no request.
    let reply = c.post(json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"toggle-simulated-logging","arguments":{}}})).await;
    assert!(reply.contains("Started simulated"), "{reply}");
    let first = c.read_events(None, 1).await;
    assert_eq!(first[0].1["method"], "notifications/message");
    let first_id = first[0].0.clone();
    assert!(!first_id.is_empty(), "events carry ids for resumption");
    // Disconnected now; the next log arrives while nobody listens, and is replayed.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let resumed = c.read_events(Some(&first_id), 1).await;
    assert_eq!(resumed[0].1["method"], "notifications/message");
    assert!(
        resumed[0].0.parse::<u64>().unwrap_or(0) > first_id.parse::<u64>().unwrap_or(u64::MAX),
        "resumed after {first_id}, got {}",
        resumed[0].0
    );
    let gw = g.stop().await;
    let rows = gw.store.list_sessions(5).await.unwrap_or_default();
    let logs = recorded_methods(&gw, &rows[0].id, "server_to_client").await;
    assert!(
        logs.iter()
            .filter(|m| *m == "notifications/message")
            .count()
            >= 2,
        "{logs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_http_sse_upstream_behaves_like_the_streamable_one() {
    let streamable = everything_http().await;
    let legacy = everything_legacy_sse().await;
    let mut g = Gatehouse::start(&sse_server("everything-sse", &legacy.url)).await;
    let direct = ts_client(Target::Http(&streamable.url, None)).await;
    let via = ts_client(Target::Http(&g.url("everything-sse"), Some(TOKEN))).await;
    assert_eq!(
        serde_json::to_string_pretty(&direct).unwrap_or_default(),
        serde_json::to_string_pretty(&via).unwrap_or_default()
    );
    g.stop().await;
}
