//! Which IP addresses egress never reaches unless a rule names them: [`denied_range`].
//!
//! The tables follow DESIGN.md ("Egress") and the IANA special-purpose address registries for
//! IPv4 and IPv6, plus every cloud metadata address we know of. Order matters: the first entry
//! that contains the address names it, so the metadata addresses come first (169.254.169.254 is
//! reported as `cloud_metadata`, not `link_local`), and 168.63.129.16 (Azure), which is
//! otherwise an ordinary public address, is caught at all.
//!
//! IPv6 forms that carry an IPv4 address are handled explicitly, never with
//! `Ipv6Addr::to_ipv4()` (which turns `::1` into `0.0.0.1`):
//! - IPv4-mapped `::ffff:a.b.c.d` and NAT64 `64:ff9b::a.b.c.d` reach that IPv4 host, so they are
//!   judged by the embedded address: a public one is allowed, a denied one is reported with
//!   both ranges ([`DeniedRange::embedded`]).
//! - IPv4-compatible `::a.b.c.d` (deprecated), 6to4 `2002::/16`, Teredo `2001::/32` and local
//!   NAT64 `64:ff9b:1::/48` are denied whole: their embedding is not a reliable statement of
//!   where the packet goes, and no legitimate service needs them.
//!
//! Everything outside the global unicast block `2000::/3` is unassigned or special in IPv6, so
//! it is denied as `reserved` (with the IANA block as the range) unless an earlier entry names it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// The kind of a denied range, with a stable short name ([`RangeKind::name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RangeKind {
    /// A cloud provider's instance metadata, identity or platform service.
    CloudMetadata,
    /// `0.0.0.0`, `::`.
    Unspecified,
    /// `0.0.0.0/8`: "this network".
    ThisNetwork,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918: `10/8`, `172.16/12`, `192.168/16`.
    Private,
    /// Carrier-grade NAT shared space `100.64.0.0/10`.
    Cgnat,
    /// `169.254.0.0/16`, `fe80::/10`.
    LinkLocal,
    /// IETF protocol assignments: `192.0.0.0/24`, `2001::/23`.
    IetfProtocol,
    /// Documentation: `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24`, `2001:db8::/32`,
    /// `3fff::/20`.
    Documentation,
    /// Benchmarking: `198.18.0.0/15`, `2001:2::/48`.
    Benchmarking,
    /// The deprecated 6to4 relay anycast prefix `192.88.99.0/24`.
    SixToFourRelay,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `240.0.0.0/4`, and IPv6 space outside `2000::/3` that nothing else names.
    Reserved,
    /// `255.255.255.255`.
    Broadcast,
    /// `::ffff:0:0/96`, judged by the embedded IPv4 address.
    Ipv4Mapped,
    /// `::/96`, deprecated IPv4-compatible addresses; denied whole.
    Ipv4Compatible,
    /// `64:ff9b::/96`, the NAT64 well-known prefix, judged by the embedded IPv4 address.
    Nat64,
    /// `64:ff9b:1::/48`, local-use NAT64; denied whole.
    Nat64Local,
    /// `100::/64`, the discard-only prefix.
    Discard,
    /// `2001::/32`, Teredo; denied whole.
    Teredo,
    /// `2002::/16`, 6to4; denied whole.
    SixToFour,
    /// `fc00::/7`, unique local addresses.
    UniqueLocal,
    /// `fec0::/10`, deprecated site-local addresses.
    SiteLocal,
    /// `5f00::/16`, SRv6 segment identifiers.
    Srv6,
}

impl RangeKind {
    /// The stable short name, e.g. `loopback`, `cloud_metadata`, `6to4`.
    pub fn name(self) -> &'static str {
        match self {
            Self::CloudMetadata => "cloud_metadata",
            Self::Unspecified => "unspecified",
            Self::ThisNetwork => "this_network",
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::Cgnat => "cgnat",
            Self::LinkLocal => "link_local",
            Self::IetfProtocol => "ietf_protocol",
            Self::Documentation => "documentation",
            Self::Benchmarking => "benchmarking",
            Self::SixToFourRelay => "6to4_relay",
            Self::Multicast => "multicast",
            Self::Reserved => "reserved",
            Self::Broadcast => "broadcast",
            Self::Ipv4Mapped => "ipv4_mapped",
            Self::Ipv4Compatible => "ipv4_compatible",
            Self::Nat64 => "nat64",
            Self::Nat64Local => "nat64_local",
            Self::Discard => "discard",
            Self::Teredo => "teredo",
            Self::SixToFour => "6to4",
            Self::UniqueLocal => "unique_local",
            Self::SiteLocal => "site_local",
            Self::Srv6 => "srv6",
        }
    }
}

impl fmt::Display for RangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The IPv4 address inside an IPv4-mapped or NAT64 address, and the denied range it is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EmbeddedV4 {
    /// The embedded address.
    pub address: Ipv4Addr,
    /// The kind of its denied range.
    pub kind: RangeKind,
    /// Its denied range.
    pub net: Ipv4Net,
}

