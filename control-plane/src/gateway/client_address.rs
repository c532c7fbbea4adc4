//! The client's address behind a reverse proxy. Rate limits and the record key on the
//! address a request came from; behind a proxy every request comes from the proxy, so
//! everyone would share one bucket. When the TCP peer is one of `trusted_proxies`, the
//! address is taken from `client_address_header` instead: its right-most entry that is
//! not itself a trusted proxy (entries to its left are the client's to forge). From any
//! other peer the header is ignored.

use super::Gateway;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// An address range, `ADDR/LEN` (or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    net: IpAddr,
    len: u8,
}

impl IpRange {
    /// Parses `10.0.0.0/8`, `fd00::/8` or `127.0.0.1`.
    pub fn parse(text: &str) -> Result<IpRange, String> {
        let (addr, len) = match text.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (text, None),
        };
        let net: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not an address or ADDRESS/LENGTH range"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let len = match len {
            Some(l) => l
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|l| *l <= max)
                .ok_or_else(|| format!("`{text}`: the prefix length must be 0 to {max}"))?,
            None => max,
        };
        Ok(IpRange { net, len })
    }

    /// Whether `ip` is in the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(
                u128::from(u32::from(n)),
                u128::from(u32::from(a)),
                32,
                self.len,
            ),
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                prefix_eq(u128::from(n), u128::from(a), 128, self.len)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: u128, b: u128, bits: u32, len: u8) -> bool {
    len == 0 || (a >> (bits - u32::from(len))) == (b >> (bits - u32::from(len)))
}

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
