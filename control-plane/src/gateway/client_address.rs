//! The client's address behind a reverse proxy. Rate limits and the record key on the
//! address a request came from; behind a proxy every request comes from the proxy, so
//! everyone would share one bucket. When the TCP peer is one of `trusted_proxies`, the
//! address is taken from `client_address_header` instead: its right-most entry that is
//! not itself a trusted proxy (entries to its left are the client's to forge). From any
//! other peer the header is ignored.

use super::state::Gateway;
use crate::config::ip_range::IpRange;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The client address of a request from `peer` with header value `forwarded`.
pub fn client_address(peer: IpAddr, forwarded: Option<&str>, trusted: &[IpRange]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|r| r.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let Some(list) = forwarded else {
        return peer;
    };
    for entry in list.rsplit(',') {
        let entry = entry.trim();
        let ip = entry
            .parse::<IpAddr>()
            .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()));
        match ip {
            Ok(ip) if is_trusted(ip) => continue,
            Ok(ip) => return ip,
            // Garbage from the proxy's own neighbour: keep the proxy's address.
            Err(_) => return peer,
        }
    }
    peer
}

/// Replaces the request's connection address with the client's, when it came through
/// a trusted proxy (everything downstream reads `ConnectInfo`).
pub async fn rewrite(State(gw): State<Arc<Gateway>>, mut req: Request, next: Next) -> Response {
    let trusted = gw.config.trusted_proxy_ranges();
    if !trusted.is_empty()
        && let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied()
    {
        let header = req
            .headers()
            .get(gw.config.client_address_header.as_str())
            .and_then(|v| v.to_str().ok());
        let ip = client_address(addr.ip(), header, &trusted);
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(ip, addr.port())));
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_trusted_proxies_name_the_client() {
        let trusted = [IpRange::parse("10.0.0.0/8").unwrap()];
        let proxy: IpAddr = "10.1.1.1".parse().unwrap();
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(
            client_address(proxy, Some("1.2.3.4, 198.51.100.7"), &trusted),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client_address(proxy, Some("198.51.100.7, 10.2.2.2"), &trusted),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client_address(stranger, Some("1.2.3.4"), &trusted),
            stranger
        );
        assert_eq!(client_address(proxy, None, &trusted), proxy);
        assert!(IpRange::parse("10.0.0.0/33").is_err());
        assert!(
            IpRange::parse("::1")
                .unwrap()
                .contains("::1".parse().unwrap())
        );
    }
}
