//! One MCP call followed from the client to the MCP server: the client sends a
//! `traceparent`; the control plane (served here, exporting to an OTLP/HTTP receiver this
//! test runs) and the real agent binary (exporting to the same receiver) report their
//! spans under the client's trace id, every stage of the call has its span, and the MCP
//! server (the reference server over Streamable HTTP, behind a recording hop) receives a
//! `traceparent` of the same trace. No span carries the call's argument or a token.
//!
//! Alone in its file: it installs the process's trace exporter.

mod common;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use common::*;
use futures::StreamExt;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";
const ARGUMENT: &str = "the-argument-no-span-may-carry";

/// A span as the receiver got it, with the service that sent it.
#[derive(Debug, Clone)]
struct Got {
    service: String,
    span: Span,
}

impl Got {
    fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }
    fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }
    fn parent(&self) -> String {
        hex(&self.span.parent_span_id)
    }
    fn attr(&self, key: &str) -> Option<String> {
        self.span
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
            .map(|v| match v {
                AnyValue::StringValue(s) => s.clone(),
                other => format!("{other:?}"),
            })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

type Spans = Arc<Mutex<Vec<Got>>>;

/// An OTLP/HTTP receiver: `POST /v1/traces` with an `ExportTraceServiceRequest`
/// (protobuf), as a collector takes it.
async fn otlp_receiver() -> (String, Spans) {
    async fn take(State(spans): State<Spans>, body: Bytes) -> Response {
        let Ok(request) = ExportTraceServiceRequest::decode(body) else {
            return (StatusCode::BAD_REQUEST, "not an ExportTraceServiceRequest").into_response();
        };
        let mut got = spans.lock().unwrap();
        for rs in request.resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| r.attributes.iter())
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    AnyValue::StringValue(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for span in ss.spans {
                    got.push(Got {
                        service: service.clone(),
                        span,
                    });
                }
            }
        }
        (
            StatusCode::OK,
            [("content-type", "application/x-protobuf")],
            Vec::<u8>::new(),
        )
            .into_response()
    }
    let spans: Spans = Arc::default();
    let app = axum::Router::new()
        .route("/v1/traces", axum::routing::post(take))
        .with_state(spans.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, spans)
}

/// What reached the MCP server: each POST's JSON-RPC method and `traceparent`.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A hop in front of the MCP server that notes what each POST carried and passes
/// everything through unchanged (streams included).
async fn recording_hop(upstream: String) -> (String, Seen) {
    #[derive(Clone)]
    struct Hop {
        upstream: String,
        seen: Seen,
        http: reqwest::Client,
    }
    async fn pass(
        State(hop): State<Hop>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        if method == Method::POST {
            let rpc = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v["method"].as_str().map(String::from))
                .unwrap_or_default();
            let tp = headers
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .map(String::from);
            hop.seen.lock().unwrap().push((rpc, tp));
        }
        let mut h = headers.clone();
        h.remove("host");
        let url = format!("{}{}", hop.upstream, uri.path());
        let answer = match hop
            .http
            .request(method, url)
            .headers(h)
            .body(body)
            .send()
            .await
        {
            Ok(a) => a,
            Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
        };
        let mut resp = Response::builder().status(answer.status());
        for (k, v) in answer.headers() {
            resp = resp.header(k, v);
        }
        resp.body(Body::from_stream(answer.bytes_stream().map(|c| c)))
            .unwrap()
    }
    let seen: Seen = Arc::default();
    let base = upstream.trim_end_matches("/mcp").to_string();
    let hop = Hop {
        upstream: base,
        seen: seen.clone(),
        http: http(),
    };
    let app = axum::Router::new().fallback(pass).with_state(hop);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

const POLICY: &str = "version: 1
default: allow
rules:
  - name: echo-needs-an-admin
    principals: {groups: [engineers]}
    tools: [echo]
    effect: require_approval
    approval:
      approvers: [gatehouse-admins]
      quorum: 1
      ttl: 5m
      mode: hold
