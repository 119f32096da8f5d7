//! This host's own addresses, so that a wildcard listener of the server (`0.0.0.0:7878`) is
//! refused by its non-loopback addresses too ([`EgressPolicy::with_local_ips`]).
//!
//! Read from procfs: IPv4 from `/proc/net/fib_trie` (the `/32 host LOCAL` entries), IPv6 from
//! `/proc/net/if_inet6`. Elsewhere, or if procfs is unreadable, the list is empty and only the
//! listen addresses themselves are refused.
//!
//! [`EgressPolicy::with_local_ips`]: crate::EgressPolicy::with_local_ips

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Every address assigned to this host's interfaces, loopback included, each once.
pub fn local_ips() -> Vec<IpAddr> {
    let mut ips = Vec::new();
    if let Ok(text) = std::fs::read_to_string("/proc/net/fib_trie") {
        ips.extend(parse_fib_trie(&text).into_iter().map(IpAddr::V4));
    }
    if let Ok(text) = std::fs::read_to_string("/proc/net/if_inet6") {
        ips.extend(parse_if_inet6(&text).into_iter().map(IpAddr::V6));
    }
    let mut unique = Vec::with_capacity(ips.len());
    for ip in ips {
        if !unique.contains(&ip) {
            unique.push(ip);
        }
    }
    unique
}

/// The `|-- a.b.c.d` leaves whose next line is a `/32 host LOCAL` route.
fn parse_fib_trie(text: &str) -> Vec<Ipv4Addr> {
    let mut found = Vec::new();
    let mut leaf: Option<Ipv4Addr> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(addr) = line.strip_prefix("|-- ") {
            leaf = addr.parse().ok();
        } else if line == "/32 host LOCAL"
            && let Some(addr) = leaf
            && !found.contains(&addr)
        {
            found.push(addr);
        }
    }
    found
}

/// The first column of each line: 32 hex digits.
fn parse_if_inet6(text: &str) -> Vec<Ipv6Addr> {
    text.lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter_map(|hex| u128::from_str_radix(hex, 16).ok())
        .map(Ipv6Addr::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_routes_and_inet6_lines_are_read() {
        let trie = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n           |-- 127.0.0.1\n              /32 host LOCAL\n        |-- 127.255.255.255\n           /32 link BROADCAST\n           |-- 192.0.2.2\n              /32 host LOCAL\nLocal:\n           |-- 127.0.0.1\n              /32 host LOCAL\n";
        assert_eq!(
            parse_fib_trie(trie),
            [Ipv4Addr::LOCALHOST, Ipv4Addr::new(192, 0, 2, 2)]
        );
        let inet6 = "00000000000000000000000000000001 01 80 10 80       lo\nfd000000000000000000000000000002 04 40 00 82     eth0\n";
        assert_eq!(
            parse_if_inet6(inet6),
            [Ipv6Addr::LOCALHOST, "fd00::2".parse::<Ipv6Addr>().unwrap()]
        );
    }

    #[test]
    fn this_host_has_at_least_its_loopback() {
        assert!(local_ips().contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }
}
