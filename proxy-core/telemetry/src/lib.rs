//! OpenTelemetry traces for Gatehouse. A call becomes one trace: the control plane's
//! request span and its stage spans, the agent's span, and whatever the MCP server
//! reports, tied together by W3C `traceparent`.
//!
//! - [`TelemetryConfig`]: the `[telemetry]` section (OTLP/HTTP endpoint, service name,
//!   sample ratio); off unless an endpoint is set.
//! - [`install`]: the process's log subscriber, with the OTLP exporter behind it when
//!   telemetry is on. Only spans of [`gatehouse_proxy_core::trace::TARGET`] are exported
//!   and logs never show them, so with telemetry off those spans are disabled at their
//!   call sites and cost nothing but a cached check.
//! - [`propagate`]: `traceparent` taken from a client and given to an upstream.
#![deny(missing_docs)]

mod client;
mod config;
mod install;
pub mod propagate;

pub use config::TelemetryConfig;
pub use install::{LogOptions, Telemetry, TelemetryError, install};
