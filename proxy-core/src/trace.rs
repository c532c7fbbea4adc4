//! The names shared by every part that makes trace spans. Spans of this target are the
//! only ones exported as OpenTelemetry traces; log output never shows them, so when
//! tracing is off (the default) no subscriber wants them and each one costs a single
//! cached check where it would be created.

/// The `tracing` target of every span that becomes an OpenTelemetry span.
pub const TARGET: &str = "gatehouse::trace";

/// The W3C Trace Context header (`traceparent`), as clients and upstreams send it.
pub const TRACEPARENT: &str = "traceparent";

/// A span of one stage of a call (`auth`, `decide`, `hold`, `upstream`, `mask`,
/// `record`), a child of the span current where it is made.
#[macro_export]
macro_rules! stage_span {
    ($name:literal $(, $($field:tt)*)?) => {
        ::tracing::info_span!(target: "gatehouse::trace", $name $(, $($field)*)?)
    };
}
