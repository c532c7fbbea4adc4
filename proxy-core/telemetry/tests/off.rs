//! With `[telemetry]` off (the default) the request path pays nothing for traces: the
//! stage spans are disabled where they are made, and no `traceparent` is read or written.
//! Alone in its file: it installs the process's subscriber.

use gatehouse_proxy_core::stage_span;
use gatehouse_telemetry::{LogOptions, TelemetryConfig, install, propagate};

#[tokio::test]
async fn off_means_no_spans_and_no_headers() {
    let log = LogOptions {
        default_filter: "trace",
        json: false,
    };
    // Even with every log level on, trace spans stay off.
    let _telemetry = install(log, &TelemetryConfig::default(), "gatehouse").unwrap();
    let span = stage_span!("decide", gatehouse.decision = "allow");
    assert!(span.is_disabled());
    let root = tracing::info_span!(target: gatehouse_proxy_core::trace::TARGET, "mcp.request");
    assert!(root.is_disabled());

    let mut incoming = http::HeaderMap::new();
    incoming.insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            .parse()
            .unwrap(),
    );
    propagate::continue_from(&root, &incoming);
    let mut outgoing = vec![("mcp-method".to_string(), "tools/call".to_string())];
    root.in_scope(|| propagate::inject_current(&mut outgoing));
    assert_eq!(
        outgoing.len(),
        1,
        "a header was added with tracing off: {outgoing:?}"
    );

    // Ordinary logs still flow.
    assert!(tracing::enabled!(tracing::Level::INFO));
}

#[test]
fn a_bad_section_is_refused_with_the_key_to_fix() {
    let bad = TelemetryConfig {
        endpoint: Some("otel-collector:4318".into()),
        ..Default::default()
    };
    let e = bad.validate().unwrap_err();
    assert!(e.contains("telemetry.endpoint"), "{e}");
}
