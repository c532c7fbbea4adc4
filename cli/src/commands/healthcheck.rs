//! `gatehouse healthcheck`: asks a running control plane's `/healthz` and exits 0 when it
//! answers. Container images have no shell or curl, so their `HEALTHCHECK` runs this.

use super::Exit;
use gatehouse_control_plane::config::Config;
use std::path::Path;
use std::time::Duration;

/// Exit 0 when `{base}/healthz` answers 200 within `timeout`, else 1. Without `base`, the
/// port comes from the config's `listen` (on loopback), else 8080.
pub async fn run(base: Option<String>, timeout: Duration) -> Result<(), Exit> {
    let base = base.unwrap_or_else(local_base);
    let url = format!("{}/healthz", base.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| Exit::Runtime(format!("cannot make an HTTP client: {e}")))?;
    match client.get(&url).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(Exit::Runtime(format!("{url} answered {}", r.status()))),
        Err(e) => Err(Exit::Runtime(format!("{url}: {e}"))),
    }
}

/// `http://127.0.0.1:PORT` with the port of the configured `listen`.
fn local_base() -> String {
    let config = std::env::var_os("GATEHOUSE_CONFIG")
        .map(|p| Config::load(Path::new(&p)))
        .unwrap_or_else(Config::from_env);
    let port = config
        .ok()
        .and_then(|c| {
            c.listen
                .rsplit_once(':')
                .and_then(|(_, p)| p.parse::<u16>().ok())
        })
        .unwrap_or(8080);
    format!("http://127.0.0.1:{port}")
}
