//! Egress rules and grants: what a tool may reach, as `scheme://host[:ports]` strings.
//!
//! A bundle manifest requests rules per tool, an operator grants rules per project; the host
//! checks the grant is [`EgressGrant::within`] the request and builds an
//! [`EgressPolicy`](crate::EgressPolicy) from the grant. Rules are syntax only: whether a name
//! or address may be reached at all is the policy's business, so a grant that names
//! `localhost` parses and is then refused at every check.
//!
//! Syntax of one entry:
//! - **scheme**: `http`, `https` (wasi:http), `tcp`, `udp` (wasi:sockets); case-insensitive.
//! - **host**:
//!   - an exact DNS name, normalised like every host ([`crate::Host`]): `api.example.com`;
//!   - `*.suffix`: every name strictly under `suffix` at any depth, not `suffix` itself;
//!   - `*`: every DNS name, never an IP address;
//!   - an IP address, meaning that address only: `192.0.2.1`, `[2001:db8::1]` (dotted-quad
//!     IPv4 only: `127.1` or `2130706433` are refused rather than silently meaning 127.0.0.1);
//!   - a CIDR: `10.0.0.0/8`, `[fd00::/8]` (no host bits; IPv4-mapped IPv6 CIDRs are stored as
//!     the IPv4 CIDR they denote).
//! - **ports**: omitted means the scheme's default (http 80, https 443; tcp and udp have none,
//!   so their rules must list ports); a list `80,8080`, a range `8000-8100`, a mixture
//!   `80,8000-8100`, or `*` for every port. Port 0 and reversed ranges are refused.
//! - no user information, path, query or fragment.
//!
//! [`EgressRule`]'s `Display` is the canonical form (`HTTPS://Example.COM:443` is
//! `https://example.com`), which is also how rules serialise.

mod ports;

pub use ports::PortSet;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::host::{Host, clip, is_strictly_under, parse_host};

/// Longest rule accepted.
pub const MAX_RULE_LEN: usize = 1024;
/// Most rules in one grant.
pub const MAX_RULES: usize = 1024;

/// The scheme of a rule or destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// wasi:http over plain HTTP.
    Http,
    /// wasi:http over TLS.
    Https,
    /// wasi:sockets TCP.
    Tcp,
    /// wasi:sockets UDP.
    Udp,
}

impl Scheme {
    /// The lowercase scheme name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        }
    }

    /// The port a rule without ports grants: 80 and 443; none for sockets.
    pub fn default_port(self) -> Option<u16> {
        match self {
            Self::Http => Some(80),
            Self::Https => Some(443),
            Self::Tcp | Self::Udp => None,
        }
    }
}

impl FromStr for Scheme {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "http" => Ok(Self::Http),
            "https" => Ok(Self::Https),
            "tcp" => Ok(Self::Tcp),
            "udp" => Ok(Self::Udp),
            _ => Err(format!(
                "scheme {:?} is not allowed (http, https, tcp or udp)",
                clip(s)
            )),
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The host part of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// Exactly this normalised name.
    Exact(String),
    /// `*.suffix`: names strictly under the normalised suffix (held without `*.`).
    Subdomains(String),
    /// `*`: every DNS name, no IP address.
    AnyName,
    /// An address (as a /32 or /128) or a CIDR; never matches a name.
    Net(IpNet),
}

impl HostPattern {
    /// Whether the pattern matches `host`. Names match only name patterns, addresses only
    /// [`HostPattern::Net`] (an IPv4-mapped address also matches by its IPv4 form).
    pub fn matches(&self, host: &Host) -> bool {
        match (self, host) {
            (Self::Exact(pattern), Host::Name(name)) => pattern == name,
            (Self::Subdomains(suffix), Host::Name(name)) => is_strictly_under(name, suffix),
            (Self::AnyName, Host::Name(_)) => true,
            (Self::Net(net), Host::Ip(ip)) => net.contains(ip) || net.contains(&ip.to_canonical()),
            _ => false,
        }
    }

    /// Whether everything `other` matches, `self` matches: exact ⊂ `*.x` ⊂ `*`, CIDR ⊂ CIDR.
    pub fn covers(&self, other: &HostPattern) -> bool {
        match (self, other) {
            (Self::AnyName, Self::Exact(_) | Self::Subdomains(_) | Self::AnyName) => true,
            (Self::Subdomains(outer), Self::Subdomains(suffix)) => {
                suffix == outer || is_strictly_under(suffix, outer)
            }
            (Self::Subdomains(outer), Self::Exact(name)) => is_strictly_under(name, outer),
            (Self::Exact(outer), Self::Exact(name)) => outer == name,
            (Self::Net(outer), Self::Net(net)) => outer.contains(net),
            _ => false,
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(name) => f.write_str(name),
            Self::Subdomains(suffix) => write!(f, "*.{suffix}"),
            Self::AnyName => f.write_str("*"),
            Self::Net(IpNet::V4(net)) if net.prefix_len() == 32 => write!(f, "{}", net.addr()),
            Self::Net(IpNet::V4(net)) => write!(f, "{net}"),
            Self::Net(IpNet::V6(net)) if net.prefix_len() == 128 => write!(f, "[{}]", net.addr()),
            Self::Net(IpNet::V6(net)) => write!(f, "[{net}]"),
        }
    }
}

