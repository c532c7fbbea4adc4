//! What makes an MCP client's metadata acceptable, for dynamic client registration
//! (RFC 7591, [`super::clients`]) and client ID metadata documents (an HTTPS URL as `client_id`, whose JSON document names the client
//! and its redirect URIs). Redirect URIs are loopback HTTP on any port (RFC 8252: VS
//! Code, mcp-remote, the Inspector, `gatehouse login`) or HTTPS (hosted callbacks of
//! desktop clients), and are matched exactly, the loopback port excepted.
//!
//! Fetching a metadata document is a server-side request to a URL a stranger chose, so
//! it is fenced (SSRF): HTTPS only, the name resolved once and every address required to
//! be public (no loopback, private, link-local or CGNAT ranges), the connection pinned to
//! that address, no redirects, 5 s and 64 KiB at most. Hosts an admin lists in
//! `authz.metadata_document_allowed_hosts` are exempt (internal clients, tests).

use crate::store::authz::{AuthzClient, default_grant_types};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a fetched metadata document is trusted before it is fetched again.
const DOCUMENT_TTL: Duration = Duration::from_secs(300);
const DOCUMENT_MAX_BYTES: usize = 64 * 1024;

/// Whether `uri` may be registered as a redirect URI; the error says what would be.
pub fn check_redirect_uri(uri: &str) -> Result<(), String> {
    let u = reqwest::Url::parse(uri).map_err(|e| format!("`{uri}` is not a URL: {e}"))?;
    if u.fragment().is_some() {
        return Err(format!(
            "`{uri}` has a fragment, which redirect URIs may not"
        ));
    }
    match u.scheme() {
        "https" if u.host_str().is_some() => Ok(()),
        "http" if is_loopback_host(u.host_str().unwrap_or("")) => Ok(()),
        _ => Err(format!(
            "`{uri}` is neither https:// nor a loopback http:// address (http://127.0.0.1:PORT/..., RFC 8252)"
        )),
    }
}

fn is_loopback_host(h: &str) -> bool {
    matches!(h, "127.0.0.1" | "[::1]" | "::1" | "localhost")
}

/// Whether `requested` matches the registered `registered`: exactly, or for loopback
/// HTTP with any port (native apps pick a free port each run, RFC 8252 §7.3).
pub fn redirect_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Ok(a), Ok(b)) = (
        reqwest::Url::parse(registered),
        reqwest::Url::parse(requested),
    ) else {
        return false;
    };
    a.scheme() == "http"
        && b.scheme() == "http"
        && is_loopback_host(a.host_str().unwrap_or(""))
        && a.host_str() == b.host_str()
        && a.path() == b.path()
        && a.query() == b.query()
        && b.fragment().is_none()
        && b.username().is_empty()
        && b.password().is_none()
}

/// A registration request (the fields Gatehouse uses; others are ignored).
#[derive(Debug, Deserialize)]
pub struct Registration {
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    client_name: Option<String>,
    #[serde(default)]
    grant_types: Option<Vec<String>>,
    #[serde(default)]
    response_types: Option<Vec<String>>,
}

pub(super) fn checked_client(
    client_id: String,
    reg: Registration,
    source: &str,
    default_name: &str,
) -> Result<AuthzClient, String> {
    let grant_types = reg.grant_types.clone().unwrap_or_else(default_grant_types);
    if let Some(bad) = grant_types.iter().find(|g| {
        !matches!(g.as_str(), "authorization_code" | "refresh_token")
            && g.as_str() != super::device_codes::GRANT_TYPE
    }) {
        return Err(format!(
            "grant type `{bad}` is not offered to MCP clients; use authorization_code, refresh_token and {}",
            super::device_codes::GRANT_TYPE
        ));
    }
    // A client that only signs in by device code has nowhere to be redirected to.
    let device_only = !grant_types.iter().any(|g| g == "authorization_code");
    if (reg.redirect_uris.is_empty() && !device_only) || reg.redirect_uris.len() > 10 {
        return Err("give between 1 and 10 redirect_uris".into());
    }
    for uri in &reg.redirect_uris {
        check_redirect_uri(uri)?;
    }
    if let Some(r) = &reg.response_types
        && r.iter().any(|r| r != "code")
    {
        return Err("only the `code` response type is offered".into());
    }
    let name: String = reg
        .client_name
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| default_name.to_string())
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    Ok(AuthzClient {
        client_id,
        client_name: name,
        redirect_uris: reg.redirect_uris,
        source: source.into(),
        grant_types,
    })
}

