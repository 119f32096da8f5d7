//! Which client a request is charged to, for rate limiting and the event log.
//!
//! The client is the TCP peer, unless the peer is a configured trusted proxy. Then
//! `X-Forwarded-For` is walked **from the right**: each entry was appended by the hop to its
//! right, so an entry is only as trustworthy as that hop. The walk skips entries that are
//! themselves trusted proxies and stops at the first one that is not: that is the client. The
//! left-most entry is whatever the original sender wrote and is never believed on its own
//! (the `SmartIpKeyExtractor` pitfall in DESIGN.md).
//!
//! Where the walk cannot go further, the client is the last address it reached:
//! - no `X-Forwarded-For`, or every entry is a trusted proxy: the left-most address reached
//!   (the peer itself when there is no header);
//! - an entry that is not an IP address (`unknown`, an empty entry, a hostname, an address with
//!   a zone): the trusted hop to its right. Such an entry was written by a trusted proxy, so the
//!   requests are charged to that proxy rather than to anything an attacker could choose;
//! - more than [`MAX_FORWARDED_HOPS`] trusted entries: the last one reached.
//!
//! Only `X-Forwarded-For` is read; `Forwarded` (RFC 7239) and `X-Real-IP` are ignored, so
//! configure trusted proxies to append `X-Forwarded-For`. Addresses are canonicalised
//! (`::ffff:192.0.2.1` becomes `192.0.2.1`) so one client has one identity on a dual-stack
//! socket, and trusted IPv4-mapped IPv6 networks are converted to IPv4 networks to match.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use ipnet::{IpNet, Ipv4Net};

/// Most trusted hops walked in `X-Forwarded-For`; a real proxy chain is a handful.
pub const MAX_FORWARDED_HOPS: usize = 16;

/// Resolves the client address of a request.
#[derive(Debug, Clone, Default)]
pub struct ClientResolver {
    trusted: Vec<IpNet>,
}

impl ClientResolver {
    /// A resolver trusting `X-Forwarded-For` only from peers in `trusted_proxies`. With an
    /// empty list the client is always the peer.
    ///
    /// A network as wide as `0.0.0.0/0` makes every peer a proxy and so every client whatever
    /// the left-most-but-trusted entry says; list the proxies' own addresses.
    pub fn new(trusted_proxies: Vec<IpNet>) -> Self {
        let trusted = trusted_proxies.into_iter().map(canonical_net).collect();
        Self { trusted }
    }

    /// Whether `addr` is a trusted proxy.
    pub fn is_trusted(&self, addr: IpAddr) -> bool {
        let addr = addr.to_canonical();
        self.trusted.iter().any(|net| net.contains(&addr))
    }

    /// The client address of a request from `peer` with `headers`; see the module docs.
    pub fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.is_trusted(peer) {
            return peer;
        }
        let mut client = peer;
        // Several header lines are one list in order (RFC 9110 5.3), so the right-most entry
        // is the last entry of the last line.
        let entries = headers
            .get_all("x-forwarded-for")
            .iter()
            .rev()
            .flat_map(|value| {
                // A line that is not visible ASCII is one unparsable entry: `None`.
                let text = value.to_str().ok();
                let entries = text.into_iter().flat_map(|t| t.rsplit(',')).map(Some);
                entries.chain(text.is_none().then_some(None))
            });
        for entry in entries.take(MAX_FORWARDED_HOPS) {
            let Some(addr) = entry.and_then(parse_entry) else {
                return client;
            };
            client = addr;
            if !self.is_trusted(addr) {
                return addr;
            }
        }
        client
    }
}

/// Parses one `X-Forwarded-For` entry: an IP address, optionally with a port
/// (`192.0.2.1:4711`, `[2001:db8::1]:4711`) or in brackets (`[2001:db8::1]`), as some proxies
/// write them.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim_matches([' ', '\t']);
    let addr = entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            entry
                .strip_prefix('[')?
                .strip_suffix(']')?
                .parse::<IpAddr>()
                .ok()
        })?;
    Some(addr.to_canonical())
}

/// `::ffff:10.0.0.0/104` becomes `10.0.0.0/8`, matching canonicalised addresses.
fn canonical_net(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net
        && v6.prefix_len() >= 96
        && let Some(v4) = v6.network().to_ipv4_mapped()
        && let Ok(v4) = Ipv4Net::new(v4, v6.prefix_len() - 96)
    {
        return IpNet::V4(v4);
    }
    net
}

#[cfg(test)]
mod tests;
