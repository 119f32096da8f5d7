//! Host names and addresses: one normalisation for rules, URLs and wasi:sockets, and the names
//! that are never reached whatever the grants say.
//!
//! Every host goes through the WHATWG host parser of the `url` crate, so a rule, a URL and a
//! socket name lookup agree on what a spelling means: percent-decoding, IDNA (UTS 46) mapping to
//! ASCII, lowercasing, and the IPv4 number forms (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`
//! are all `127.0.0.1`). A name is then held to DNS syntax: labels of `a-z`, `0-9`, `-` and `_`
//! (not starting or ending with `-`), at most 63 bytes each and 253 in all; one trailing dot is
//! removed. Fullwidth, circled or zero-width tricks therefore normalise to the plain name, and
//! `ｌｏｃａｌｈｏｓｔ` meets the denylist as `localhost`.
//!
//! The denylist ([`denied_name`]) is applied to the normalised name before any resolution:
//! - single-label names (`localhost`, `metadata`, `instance-data`, `kubernetes`, `db`): a
//!   resolver answers them from the hosts file or by appending search domains, i.e. from the
//!   server's own network, never from the public DNS;
//! - the loopback and metadata names in [`DENIED_NAMES`];
//! - every name under a suffix in [`DENIED_SUFFIXES`] (and the suffix itself): special-use and
//!   private-use names that only mean something inside the server's network. `.test` and
//!   `.example` stay allowed: nothing resolves them by accident and tests use them.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use crate::denial::{Denial, DenialCode};

/// Names refused before resolution, each with why.
pub const DENIED_NAMES: &[(&str, &str)] = &[
    ("ip6-localhost", "a loopback name"),
    ("ip6-loopback", "a loopback name"),
    ("localhost.localdomain", "a loopback name"),
    ("metadata", "a cloud metadata name"),
    ("instance-data", "a cloud metadata name"),
    ("metadata.google.internal", "a cloud metadata name"),
    ("metadata.tencentyun.com", "a cloud metadata name"),
    ("metadata.platformequinix.com", "a cloud metadata name"),
    ("metadata.packet.net", "a cloud metadata name"),
];

/// Suffixes whose names (and the suffix itself) are refused before resolution, each with why.
pub const DENIED_SUFFIXES: &[(&str, &str)] = &[
    ("localhost", "a loopback name (RFC 6761)"),
    ("localdomain", "a loopback name"),
    ("local", "a multicast DNS name (RFC 6762)"),
    ("internal", "a private-use name (.internal)"),
    (
        "arpa",
        "an infrastructure name (.arpa: reverse DNS, home.arpa)",
    ),
    ("onion", "a Tor onion name (RFC 7686)"),
    ("invalid", "an invalid name (RFC 6761)"),
    ("alt", "a non-DNS name (RFC 9476)"),
    ("svc", "a Kubernetes service name"),
    ("lan", "a private-use name"),
    ("home", "a private-use name"),
    ("corp", "a private-use name"),
    ("intranet", "a private-use name"),
    ("private", "a private-use name"),
];

/// Longest host text accepted, before normalisation; DNS names are at most 253 bytes, and IDNA
/// or percent-encoding make the text longer, not several times longer.
const MAX_HOST_INPUT: usize = 1024;

/// A destination host: a normalised DNS name or an IP address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A DNS name, normalised (ASCII, lowercase, no trailing dot).
    Name(String),
    /// An IP address.
    Ip(IpAddr),
}

impl Host {
    /// Parses a host as wasi:sockets name lookup receives it: a name (normalised as the module
    /// docs describe), an IPv4 address in any WHATWG spelling, or an IPv6 address with or
    /// without brackets. Zone ids are refused. Refusals have code `invalid_name`.
    pub fn parse(input: &str) -> Result<Host, Denial> {
        if let Ok(v6) = input.parse::<Ipv6Addr>() {
            return Ok(Host::Ip(IpAddr::V6(v6)));
        }
        match parse_host(input) {
            Ok(host) => Ok(host),
            Err(why) => Err(invalid_name(input, why)),
        }
    }