/// Metadata documents fetched recently.
pub struct DocumentCache {
    allowed_hosts: Vec<String>,
    docs: Mutex<HashMap<String, (AuthzClient, Instant)>>,
    /// Fetches per host and minute: anyone may name a document URL before signing in,
    /// so the control plane must not become a scanner of one host's ports.
    fetches: super::failures::FailureLog,
    /// Recent failures, answered again without a fetch.
    failed: Mutex<HashMap<String, (String, Instant)>>,
}

/// Document fetches per host and minute.
const FETCHES_PER_HOST_MINUTE: u32 = 10;
/// How long a failed fetch is answered from memory.
const FAILURE_TTL: Duration = Duration::from_secs(60);

impl DocumentCache {
    /// A cache; `allowed_hosts` are exempt from the HTTPS and public-address rules.
    pub fn new(allowed_hosts: &[String]) -> DocumentCache {
        DocumentCache {
            allowed_hosts: allowed_hosts
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            docs: Mutex::new(HashMap::new()),
            fetches: super::failures::FailureLog::new(FETCHES_PER_HOST_MINUTE),
            failed: Mutex::new(HashMap::new()),
        }
    }

    /// The client a metadata document URL describes (fetched, or cached).
    pub async fn get(&self, url: &str) -> Result<AuthzClient, String> {
        if let Some((c, at)) = self.docs.lock().unwrap_or_else(|e| e.into_inner()).get(url)
            && at.elapsed() < DOCUMENT_TTL
        {
            return Ok(c.clone());
        }
        if let Some((e, at)) = self
            .failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(url)
            && at.elapsed() < FAILURE_TTL
        {
            return Err(e.clone());
        }
        let host = reqwest::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
            .unwrap_or_default();
        // Windows that are over start again (their counts are not needed here).
        let _ = self.fetches.take_suppressed(false);
        if matches!(self.fetches.admit(&host), super::failures::Admit::Suppress) {
            return Err(format!(
                "too many client ID metadata documents were fetched from `{host}` this minute; try again in a minute"
            ));
        }
        let client = match self.fetch(url).await {
            Ok(c) => c,
            Err(e) => {
                let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
                if failed.len() > 1000 {
                    failed.retain(|_, (_, at)| at.elapsed() < FAILURE_TTL);
                }
                failed.insert(url.to_string(), (e.clone(), Instant::now()));
                return Err(e);
            }
        };
        let mut docs = self.docs.lock().unwrap_or_else(|e| e.into_inner());
        if docs.len() > 1000 {
            docs.retain(|_, (_, at)| at.elapsed() < DOCUMENT_TTL);
        }
        docs.insert(url.to_string(), (client.clone(), Instant::now()));
        Ok(client)
    }

