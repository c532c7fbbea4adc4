//! Checks on the HTTP envelope before anything is parsed or forwarded: DNS-rebinding
//! protection (`Host` and `Origin`) and the 2026-07-28 routing headers, which must agree
//! with the body because policy and routing read them.

use gatehouse_proxy_core::jsonrpc::Message;
use gatehouse_proxy_core::mcp;
use http::HeaderMap;

/// Hosts a browser page may reach the gateway under.
#[derive(Debug, Clone)]
pub struct HostGuard {
    allowed: Vec<String>,
}

impl HostGuard {
    /// Loopback names, the public URL's host and any extra configured hosts.
    pub fn new(public_base: &str, extra: &[String]) -> HostGuard {
        let mut allowed: Vec<String> = ["localhost", "127.0.0.1", "[::1]", "::1"]
            .map(String::from)
            .to_vec();
        if let Some(h) = host_of_url(public_base) {
            allowed.push(h);
        }
        allowed.extend(extra.iter().map(|h| h.to_ascii_lowercase()));
        HostGuard { allowed }
    }

    fn allows(&self, host_port: &str) -> bool {
        let host = strip_port(host_port).to_ascii_lowercase();
        self.allowed.iter().any(|a| *a == host || a == "*")
    }

    /// Refuses a request whose `Host` or `Origin` is not ours: a page on another site
    /// that rebinds its DNS name to this address must not reach the gateway.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), String> {
        if let Some(host) = headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            && !self.allows(host)
        {
            return Err(format!(
                "Host `{host}` is not served here (DNS-rebinding protection)"
            ));
        }
        if let Some(origin) = headers
            .get(http::header::ORIGIN)
            .and_then(|v| v.to_str().ok())
        {
            let ok = origin != "null" && host_of_url(origin).is_some_and(|h| self.allows(&h));
            if !ok {
                return Err(format!(
                    "Origin `{origin}` is not allowed (DNS-rebinding protection)"
                ));
            }
        }
        Ok(())
    }
}

fn host_of_url(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    Some(strip_port(authority).to_ascii_lowercase())
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split(']')
            .next()
            .map_or(host, |h| &host[..h.len() + 1]);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

/// Checks `Mcp-Method` and `Mcp-Name` against the body (MCP 2026-07-28): a request must
/// carry `Mcp-Method`, and `Mcp-Name` when it names a tool, prompt or resource, and both
/// must tell the truth.
pub fn check_routing_headers(headers: &HeaderMap, msg: &Message) -> Result<(), String> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let body_method = msg.method().unwrap_or("");
    match get("mcp-method") {
        Some(h) if h != body_method => {
            return Err(format!(
                "Mcp-Method header `{h}` does not match the body's method `{body_method}`"
            ));
        }
        None if msg.is_request() => {
            return Err(format!(
                "the Mcp-Method header is missing; it must be `{body_method}`"
            ));
        }
        _ => {}
    }
    match (get("mcp-name"), mcp::expected_name_header(msg)) {
        (Some(h), Some(body)) if h != body => Err(format!(
            "Mcp-Name header `{h}` does not match the body's `{body}`"
        )),
        (Some(h), None) => Err(format!(
            "Mcp-Name header `{h}` was sent for a request that names nothing"
        )),
        (None, Some(body)) => Err(format!(
            "the Mcp-Name header is missing; it must be `{body}`"
        )),
        _ => Ok(()),
    }
}

/// Headers forwarded unchanged to the upstream: the routing headers and `Mcp-Param-*`.
pub fn passthrough_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(k, _)| {
            let k = k.as_str();
            k == "mcp-method" || k == "mcp-name" || k.starts_with("mcp-param-")
        })
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, v.parse().unwrap());
        }
        m
    }

    #[test]
    fn rebinding_is_refused() {
        let g = HostGuard::new("https://gate.example.com", &[]);
        assert!(g.check(&h(&[("host", "127.0.0.1:8080")])).is_ok());
        assert!(g.check(&h(&[("host", "gate.example.com")])).is_ok());
        assert!(g.check(&h(&[("host", "evil.example")])).is_err());
        assert!(
            g.check(&h(&[
                ("host", "localhost:1"),
                ("origin", "http://localhost:3000")
            ]))
            .is_ok()
        );
        assert!(
            g.check(&h(&[
                ("host", "localhost:1"),
                ("origin", "http://evil.example")
            ]))
            .is_err()
        );
        assert!(
            g.check(&h(&[("host", "localhost:1"), ("origin", "null")]))
                .is_err()
        );
        assert!(g.check(&h(&[("host", "[::1]:8080")])).is_ok());
    }

    #[test]
    fn routing_headers_must_match_the_body() {
        let call = Message::from_value(
            json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"query"}}),
        )
        .unwrap();
        assert!(
            check_routing_headers(
                &h(&[("mcp-method", "tools/call"), ("mcp-name", "query")]),
                &call
            )
            .is_ok()
        );
        let e = check_routing_headers(&h(&[]), &call).unwrap_err();
        assert!(e.contains("Mcp-Method header is missing"), "{e}");
        let e = check_routing_headers(&h(&[("mcp-method", "tools/call")]), &call).unwrap_err();
        assert!(
            e.contains("Mcp-Name header is missing; it must be `query`"),
            "{e}"
        );
        assert!(
            check_routing_headers(
                &h(&[("mcp-method", "tools/call"), ("mcp-name", " query ")]),
                &call
            )
            .is_ok(),
            "surrounding whitespace is not a mismatch"
        );
        let e = check_routing_headers(&h(&[("mcp-method", "tools/list")]), &call).unwrap_err();
        assert!(e.contains("tools/list"), "{e}");
        assert!(check_routing_headers(&h(&[("mcp-name", "drop_db")]), &call).is_err());
        let list =
            Message::from_value(json!({"jsonrpc":"2.0","id":1,"method":"tools/list"})).unwrap();
        assert!(
            check_routing_headers(
                &h(&[("mcp-method", "tools/list"), ("mcp-name", "x")]),
                &list
            )
            .is_err()
        );
        assert!(check_routing_headers(&h(&[("mcp-method", "tools/list")]), &list).is_ok());
        let p = passthrough_headers(&h(&[
            ("mcp-param-region", "eu"),
            ("authorization", "Bearer x"),
            ("mcp-method", "m"),
        ]));
        assert_eq!(p.len(), 2);
        assert!(p.iter().all(|(k, _)| k != "authorization"));
    }
}
