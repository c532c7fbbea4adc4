//! The process's log subscriber, with OpenTelemetry behind it when `[telemetry]` is on.

use crate::client::RuntimeClient;
use crate::config::TelemetryConfig;
use gatehouse_proxy_core::trace::TARGET;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use std::sync::atomic::{AtomicBool, Ordering};
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

/// Whether spans are exported: checked before any work on `traceparent`.
static ON: AtomicBool = AtomicBool::new(false);

/// True once [`install`] set up an exporter in this process.
pub(crate) fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// How logs are written (to stderr).
#[derive(Debug, Clone, Copy)]
pub struct LogOptions {
    /// The filter when `RUST_LOG` is unset (`info`, `warn`, ...).
    pub default_filter: &'static str,
    /// JSON lines instead of text.
    pub json: bool,
}

/// Why tracing could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// A `[telemetry]` value is wrong.
    #[error("{0}")]
    Config(String),
    /// The exporter could not be built.
    #[error("cannot set up the OTLP exporter: {0}")]
    Exporter(String),
    /// Another subscriber is installed already.
    #[error("a log subscriber is installed already: {0}")]
    Installed(String),
}

/// The exporter, while the process runs; [`Telemetry::shutdown`] sends what is left.
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans still queued, now (a test, or before a planned stop).
    pub async fn flush(&self) {
        if let Some(p) = self.provider.clone() {
            // The SDK blocks until its export thread is done; that thread sends on this
            // runtime, so wait on a blocking thread, not on a runtime worker.
            let _ = tokio::task::spawn_blocking(move || p.force_flush()).await;
        }
    }

    /// Sends the spans still queued and stops the exporter.
    pub async fn shutdown(self) {
        if let Some(p) = self.provider {
            let _ = tokio::task::spawn_blocking(move || p.shutdown()).await;
        }
    }
}

/// Installs the process's subscriber: logs to stderr, and with `telemetry` on, spans of
/// [`TARGET`] exported over OTLP/HTTP as `default_service` (unless the config names the
/// service). With an endpoint, call from inside the tokio runtime the exporter will
/// send on.
pub fn install(
    log: LogOptions,
    telemetry: &TelemetryConfig,
    default_service: &str,
) -> Result<Telemetry, TelemetryError> {
    telemetry.validate().map_err(TelemetryError::Config)?;
    // Logs never show trace spans: with telemetry off no layer wants them, so they are
    // disabled where they are made.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(log.default_filter))
        .add_directive(
            format!("{TARGET}=off")
                .parse()
                .map_err(|e| TelemetryError::Config(format!("{e}")))?,
        );
    let fmt: Box<dyn Layer<Registry> + Send + Sync> = if log.json {
        Box::new(
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(std::io::stderr),
        )
    } else {
        Box::new(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
    };
    let provider = match &telemetry.endpoint {
        Some(endpoint) => Some(provider(telemetry, endpoint, default_service)?),
        None => None,
    };
    let installed = match &provider {
        // Off: the filter applies to the whole subscriber, so a disabled call site is
        // never asked again (an empty layer beside it would make every one "sometimes").
        None => tracing_subscriber::registry()
            .with(fmt)
            .with(filter)
            .try_init(),
        // On: logs and spans each have their own filter.
        Some(p) => {
            let otel = tracing_opentelemetry::layer()
                .with_tracer(p.tracer("gatehouse"))
                .with_filter(Targets::new().with_target(TARGET, tracing::Level::TRACE));
            tracing_subscriber::registry()
                .with(fmt.with_filter(filter))
                .with(otel)
                .try_init()
        }
    };
    installed.map_err(|e| TelemetryError::Installed(e.to_string()))?;
    if provider.is_some() {
        ON.store(true, Ordering::Relaxed);
    }
    Ok(Telemetry { provider })
}

fn provider(
    telemetry: &TelemetryConfig,
    endpoint: &str,
    default_service: &str,
) -> Result<SdkTracerProvider, TelemetryError> {
    let url = telemetry
        .traces_url(endpoint)
        .map_err(TelemetryError::Config)?;
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
        TelemetryError::Exporter("telemetry is set up outside the async runtime".into())
    })?;
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(RuntimeClient { http, runtime })
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url)
        .build()
        .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    let ratio = telemetry.sample_ratio.unwrap_or(1.0);
    let service = telemetry
        .service_name
        .clone()
        .unwrap_or_else(|| default_service.to_string());
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            ratio,
        ))))
        .with_resource(Resource::builder().with_service_name(service).build())
        .build())
}