";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_call_is_one_trace_from_the_client_to_the_mcp_server() {
    let (otlp, spans) = otlp_receiver().await;
    let telemetry = gatehouse_telemetry::install(
        gatehouse_telemetry::LogOptions {
            default_filter: "warn",
            json: false,
        },
        &gatehouse_telemetry::TelemetryConfig {
            endpoint: Some(otlp.clone()),
            ..Default::default()
        },
        "gatehouse",
    )
    .unwrap();

    let server = gatehouse_e2e::everything_http().await;
    let (hop, seen) = recording_hop(server.url.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cp = ControlPlane::start(
        "[[servers]]\nname = \"wiki\"\nagent = \"edge\"\n",
        "127.0.0.1:0",
        &dir.path().join("cp.db"),
    )
    .await;
    let (_, token) = cp.create_token("edge").await;
    let config = agent_config(
        dir.path(),
        "edge.toml",
        &cp.ws(),
        &format!(
            "[[servers]]\nname = \"wiki\"\nurl = \"{hop}\"\n[telemetry]\nendpoint = \"{otlp}\"\n"
        ),
    );
    // The agent exports its spans within 100 ms rather than the default 5 s.
    let mut agent = AgentProc::spawn(&[], &config, &token, &[("OTEL_BSP_SCHEDULE_DELAY", "100")]);
    cp.wait_connected("edge", 1).await;

    // `echo` waits for an admin's approval, so the call has every stage.
    let published = http()
        .post(format!("{}/api/v1/policies", cp.base))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/yaml")
        .body(POLICY)
        .send()
        .await
        .unwrap();
    assert_eq!(
        published.status(),
        201,
        "{}",
        published.text().await.unwrap()
    );
    for _ in 0..100 {
        if cp.gw.policy().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        cp.gw.policy().is_some(),
        "the published policy did not apply"
    );

    let session = McpSession::open(&format!("{}/mcp/wiki", cp.base)).await;
    let approver = {
        let base = cp.base.clone();
        tokio::spawn(async move {
            for _ in 0..300 {
                let pending: Value = http()
                    .get(format!("{base}/api/v1/approvals"))
                    .bearer_auth(ADMIN_TOKEN)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if let Some(id) = pending["approvals"][0]["id"].as_str() {
                    let r = http()
                        .post(format!("{base}/api/v1/approvals/{id}/approve"))
                        .bearer_auth(ADMIN_TOKEN)
                        .json(&json!({ "reason": "traced" }))
                        .send()
                        .await
                        .unwrap();
                    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("the call was never held for approval");
        })
    };
    let traceparent = format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01");
    let answer = http()
        .post(&session.url)
        .bearer_auth(USER_TOKEN)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &session.id)
        .header("mcp-protocol-version", "2025-06-18")
        .header("traceparent", &traceparent)
        .json(&json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"message":ARGUMENT}}}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    approver.await.unwrap();
    assert!(answer.contains(&format!("Echo: {ARGUMENT}")), "{answer}");

    // Both processes' spans of the call, under the client's trace id.
    telemetry.flush().await;
    let wanted = [
        "mcp.request",
        "auth",
        "decide",
        "record",
        "hold",
        "upstream",
        "mask",
        "agent.forward",
    ];
    let mut ours = Vec::new();
    for _ in 0..300 {
        ours = spans
            .lock()
            .unwrap()
            .iter()
            .filter(|g| g.trace_id() == CLIENT_TRACE)
            .cloned()
            .collect::<Vec<_>>();
        if wanted
            .iter()
            .all(|w| ours.iter().any(|g| g.span.name == *w))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let names: Vec<&str> = ours.iter().map(|g| g.span.name.as_str()).collect();
    for w in wanted {
        assert!(
            names.contains(&w),
            "no `{w}` span in the client's trace: {names:?}"
        );
    }
    let one = |name: &str| ours.iter().find(|g| g.span.name == name).unwrap();

    // The control plane's request span continues the client's span; its stages are its
    // children; the agent's span continues the upstream stage.
    let request = one("mcp.request");
    assert_eq!(request.service, "gatehouse");
    assert_eq!(request.parent(), CLIENT_SPAN);
    assert_eq!(request.attr("mcp.server").as_deref(), Some("wiki"));
    assert_eq!(
        request.attr("mcp.method.name").as_deref(),
        Some("tools/call")
    );
    assert_eq!(request.attr("gen_ai.tool.name").as_deref(), Some("echo"));
    assert_eq!(
        request.attr("mcp.session.id").as_deref(),
        Some(session.id.as_str())
    );
    for stage in ["auth", "decide", "record", "hold", "upstream", "mask"] {
        assert_eq!(
            one(stage).parent(),
            request.span_id(),
            "`{stage}` is not a child of the request span"
        );
    }
    assert_eq!(
        one("decide").attr("gatehouse.decision").as_deref(),
        Some("needs_approval")
    );
    let forward = one("agent.forward");
    assert_eq!(forward.service, "gatehouse-agent");
    assert_eq!(forward.parent(), one("upstream").span_id());

    // The MCP server got the same trace, continuing the agent's span.
    let calls: Vec<Option<String>> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(m, _)| m == "tools/call")
        .map(|(_, tp)| tp.clone())
        .collect();
    assert_eq!(
        calls,
        vec![Some(format!("00-{CLIENT_TRACE}-{}-01", forward.span_id()))],
        "the traceparent the MCP server received"
    );

    // Neither the argument nor a token is in any span.
    let all = format!("{:?}", spans.lock().unwrap());
    assert!(
        !all.contains(ARGUMENT),
        "a span carries the call's argument"
    );
    assert!(
        !all.contains(USER_TOKEN) && !all.contains(&token),
        "a span carries a token"
    );

    agent.kill().await;
    cp.stop().await;
}