    async fn fetch(&self, url: &str) -> Result<AuthzClient, String> {
        let u = reqwest::Url::parse(url).map_err(|e| format!("client_id `{url}`: {e}"))?;
        let host = u
            .host_str()
            .ok_or_else(|| format!("client_id `{url}` has no host"))?
            .to_ascii_lowercase();
        let exempt = self.allowed_hosts.contains(&host);
        if u.scheme() != "https" && !exempt {
            return Err(format!(
                "client_id `{url}` must be an https:// URL (client ID metadata document)"
            ));
        }
        if u.path() == "/" || u.fragment().is_some() || !u.username().is_empty() {
            return Err(format!(
                "client_id `{url}` must name a document by path, without fragment or credentials"
            ));
        }
        let port = u.port_or_known_default().unwrap_or(443);
        let addrs: Vec<std::net::SocketAddr> =
            tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
                .await
                .map_err(|e| format!("cannot resolve `{host}`: {e}"))?
                .collect();
        let Some(first) = addrs.first().copied() else {
            return Err(format!("`{host}` has no address"));
        };
        if !exempt && let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
            return Err(format!(
                "client_id `{url}` resolves to {}, a non-public address: refused (SSRF protection)",
                bad.ip()
            ));
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(5))
            .resolve(&host, first)
            .build()
            .map_err(|e| e.to_string())?;
        let mut resp = http
            .get(u.clone())
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| {
                tracing::info!(client_id = %url, error = %e, "a client ID metadata document could not be fetched");
                format!("the client ID metadata document `{url}` could not be fetched")
            })?;
        if !resp.status().is_success() {
            // The status stays in the log: the page must not become a port scanner's oracle.
            tracing::info!(client_id = %url, status = %resp.status(), "a client ID metadata document could not be fetched");
            return Err(format!(
                "the client ID metadata document `{url}` could not be fetched"
            ));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| format!("reading client_id `{url}`: {e}"))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > DOCUMENT_MAX_BYTES {
                return Err(format!(
                    "client_id `{url}`: the document is larger than {DOCUMENT_MAX_BYTES} bytes"
                ));
            }
        }
        let doc: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| format!("client_id `{url}` is not a JSON document: {e}"))?;
        if doc["client_id"].as_str() != Some(url) {
            return Err(format!(
                "the document at `{url}` names another client_id ({}): refused",
                doc["client_id"]
            ));
        }
        if doc
            .get("token_endpoint_auth_method")
            .and_then(|m| m.as_str())
            .is_some_and(|m| m != "none")
        {
            return Err(format!(
                "client_id `{url}`: only public clients (token_endpoint_auth_method none) are supported"
            ));
        }
        let reg: Registration =
            serde_json::from_value(doc).map_err(|e| format!("client_id `{url}`: {e}"))?;
        checked_client(url.to_string(), reg, "metadata_document", &host)
    }
}

/// Whether an address is on the public internet (IANA's special-purpose ranges and
/// IPv6 addresses carrying a non-public IPv4 one excluded: [`super::ip_ranges`]).
pub fn is_public(ip: IpAddr) -> bool {
    super::ip_ranges::is_global(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_loopback_or_https_and_match_exactly() {
        assert!(check_redirect_uri("http://127.0.0.1:33418/callback").is_ok());
        assert!(check_redirect_uri("http://localhost/cb").is_ok());
        assert!(check_redirect_uri("https://claude.ai/api/mcp/auth_callback").is_ok());
        assert!(check_redirect_uri("http://evil.example/cb").is_err());
        assert!(check_redirect_uri("https://ok.example/cb#frag").is_err());
        assert!(check_redirect_uri("javascript:alert(1)").is_err());

        let reg = "http://127.0.0.1:5000/callback";
        assert!(redirect_matches(reg, "http://127.0.0.1:61234/callback"));
        assert!(!redirect_matches(reg, "http://127.0.0.1:61234/other"));
        assert!(!redirect_matches(reg, "http://localhost:61234/callback"));
        let hosted = "https://app.example/cb";
        assert!(redirect_matches(hosted, hosted));
        assert!(!redirect_matches(hosted, "https://app.example:8443/cb"));
        assert!(!redirect_matches(hosted, "https://app.example/cb?x=1"));
    }

    #[test]
    fn only_public_addresses_are_fetched() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(bad.parse().unwrap()), "{bad}");
        }
        assert!(is_public("93.184.216.34".parse().unwrap()));
        assert!(is_public("2606:4700::1111".parse().unwrap()));
    }

    #[tokio::test]
    async fn metadata_documents_on_private_addresses_are_refused() {
        let cache = DocumentCache::new(&[]);
        let e = cache
            .get("http://127.0.0.1:9/client.json")
            .await
            .unwrap_err();
        assert!(e.contains("https://"), "{e}");
        let e = cache
            .get("https://127.0.0.1:9/client.json")
            .await
            .unwrap_err();
        assert!(e.contains("SSRF"), "{e}");
    }
}