    /// The name, if this is one.
    pub fn name(&self) -> Option<&str> {
        match self {
            Host::Name(name) => Some(name),
            Host::Ip(_) => None,
        }
    }
}

impl fmt::Display for Host {
    /// A name as is, IPv4 dotted, IPv6 in brackets (as in a URL authority).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(name) => f.write_str(name),
            Host::Ip(IpAddr::V4(v4)) => write!(f, "{v4}"),
            Host::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]"),
        }
    }
}

/// Normalises a DNS name for wasi:sockets name lookup (see the module docs). An input that is
/// an IP address in any spelling is refused (use [`Host::parse`] when addresses are expected),
/// as is anything that is not a valid name; both with code `invalid_name`. The denylist is not
/// applied here (see [`denied_name`] and [`crate::EgressPolicy::check_name`]).
pub fn normalize_name(input: &str) -> Result<String, Denial> {
    match Host::parse(input)? {
        Host::Name(name) => Ok(name),
        Host::Ip(ip) => Err(Denial::new(
            DenialCode::InvalidName,
            format!("{:?} is the IP address {ip}, not a name", clip(input)),
        )),
    }
}

/// Why a normalised `name` is on the denylist, or `None` if it is not (see the module docs).
pub fn denied_name(name: &str) -> Option<&'static str> {
    let listed = DENIED_NAMES.iter().find(|(denied, _)| *denied == name);
    let under = || {
        DENIED_SUFFIXES
            .iter()
            .find(|(suffix, _)| name == *suffix || is_strictly_under(name, suffix))
    };
    match listed.or_else(under) {
        Some((_, why)) => Some(why),
        None if !name.contains('.') => {
            Some("a single-label name (answered by the hosts file or search domains)")
        }
        None => None,
    }
}

/// Whether `name` is a subdomain of `suffix` at any depth (not `suffix` itself). Both
/// normalised; comparing whole labels, so `evilexample.com` is not under `example.com`.
pub(crate) fn is_strictly_under(name: &str, suffix: &str) -> bool {
    name.len() > suffix.len() + 1
        && name.ends_with(suffix)
        && name.as_bytes()[name.len() - suffix.len() - 1] == b'.'
}

/// Parses a host with the WHATWG host parser, then holds names to DNS syntax. Brackets around
/// IPv6 are required here (as in URLs and rules).
pub(crate) fn parse_host(input: &str) -> Result<Host, &'static str> {
    if input.len() > MAX_HOST_INPUT {
        return Err("host is too long");
    }
    match url::Host::parse(input) {
        Ok(url::Host::Domain(domain)) => dns_name(&domain).map(Host::Name),
        Ok(url::Host::Ipv4(v4)) => Ok(Host::Ip(IpAddr::V4(v4))),
        Ok(url::Host::Ipv6(v6)) => Ok(Host::Ip(IpAddr::V6(v6))),
        Err(url::ParseError::EmptyHost) => Err("empty host"),
        Err(url::ParseError::InvalidIpv4Address) => Err("invalid IPv4 address"),
        Err(url::ParseError::InvalidIpv6Address) => Err("invalid IPv6 address"),
        Err(_) => Err("invalid host name"),
    }
}

/// Holds an ASCII name from the IDNA step to DNS syntax; removes one trailing dot.
fn dns_name(ascii: &str) -> Result<String, &'static str> {
    let name = ascii.strip_suffix('.').unwrap_or(ascii);
    if name.is_empty() {
        return Err("empty host");
    }
    if name.len() > 253 {
        return Err("invalid host name (longer than 253 bytes)");
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("invalid host name (empty label)");
        }
        if label.len() > 63 {
            return Err("invalid host name (label longer than 63 bytes)");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("invalid host name (label starts or ends with '-')");
        }
        let valid = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_';
        if !label.bytes().all(valid) {
            return Err("invalid host name");
        }
    }
    Ok(name.to_owned())
}

fn invalid_name(input: &str, why: &str) -> Denial {
    Denial::new(
        DenialCode::InvalidName,
        format!("{:?} is not a valid host: {why}", clip(input)),
    )
}

/// At most 100 characters of `text`, for messages.
pub(crate) fn clip(text: &str) -> String {
    match text.char_indices().nth(100) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests;
