//! Which addresses the control plane may fetch a client's metadata document from: only
//! global ones. The lists are IANA's IPv4 and IPv6 Special-Purpose Address Registries
//! (plus multicast and the deprecated site-local range); an IPv6 address that carries an
//! IPv4 one (mapped, NAT64, 6to4) is judged by the IPv4 address it reaches.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IPv4 ranges that are not global (IANA IPv4 Special-Purpose Address Registry, with
/// multicast and the limited broadcast).
const V4_SPECIAL: [(u32, u8); 19] = [
    (0x0000_0000, 8),  // 0.0.0.0/8 "this network"
    (0x0a00_0000, 8),  // 10.0.0.0/8 private
    (0x6440_0000, 10), // 100.64.0.0/10 shared (CGNAT)
    (0x7f00_0000, 8),  // 127.0.0.0/8 loopback
    (0xa9fe_0000, 16), // 169.254.0.0/16 link-local (cloud metadata)
    (0xac10_0000, 12), // 172.16.0.0/12 private
    (0xc000_0000, 24), // 192.0.0.0/24 IETF protocol assignments
    (0xc000_0200, 24), // 192.0.2.0/24 documentation
    (0xc01f_c400, 24), // 192.31.196.0/24 AS112
    (0xc034_c100, 24), // 192.52.193.0/24 AMT
    (0xc058_6300, 24), // 192.88.99.0/24 6to4 relay anycast
    (0xc0a8_0000, 16), // 192.168.0.0/16 private
    (0xc0af_3000, 24), // 192.175.48.0/24 AS112 direct delegation
    (0xc612_0000, 15), // 198.18.0.0/15 benchmarking
    (0xc633_6400, 24), // 198.51.100.0/24 documentation
    (0xcb00_7100, 24), // 203.0.113.0/24 documentation
    (0xe000_0000, 4),  // 224.0.0.0/4 multicast
    (0xf000_0000, 4),  // 240.0.0.0/4 reserved
    (0xffff_ffff, 32), // 255.255.255.255 limited broadcast
];

/// IPv6 ranges that are not global (IANA IPv6 Special-Purpose Address Registry, with
/// multicast and site-local), except those that embed an IPv4 address (below).
const V6_SPECIAL: [(u128, u8); 12] = [
    (0, 96),                      // ::/96 unspecified, loopback, IPv4-compatible
    (0x0064_ff9b_0001 << 80, 48), // 64:ff9b:1::/48 local-use NAT64
    (0x0100 << 112, 64),          // 100::/64 discard-only
    (0x2001 << 112, 23),          // 2001::/23 IETF protocol assignments (Teredo, ...)
    (0x2001_0db8 << 96, 32),      // 2001:db8::/32 documentation
    (0x2620_004f_8000 << 80, 48), // 2620:4f:8000::/48 AS112
    (0x3fff << 112, 20),          // 3fff::/20 documentation
    (0x5f00 << 112, 16),          // 5f00::/16 segment routing SIDs
    (0xfc00 << 112, 7),           // fc00::/7 unique-local
    (0xfe80 << 112, 10),          // fe80::/10 link-local
    (0xfec0 << 112, 10),          // fec0::/10 site-local (deprecated)
    (0xff00 << 112, 8),           // ff00::/8 multicast
];

fn in_range<T>(addr: T, (net, len): (T, u8), bits: u32) -> bool
where
    T: Copy + std::ops::Shr<u32, Output = T> + PartialEq,
{
    let shift = bits - u32::from(len);
    len == 0 || (addr >> shift) == (net >> shift)
}

/// Whether `ip` is a global address a server may fetch from.
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_global_v4(v4),
            None => {
                let a = u128::from(v6);
                !V6_SPECIAL.iter().any(|r| in_range(a, *r, 128))
            }
        },
    }
}

fn is_global_v4(v4: Ipv4Addr) -> bool {
    let a = u32::from(v4);
    !V4_SPECIAL.iter().any(|r| in_range(a, *r, 32))
}

/// The IPv4 address an IPv6 one leads to: IPv4-mapped (`::ffff:a.b.c.d`), the NAT64
/// well-known prefix (`64:ff9b::a.b.c.d`), 6to4 (`2002:AABB:CCDD::`).
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let a = u128::from(v6);
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    if in_range(a, (0x0064_ff9b << 96, 96), 128) {
        return Some(Ipv4Addr::from(a as u32));
    }
    if in_range(a, (0x2002 << 112, 16), 128) {
        return Some(Ipv4Addr::from((a >> 80) as u32));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_purpose_and_embedded_addresses_are_not_global() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "169.254.169.254",
            "100.64.0.1",
            "198.18.0.1",
            "198.19.255.255",
            "240.0.0.1",
            "192.0.0.170",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "::10.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:0a00:0001::1",
            "2002:7f00:0001::",
            "2001::1",
            "2001:db8::1",
            "fd00::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
        ] {
            assert!(!is_global(bad.parse().unwrap()), "{bad}");
        }
        for good in [
            "93.184.216.34",
            "2606:4700::1111",
            "64:ff9b::5db8:d822",
            "2002:5db8:d822::1",
            "::ffff:93.184.216.34",
        ] {
            assert!(is_global(good.parse().unwrap()), "{good}");
        }
    }
}