/// Why an address is denied: the range it is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeniedRange {
    /// The kind of range.
    pub kind: RangeKind,
    /// The range that contains the address, e.g. `127.0.0.0/8`.
    pub net: IpNet,
    /// For [`RangeKind::Ipv4Mapped`] and [`RangeKind::Nat64`]: the embedded IPv4 address and its
    /// own denied range, which is the real reason.
    pub embedded: Option<EmbeddedV4>,
}

impl DeniedRange {
    /// The stable short name of the range's kind.
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }

    /// Whether an IP or CIDR rule for `rule` explicitly opens `address` (which must be the
    /// address this range was computed for). A rule opens an address only if it contains the
    /// address and lies inside the denied range: `127.0.0.1/32` opens loopback 127.0.0.1, while
    /// `0.0.0.0/0` contains every address but opens none that is denied. For an embedded form
    /// the range is the embedded range translated into the IPv6 prefix; an IPv4 rule also opens
    /// the IPv4-mapped form of the addresses it opens (the same host).
    pub(crate) fn is_opened_by(&self, address: IpAddr, rule: &IpNet) -> bool {
        let own = self.embedded_as_v6().unwrap_or(self.net);
        if rule.contains(&address) && own.contains(rule) {
            return true;
        }
        match (self.kind, self.embedded, address) {
            (RangeKind::Ipv4Mapped, Some(inner), IpAddr::V6(_)) => {
                let inner_net = IpNet::V4(inner.net);
                rule.contains(&IpAddr::V4(inner.address)) && inner_net.contains(rule)
            }
            _ => false,
        }
    }

    /// The embedded range translated into the prefix that carries it, e.g. `::ffff:a00:0/104`.
    fn embedded_as_v6(&self) -> Option<IpNet> {
        let (IpNet::V6(prefix), Some(inner)) = (self.net, self.embedded) else {
            return None;
        };
        let bits = u128::from(prefix.network()) | u128::from(u32::from(inner.net.network()));
        let net = Ipv6Net::new(Ipv6Addr::from(bits), 96 + inner.net.prefix_len()).ok()?;
        Some(IpNet::V6(net))
    }
}

impl fmt::Display for DeniedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.net)?;
        if let Some(inner) = self.embedded {
            write!(
                f,
                " embedding {}, {} {}",
                inner.address, inner.kind, inner.net
            )?;
        }
        Ok(())
    }
}

/// The denied range `ip` is in, or `None` for an address egress may reach when a rule grants it.
pub fn denied_range(ip: IpAddr) -> Option<DeniedRange> {
    match ip {
        IpAddr::V4(v4) => denied_v4(v4).map(|(kind, net)| DeniedRange {
            kind,
            net: IpNet::V4(net),
            embedded: None,
        }),
        IpAddr::V6(v6) => denied_v6(v6),
    }
}

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix)
}

const fn v6(segments: [u16; 8], prefix: u8) -> Ipv6Net {
    let [a, b, c, d, e, f, g, h] = segments;
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), prefix)
}

/// IPv4 ranges, first match wins.
pub(crate) const DENIED_V4: &[(RangeKind, Ipv4Net)] = &[
    // Cloud metadata first: several sit inside link-local, one (Azure) in public space.
    (RangeKind::CloudMetadata, v4(169, 254, 169, 254, 32)), // AWS, GCP, Azure, OCI, DO, OpenStack
    (RangeKind::CloudMetadata, v4(169, 254, 170, 2, 32)),   // AWS ECS task metadata
    (RangeKind::CloudMetadata, v4(169, 254, 170, 23, 32)),  // AWS EKS pod identity agent
    (RangeKind::CloudMetadata, v4(169, 254, 0, 23, 32)),    // Tencent Cloud
    (RangeKind::CloudMetadata, v4(168, 63, 129, 16, 32)),   // Azure WireServer
    (RangeKind::CloudMetadata, v4(100, 100, 100, 200, 32)), // Alibaba Cloud
    (RangeKind::CloudMetadata, v4(192, 0, 0, 192, 32)),     // Oracle Cloud
    (RangeKind::Unspecified, v4(0, 0, 0, 0, 32)),
    (RangeKind::ThisNetwork, v4(0, 0, 0, 0, 8)),
    (RangeKind::Private, v4(10, 0, 0, 0, 8)),
    (RangeKind::Cgnat, v4(100, 64, 0, 0, 10)),
    (RangeKind::Loopback, v4(127, 0, 0, 0, 8)),
    (RangeKind::LinkLocal, v4(169, 254, 0, 0, 16)),
    (RangeKind::Private, v4(172, 16, 0, 0, 12)),
    (RangeKind::IetfProtocol, v4(192, 0, 0, 0, 24)),
    (RangeKind::Documentation, v4(192, 0, 2, 0, 24)),
    (RangeKind::SixToFourRelay, v4(192, 88, 99, 0, 24)),
    (RangeKind::Private, v4(192, 168, 0, 0, 16)),
    (RangeKind::Benchmarking, v4(198, 18, 0, 0, 15)),
    (RangeKind::Documentation, v4(198, 51, 100, 0, 24)),
    (RangeKind::Documentation, v4(203, 0, 113, 0, 24)),
    (RangeKind::Multicast, v4(224, 0, 0, 0, 4)),
    (RangeKind::Broadcast, v4(255, 255, 255, 255, 32)),
    (RangeKind::Reserved, v4(240, 0, 0, 0, 4)),
];

