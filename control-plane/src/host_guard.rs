//! DNS-rebinding protection (`Host` and `Origin`), checked by every surface a browser
//! can reach: the gateway, the JSON API and sign-in.

use http::HeaderMap;

/// Hosts a browser page may reach the control plane under.
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