/// One egress rule; see the module docs for the syntax.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EgressRule {
    scheme: Scheme,
    host: HostPattern,
    ports: PortSet,
}

impl EgressRule {
    /// The rule's scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The rule's host pattern.
    pub fn host(&self) -> &HostPattern {
        &self.host
    }

    /// The rule's ports.
    pub fn ports(&self) -> &PortSet {
        &self.ports
    }
}

/// A rule that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("egress rule {entry:?}: {reason}")]
pub struct InvalidRule {
    /// The rule as given (clipped to 100 characters).
    pub entry: String,
    /// Why it was refused.
    pub reason: String,
}

impl FromStr for EgressRule {
    type Err = InvalidRule;

    fn from_str(entry: &str) -> Result<Self, Self::Err> {
        parse_rule(entry).map_err(|reason| InvalidRule {
            entry: clip(entry),
            reason,
        })
    }
}

impl fmt::Display for EgressRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)?;
        let default = self.scheme.default_port().and_then(PortSet::single);
        if default.as_ref() != Some(&self.ports) {
            write!(f, ":{}", self.ports)?;
        }
        Ok(())
    }
}

impl Serialize for EgressRule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EgressRule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

fn parse_rule(entry: &str) -> Result<EgressRule, String> {
    if entry.len() > MAX_RULE_LEN {
        return Err(format!("longer than {MAX_RULE_LEN} bytes"));
    }
    let Some((scheme, rest)) = entry.split_once("://") else {
        return Err("expected scheme://host[:ports]".into());
    };
    let scheme: Scheme = scheme.parse()?;
    if rest.contains('@') {
        return Err("user information is not allowed in a rule".into());
    }
    if rest.contains(['?', '#']) {
        return Err("a rule has no query or fragment".into());
    }
    let (host, ports) = split_host_ports(rest)?;
    let host = parse_host_pattern(host)?;
    let ports = match ports {
        Some(ports) => PortSet::parse(ports)?,
        None => scheme
            .default_port()
            .and_then(PortSet::single)
            .ok_or_else(|| format!("{scheme} rules need ports, e.g. {scheme}://{host}:5432"))?,
    };
    Ok(EgressRule {
        scheme,
        host,
        ports,
    })
}

/// Splits `host[:ports]`; the host may be bracketed IPv6 or a `/`-CIDR.
fn split_host_ports(rest: &str) -> Result<(&str, Option<&str>), String> {
    let (host, after) = if rest.starts_with('[') {
        let close = rest.find(']').ok_or("unclosed '[' in the host")?;
        rest.split_at(close + 1)
    } else {
        if rest.matches(':').count() > 1 {
            return Err("IPv6 addresses need brackets, e.g. [2001:db8::1]".into());
        }
        rest.split_at(rest.find(':').unwrap_or(rest.len()))
    };
    let ports = match after.strip_prefix(':') {
        Some(ports) => Some(ports),
        None if after.is_empty() => None,
        None if after.starts_with('/') => return Err("a rule has no path".into()),
        None => return Err("unexpected text after the host".into()),
    };
    if ports.is_some_and(|p| p.contains('/')) {
        return Err("a rule has no path".into());
    }
    if host.is_empty() {
        return Err("empty host".into());
    }
    Ok((host, ports))
}

fn parse_host_pattern(text: &str) -> Result<HostPattern, String> {
    if text == "*" {
        return Ok(HostPattern::AnyName);
    }
    if let Some(suffix) = text.strip_prefix("*.") {
        if suffix.contains('*') {
            return Err(wildcard_misplaced());
        }
        return match parse_host(suffix)? {
            Host::Name(name) => Ok(HostPattern::Subdomains(name)),
            Host::Ip(_) => Err("a wildcard needs a name suffix, not an address".into()),
        };
    }
    if text.contains('*') {
        return Err(wildcard_misplaced());
    }
    if let Some(inner) = text.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or("unexpected text after ']'")?;
        return parse_v6(inner).map(canonical_net).map(HostPattern::Net);
    }
    if let Some((addr, prefix)) = text.split_once('/') {
        let Ok(addr) = addr.parse::<Ipv4Addr>() else {
            return Err("a rule has no path".into());
        };
        let net = Ipv4Net::new(addr, prefix_len(prefix, 32)?).map_err(|e| e.to_string())?;
        return no_host_bits(IpNet::V4(net)).map(HostPattern::Net);
    }
    if let Ok(addr) = text.parse::<Ipv4Addr>() {
        return Ok(HostPattern::Net(IpNet::from(IpAddr::V4(addr))));
    }
    match parse_host(text)? {
        Host::Name(name) => Ok(HostPattern::Exact(name)),
        Host::Ip(ip) => Err(format!(
            "unusual IP address spelling; write it as {}",
            Host::Ip(ip)
        )),
    }
}

