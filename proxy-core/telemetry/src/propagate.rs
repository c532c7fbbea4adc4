//! W3C `traceparent`: a call's trace id taken from the client, and handed to the next
//! hop (an HTTP upstream, or the agent, which hands it on). With telemetry off nothing
//! here reads or writes a header.

use crate::install::on;
use gatehouse_proxy_core::trace::TRACEPARENT;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Makes `span` (a new root span) a child of the caller's span named in `headers`, so
/// the trace keeps the client's trace id. Without a valid `traceparent` it starts a
/// trace of its own.
pub fn continue_from(span: &tracing::Span, headers: &http::HeaderMap) {
    if span.is_disabled() || !on() {
        return;
    }
    let cx = TraceContextPropagator::new().extract(&opentelemetry_http::HeaderExtractor(headers));
    let _ = span.set_parent(cx);
}

/// As [`continue_from`], from headers carried as name/value pairs (the agent tunnel's).
pub fn continue_from_pairs(span: &tracing::Span, headers: &[(String, String)]) {
    if span.is_disabled() || !on() {
        return;
    }
    let cx = TraceContextPropagator::new().extract(&Pairs(headers));
    let _ = span.set_parent(cx);
}

/// Puts the current span's `traceparent` (and `tracestate`) into headers bound for the
/// next hop, replacing any there: the next hop's spans become its children.
pub fn inject_current(headers: &mut Vec<(String, String)>) {
    if !on() {
        return;
    }
    let span = tracing::Span::current();
    if span.is_disabled() {
        return;
    }
    let cx = span.context();
    headers.retain(|(k, _)| {
        !k.eq_ignore_ascii_case(TRACEPARENT) && !k.eq_ignore_ascii_case("tracestate")
    });
    TraceContextPropagator::new().inject_context(&cx, &mut PairsMut(headers));
}

struct Pairs<'a>(&'a [(String, String)]);

impl Extractor for Pairs<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_str()).collect()
    }
}

struct PairsMut<'a>(&'a mut Vec<(String, String)>);

impl Injector for PairsMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.push((key.to_string(), value));
    }
}