/// The IPv4-mapped prefix `::ffff:0:0/96`.
const MAPPED: Ipv6Net = v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96);
/// The NAT64 well-known prefix `64:ff9b::/96`.
const NAT64: Ipv6Net = v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96);

/// IPv6 ranges, first match wins; [`MAPPED`] and [`NAT64`] are handled before this table.
pub(crate) const DENIED_V6: &[(RangeKind, Ipv6Net)] = &[
    (
        RangeKind::CloudMetadata,
        v6([0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254], 128),
    ), // AWS IMDS
    (
        RangeKind::CloudMetadata,
        v6([0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23], 128),
    ), // AWS EKS pod identity
    (
        RangeKind::CloudMetadata,
        v6([0xfd20, 0xce, 0, 0, 0, 0, 0, 0x254], 128),
    ), // GCP
    (RangeKind::Unspecified, v6([0; 8], 128)),
    (RangeKind::Loopback, v6([0, 0, 0, 0, 0, 0, 0, 1], 128)),
    (RangeKind::Ipv4Compatible, v6([0; 8], 96)),
    (
        RangeKind::Nat64Local,
        v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),
    ),
    (RangeKind::Discard, v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64)),
    (RangeKind::Teredo, v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32)),
    (
        RangeKind::Benchmarking,
        v6([0x2001, 2, 0, 0, 0, 0, 0, 0], 48),
    ),
    (
        RangeKind::Documentation,
        v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
    ),
    (
        RangeKind::IetfProtocol,
        v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23),
    ),
    (RangeKind::SixToFour, v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16)),
    (
        RangeKind::Documentation,
        v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20),
    ),
    (RangeKind::Srv6, v6([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16)),
    (RangeKind::UniqueLocal, v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7)),
    (RangeKind::LinkLocal, v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10)),
    (RangeKind::SiteLocal, v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10)),
    (RangeKind::Multicast, v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8)),
    // The rest of the IPv6 space outside 2000::/3, by IANA block.
    (RangeKind::Reserved, v6([0, 0, 0, 0, 0, 0, 0, 0], 8)),
    (RangeKind::Reserved, v6([0x100, 0, 0, 0, 0, 0, 0, 0], 8)),
    (RangeKind::Reserved, v6([0x200, 0, 0, 0, 0, 0, 0, 0], 7)),
    (RangeKind::Reserved, v6([0x400, 0, 0, 0, 0, 0, 0, 0], 6)),
    (RangeKind::Reserved, v6([0x800, 0, 0, 0, 0, 0, 0, 0], 5)),
    (RangeKind::Reserved, v6([0x1000, 0, 0, 0, 0, 0, 0, 0], 4)),
    (RangeKind::Reserved, v6([0x4000, 0, 0, 0, 0, 0, 0, 0], 3)),
    (RangeKind::Reserved, v6([0x6000, 0, 0, 0, 0, 0, 0, 0], 3)),
    (RangeKind::Reserved, v6([0x8000, 0, 0, 0, 0, 0, 0, 0], 3)),
    (RangeKind::Reserved, v6([0xa000, 0, 0, 0, 0, 0, 0, 0], 3)),
    (RangeKind::Reserved, v6([0xc000, 0, 0, 0, 0, 0, 0, 0], 3)),
    (RangeKind::Reserved, v6([0xe000, 0, 0, 0, 0, 0, 0, 0], 4)),
    (RangeKind::Reserved, v6([0xf000, 0, 0, 0, 0, 0, 0, 0], 5)),
    (RangeKind::Reserved, v6([0xf800, 0, 0, 0, 0, 0, 0, 0], 6)),
    (RangeKind::Reserved, v6([0xfe00, 0, 0, 0, 0, 0, 0, 0], 9)),
];

fn denied_v4(ip: Ipv4Addr) -> Option<(RangeKind, Ipv4Net)> {
    DENIED_V4.iter().find(|(_, net)| net.contains(&ip)).copied()
}

fn denied_v6(ip: Ipv6Addr) -> Option<DeniedRange> {
    // Forms that reach an IPv4 host are judged by that host.
    for (kind, prefix) in [(RangeKind::Ipv4Mapped, MAPPED), (RangeKind::Nat64, NAT64)] {
        if prefix.contains(&ip) {
            // The low 32 bits, by construction of both /96 prefixes.
            let address = Ipv4Addr::from(u128::from(ip) as u32);
            let (inner_kind, inner_net) = denied_v4(address)?;
            return Some(DeniedRange {
                kind,
                net: IpNet::V6(prefix),
                embedded: Some(EmbeddedV4 {
                    address,
                    kind: inner_kind,
                    net: inner_net,
                }),
            });
        }
    }
    let (kind, net) = DENIED_V6.iter().find(|(_, net)| net.contains(&ip))?;
    Some(DeniedRange {
        kind: *kind,
        net: IpNet::V6(*net),
        embedded: None,
    })
}

#[cfg(test)]
mod tests;