fn parse_v6(inner: &str) -> Result<IpNet, String> {
    if inner.contains('%') {
        return Err("zone ids are not allowed in a rule".into());
    }
    let (addr, prefix) = match inner.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (inner, None),
    };
    let addr: Ipv6Addr = addr.parse().map_err(|_| "invalid IPv6 address")?;
    let net = match prefix {
        Some(prefix) => Ipv6Net::new(addr, prefix_len(prefix, 128)?).map_err(|e| e.to_string())?,
        None => Ipv6Net::from(addr),
    };
    no_host_bits(IpNet::V6(net))
}

fn prefix_len(text: &str, max: u8) -> Result<u8, String> {
    let invalid = || format!("invalid CIDR prefix length {:?} (0-{max})", clip(text));
    if text.is_empty() || text.len() > 3 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    text.parse::<u8>()
        .ok()
        .filter(|&len| len <= max)
        .ok_or_else(invalid)
}

fn no_host_bits(net: IpNet) -> Result<IpNet, String> {
    if net.trunc() == net {
        Ok(net)
    } else {
        Err(format!(
            "CIDR {net} has host bits set (the network is {})",
            net.trunc()
        ))
    }
}

/// `[::ffff:10.0.0.0/104]` is `10.0.0.0/8`, so it reads the way the policy judges it.
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

fn wildcard_misplaced() -> String {
    "a wildcard is allowed only as the whole host `*` or a leading `*.`".into()
}

/// The rules granted to (or requested by) one tool. Empty: no egress at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressGrant {
    rules: Vec<EgressRule>,
}

/// An entry of a grant that does not parse; the index counts from 0, as in the list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("egress entry {index} {entry:?}: {reason}")]
pub struct RuleError {
    /// Position of the entry in the list, from 0.
    pub index: usize,
    /// The entry as given (clipped to 100 characters).
    pub entry: String,
    /// Why it was refused.
    pub reason: String,
}

/// A granted rule that the request does not cover.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("egress entry {index} {entry:?} is not within the requested rules: {reason}")]
pub struct NotWithin {
    /// Position of the rule in the grant, from 0.
    pub index: usize,
    /// The rule in canonical form.
    pub entry: String,
    /// What is missing from the request.
    pub reason: String,
}

impl EgressGrant {
    /// Parses every entry; the first bad one is the error.
    pub fn parse(entries: &[impl AsRef<str>]) -> Result<EgressGrant, RuleError> {
        if entries.len() > MAX_RULES {
            return Err(RuleError {
                index: MAX_RULES,
                entry: clip(entries[MAX_RULES].as_ref()),
                reason: format!("more than {MAX_RULES} rules"),
            });
        }
        let rules = entries
            .iter()
            .enumerate()
            .map(|(index, entry)| {
                entry.as_ref().parse().map_err(|e: InvalidRule| RuleError {
                    index,
                    entry: e.entry,
                    reason: e.reason,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(EgressGrant { rules })
    }

    /// A grant of already parsed rules.
    pub fn from_rules(rules: Vec<EgressRule>) -> Self {
        Self { rules }
    }

    /// The rules, in the order given.
    pub fn rules(&self) -> &[EgressRule] {
        &self.rules
    }

    /// Whether the grant allows nothing.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Checks that every rule of `self` is covered by `requested`: for a granted rule, the
    /// requested rules of the same scheme whose host pattern covers its host
    /// ([`HostPattern::covers`]) must together cover its ports. A granted CIDR must lie
    /// inside one requested CIDR. The error names the first rule that is not covered.
    pub fn within(&self, requested: &EgressGrant) -> Result<(), NotWithin> {
        for (index, rule) in self.rules.iter().enumerate() {
            let mut hosts_covered = false;
            let ports = requested
                .rules
                .iter()
                .filter(|r| r.scheme == rule.scheme && r.host.covers(&rule.host))
                .inspect(|_| hosts_covered = true)
                .fold(PortSet::empty(), |acc, r| acc.union(&r.ports));
            let reason = if !hosts_covered {
                format!("no requested {} rule covers {}", rule.scheme, rule.host)
            } else if !rule.ports.is_subset(&ports) {
                format!(
                    "the request allows {} {} on ports {ports} only",
                    rule.scheme, rule.host
                )
            } else {
                continue;
            };
            return Err(NotWithin {
                index,
                entry: rule.to_string(),
                reason,
            });
        }
        Ok(())
    }
}

impl fmt::Display for EgressGrant {
    /// The canonical rules separated by `, `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, rule) in self.rules.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{rule}")?;
        }
        Ok(())
    }
}

impl Serialize for EgressGrant {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(&self.rules)
    }
}

impl<'de> Deserialize<'de> for EgressGrant {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = Vec::<String>::deserialize(deserializer)?;
        EgressGrant::parse(&entries).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
