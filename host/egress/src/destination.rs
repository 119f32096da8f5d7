//! Where a request or connection goes: [`Destination`], parsed from a wasi:http URL or built
//! from a wasi:sockets address.
//!
//! [`Destination::from_url`] is deliberately stricter than a browser, so that no other parser
//! between the guest and the network can read the same text differently:
//! 1. control characters, spaces and backslashes anywhere are refused (`invalid_url`): WHATWG
//!    strips tabs and newlines and reads `\` as `/`, other parsers do not;
//! 2. the scheme is checked first: only `http` and `https` (`scheme_not_granted` otherwise,
//!    before any host parsing, so `gopher://127.0.0.1` never gets as far as its host);
//! 3. `scheme://` must be spelled out (no `http:host`, `http:/host`), and the authority must not
//!    be empty (`http:///127.0.0.1/` is refused, where WHATWG would skip the slashes);
//! 4. any `@` in the authority is refused (`userinfo_not_allowed`), including an empty
//!    `http://:@host/` that the WHATWG serialisation would drop;
//! 5. a bracketed IPv6 host with a zone id (`[fe80::1%25eth0]`, `[fe80::1%eth0]`), which the
//!    `url` crate rejects, is parsed here and judged as the address without its zone;
//! 6. everything else is parsed by the `url` crate (WHATWG): IPv4 number spellings, percent
//!    encoding and IDNA all end in one [`Host`].
//!
//! Only the scheme, host and port are kept: they are all the policy judges, and the runtime
//! sends the request (with its own path and query) to the checked address.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use crate::denial::{Denial, DenialCode};
use crate::host::{Host, parse_host};
use crate::rule::Scheme;

/// Longest URL accepted.
pub const MAX_URL_LEN: usize = 64 * 1024;

/// The protocol of a wasi:sockets connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SocketProtocol {
    /// TCP; judged by `tcp://` rules.
    Tcp,
    /// UDP; judged by `udp://` rules.
    Udp,
}

impl From<SocketProtocol> for Scheme {
    fn from(protocol: SocketProtocol) -> Self {
        match protocol {
            SocketProtocol::Tcp => Scheme::Tcp,
            SocketProtocol::Udp => Scheme::Udp,
        }
    }
}

/// A destination to judge: scheme, host and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    /// `http`/`https` for wasi:http, `tcp`/`udp` for wasi:sockets.
    pub scheme: Scheme,
    /// The host: a normalised name or an address.
    pub host: Host,
    /// The port (the scheme's default when a URL has none).
    pub port: u16,
}

impl Destination {
    /// Parses an absolute `http` or `https` URL as the module docs describe.
    pub fn from_url(url: &str) -> Result<Destination, Denial> {
        if url.len() > MAX_URL_LEN {
            return Err(invalid(format!("longer than {MAX_URL_LEN} bytes")));
        }
        if url.contains(|c: char| c.is_ascii_control() || c == ' ' || c == '\\') {
            return Err(invalid(
                "contains a control character, a space or a backslash",
            ));
        }
        let scheme = url_scheme(url)?;
        let rest = &url[scheme.as_str().len() + 1..];
        let Some(rest) = rest.strip_prefix("//") else {
            return Err(invalid(format!("expected {scheme}:// before the host")));
        };
        let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
        if authority.contains('@') {
            return Err(Denial::new(
                DenialCode::UserinfoNotAllowed,
                "URLs with user information before the host are not allowed",
            ));
        }
        if authority.is_empty() {
            return Err(invalid("the URL has no host"));
        }
        if authority.starts_with('[')
            && let Some(close) = authority.find(']')
            && authority[..close].contains('%')
        {
            return with_zone_id(scheme, authority, close);
        }
        let parsed = url::Url::parse(url).map_err(|e| invalid(e.to_string()))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(Denial::new(
                DenialCode::UserinfoNotAllowed,
                "URLs with user information before the host are not allowed",
            ));
        }
        let host = match parsed.host() {
            None => return Err(invalid("the URL has no host")),
            Some(url::Host::Ipv4(v4)) => Host::Ip(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Host::Ip(IpAddr::V6(v6)),
            // Already WHATWG-parsed: this applies DNS syntax and removes a trailing dot.
            Some(url::Host::Domain(domain)) => parse_host(domain).map_err(invalid)?,
        };
        let port = parsed
            .port_or_known_default()
            .ok_or_else(|| invalid("the URL has no port"))?;
        if port == 0 {
            return Err(invalid("port 0"));
        }
        Ok(Destination { scheme, host, port })
    }

    /// A wasi:sockets connection to an address.
    pub fn socket(protocol: SocketProtocol, ip: IpAddr, port: u16) -> Destination {
        Destination {
            scheme: protocol.into(),
            host: Host::Ip(ip),
            port,
        }
    }

    /// A wasi:sockets connection to a name the guest looked up (the runtime remembers which
    /// name an address came from, so `tcp://db.example.com:5432` rules apply to it). The name is
    /// parsed with [`Host::parse`], so an address spelling yields an address destination.
    pub fn socket_host(protocol: SocketProtocol, host: &str, port: u16) -> Result<Self, Denial> {
        Ok(Destination {
            scheme: protocol.into(),
            host: Host::parse(host)?,
            port,
        })
    }

    /// The socket address, when the host is an address.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self.host {
            Host::Ip(ip) => Some(SocketAddr::new(ip, self.port)),
            Host::Name(_) => None,
        }
    }
}

impl fmt::Display for Destination {
    /// `scheme://host:port`, with IPv6 in brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// The scheme of `url`, checked before anything else is parsed.
fn url_scheme(url: &str) -> Result<Scheme, Denial> {
    let Some((scheme, _)) = url.split_once(':') else {
        return Err(invalid("no scheme"));
    };
    let well_formed = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !well_formed {
        return Err(invalid("no scheme"));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "http" => Ok(Scheme::Http),
        "https" => Ok(Scheme::Https),
        other => Err(Denial::new(
            DenialCode::SchemeNotGranted,
            format!(
                "scheme {:?} is not allowed for HTTP egress (only http and https)",
                crate::host::clip(other)
            ),
        )),
    }
}

/// `[addr%zone]` with an optional `:port` after it; the zone is dropped.
fn with_zone_id(scheme: Scheme, authority: &str, close: usize) -> Result<Destination, Denial> {
    let inner = &authority[1..close];
    let (addr, zone) = inner.split_once('%').unwrap_or((inner, ""));
    if zone.is_empty() || zone == "25" {
        return Err(invalid("empty IPv6 zone id"));
    }
    let addr: Ipv6Addr = addr.parse().map_err(|_| invalid("invalid IPv6 address"))?;
    let port = match &authority[close + 1..] {
        "" | ":" => scheme.default_port(),
        after => after
            .strip_prefix(':')
            .filter(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<u16>().ok()),
    };
    match port {
        Some(port) if port != 0 => Ok(Destination {
            scheme,
            host: Host::Ip(IpAddr::V6(addr)),
            port,
        }),
        _ => Err(invalid("invalid port")),
    }
}

fn invalid(why: impl fmt::Display) -> Denial {
    Denial::new(DenialCode::InvalidUrl, format!("invalid URL: {why}"))
}

#[cfg(test)]
mod tests;
