//! `[telemetry]`: where traces go. The same section in `gatehouse.toml` and in the
//! agent's config.

use serde::Deserialize;

/// `[telemetry]`: OpenTelemetry traces over OTLP/HTTP (protobuf). Off unless `endpoint`
/// is set.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// The OTLP/HTTP collector, e.g. `http://otel-collector:4318` (spans are posted to
    /// its `/v1/traces`; a URL that already ends in `/v1/traces` is used as it is).
    /// Unset: no traces, and no cost on the request path.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// `service.name` of the spans (default `gatehouse`, or `gatehouse-agent` for the agent).
    #[serde(default)]
    pub service_name: Option<String>,
    /// The share of new traces kept, 0.0 to 1.0 (default 1.0). A call that arrives with
    /// a `traceparent` follows the caller's sampling decision.
    #[serde(default)]
    pub sample_ratio: Option<f64>,
}

impl TelemetryConfig {
    /// True when traces are exported.
    pub fn enabled(&self) -> bool {
        self.endpoint.is_some()
    }

    /// Checks the values; the message says which key is wrong and how to fix it.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(endpoint) = &self.endpoint {
            self.traces_url(endpoint)?;
        }
        if let Some(name) = &self.service_name
            && name.trim().is_empty()
        {
            return Err(
                "telemetry.service_name is empty: leave it out for the default, or name the service"
                    .into(),
            );
        }
        if let Some(r) = self.sample_ratio
            && !(0.0..=1.0).contains(&r)
        {
            return Err(format!(
                "telemetry.sample_ratio is {r}: it must be between 0.0 (no traces) and 1.0 (every trace)"
            ));
        }
        Ok(())
    }

    /// The URL spans are posted to.
    pub(crate) fn traces_url(&self, endpoint: &str) -> Result<String, String> {
        let url = reqwest::Url::parse(endpoint).map_err(|e| {
            format!("telemetry.endpoint `{endpoint}` is not a URL ({e}): give the collector's OTLP/HTTP address, e.g. http://otel-collector:4318")
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!(
                "telemetry.endpoint `{endpoint}` must be an http:// or https:// URL (OTLP over HTTP; gRPC is not supported)"
            ));
        }
        let base = endpoint.trim_end_matches('/');
        Ok(if base.ends_with("/v1/traces") {
            base.to_string()
        } else {
            format!("{base}/v1/traces")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_and_checked_when_on() {
        let off = TelemetryConfig::default();
        assert!(!off.enabled());
        assert!(off.validate().is_ok());
        let on = TelemetryConfig {
            endpoint: Some("http://collector:4318/".into()),
            ..Default::default()
        };
        assert_eq!(
            on.traces_url("http://collector:4318/").unwrap(),
            "http://collector:4318/v1/traces"
        );
        let bad_ratio = TelemetryConfig {
            sample_ratio: Some(1.5),
            ..on.clone()
        };
        assert!(bad_ratio.validate().unwrap_err().contains("sample_ratio"));
        let grpc = TelemetryConfig {
            endpoint: Some("grpc://collector:4317".into()),
            ..Default::default()
        };
        assert!(grpc.validate().unwrap_err().contains("http://"));
    }
}
