//! The decision: may this tool reach this destination, and at which addresses.
//!
//! ```text
//! Destination ─ check ──────────────── scheme granted? ─ name denylisted? ─ host matches a rule
//!             │                        of the scheme? ─ port in that rule? ─ (address host: judge it)
//!             └ resolve ─ check ─ Resolver::lookup (once) ─ check_addresses ─ Vec<SocketAddr>
//! ```
//!
//! Judging one address, in order:
//! 1. one of the server's own listen addresses (same port, and the same IP, or for a wildcard
//!    listener any loopback, unspecified or configured local IP): `own_address`, whatever the
//!    grants say;
//! 2. not in a [`denied_range`]: allowed;
//! 3. in a denied range and opened by an IP or CIDR rule of the same scheme and port that lies
//!    inside that range ([`DeniedRange`]): allowed. Explicit address rules are the only way into
//!    a denied range, and a wide rule such as `0.0.0.0/0` opens none of them;
//! 4. otherwise `address_denied`.
//!
//! A name is allowed only if every address it resolved to is allowed: one private answer
//! among public ones refuses the destination, since the client could be steered to any of
//! them. [`EgressPolicy::resolve`] looks the name up exactly once and returns the checked
//! socket addresses; the caller connects to those and never resolves again, so a DNS answer
//! that changes between check and connect (rebinding) has nothing to act on.
//!
//! For wasi:sockets, name lookup and connect are separate calls. The runtime checks the lookup
//! with [`EgressPolicy::check_name`], resolves, remembers which name each returned address came
//! from, and at connect judges [`Destination::socket_host`] for that name with
//! [`EgressPolicy::check_addresses`] on the address (or [`Destination::socket`] when the guest
//! connects to an address it did not look up).

use std::net::{IpAddr, SocketAddr};

use crate::denial::{Denial, DenialCode};
use crate::destination::Destination;
use crate::host::{Host, denied_name, normalize_name};
use crate::range::{DeniedRange, denied_range};
use crate::resolver::Resolver;
use crate::rule::{EgressGrant, EgressRule, HostPattern, Scheme};

/// The egress policy of one tool call: its grant and the server's own addresses.
#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    grant: EgressGrant,
    own_addresses: Vec<SocketAddr>,
    local_ips: Vec<IpAddr>,
}

/// A destination that passed [`EgressPolicy::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The first rule that grants the destination's host and port, for the event log.
    pub rule: EgressRule,
    /// For an address host: the checked socket address (no resolution needed).
    pub address: Option<SocketAddr>,
}

impl EgressPolicy {
    /// A policy allowing what `grant` grants (nothing, for an empty grant).
    pub fn new(grant: EgressGrant) -> Self {
        Self {
            grant,
            own_addresses: Vec::new(),
            local_ips: Vec::new(),
        }
    }

    /// The server's listen addresses; destinations equal to one are refused as `own_address`.
    pub fn with_own_addresses(mut self, addresses: Vec<SocketAddr>) -> Self {
        self.own_addresses = addresses;
        self
    }

    /// The host's own IP addresses, which a wildcard listen address (`0.0.0.0`, `::`) also
    /// listens on.
    pub fn with_local_ips(mut self, ips: Vec<IpAddr>) -> Self {
        self.local_ips = ips;
        self
    }

    /// The grant this policy enforces.
    pub fn grant(&self) -> &EgressGrant {
        &self.grant
    }

    /// Checks a destination before resolution (see the module docs). An address host is also
    /// judged as an address here.
    pub fn check(&self, dest: &Destination) -> Result<Checked, Denial> {
        let scheme = dest.scheme;
        let mut of_scheme = self.rules_of(scheme).peekable();
        if of_scheme.peek().is_none() {
            return Err(Denial::new(
                DenialCode::SchemeNotGranted,
                format!("no egress rule grants {scheme} (destination {dest})"),
            ));
        }
        if let Host::Name(name) = &dest.host
            && let Some(why) = denied_name(name)
        {
            return Err(Denial::new(
                DenialCode::NameDenied,
                format!("{name} is a denied name: {why}"),
            ));
        }
        let mut of_host = of_scheme
            .filter(|r| r.host().matches(&dest.host))
            .peekable();
        if of_host.peek().is_none() {
            return Err(Denial::new(
                DenialCode::HostNotGranted,
                format!("no {scheme} egress rule grants the host {}", dest.host),
            ));
        }
        let Some(rule) = of_host.find(|r| r.ports().contains(dest.port)) else {
            return Err(Denial::new(
                DenialCode::PortNotGranted,
                format!(
                    "{dest}: port {} is not granted for {}",
                    dest.port, dest.host
                ),
            ));
        };
        let address = match dest.host {
            Host::Ip(ip) => Some(self.judge_address(dest, ip)?),
            Host::Name(_) => None,
        };
        Ok(Checked {
            rule: rule.clone(),
            address,
        })
    }

    /// Checks a destination and the addresses its name resolved to (see the module docs);
    /// returns the socket addresses to connect to, in the order given, without duplicates.
    pub fn check_addresses(
        &self,
        dest: &Destination,
        addresses: &[IpAddr],
    ) -> Result<Vec<SocketAddr>, Denial> {
        self.check(dest)?;
        if addresses.is_empty() {
            return Err(Denial::new(
                DenialCode::NoAddress,
                format!("{} resolved to no address", dest.host),
            ));
        }
        let mut checked: Vec<SocketAddr> = Vec::with_capacity(addresses.len());
        for &ip in addresses {
            let addr = self.judge_address(dest, ip)?;
            if !checked.contains(&addr) {
                checked.push(addr);
            }
        }
        Ok(checked)
    }

    /// Checks `dest`, resolves its name once with `resolver` (an address host is not
    /// resolved), and checks every address. The result is all the caller may connect to.
    pub async fn resolve(
        &self,
        dest: &Destination,
        resolver: &dyn Resolver,
    ) -> Result<Vec<SocketAddr>, Denial> {
        let checked = self.check(dest)?;
        let Host::Name(name) = &dest.host else {
            // `check` judged the address already.
            return Ok(checked.address.into_iter().collect());
        };
        let addresses = resolver.lookup(name).await.map_err(|e| {
            Denial::new(
                DenialCode::ResolveFailed,
                format!("resolving {name} failed: {e}"),
            )
        })?;
        self.check_addresses(dest, &addresses)
    }

    /// Checks a wasi:sockets name lookup: the name must be valid ([`normalize_name`]), not
    /// denylisted, and matched by some `tcp` or `udp` rule on any port (a lookup of a name no
    /// rule grants could only be a way to send data out through DNS). Returns the normalised
    /// name to resolve.
    pub fn check_name(&self, name: &str) -> Result<String, Denial> {
        let name = normalize_name(name)?;
        if let Some(why) = denied_name(&name) {
            return Err(Denial::new(
                DenialCode::NameDenied,
                format!("{name} is a denied name: {why}"),
            ));
        }
        let host = Host::Name(name.clone());
        let granted =
            self.grant.rules().iter().any(|r| {
                matches!(r.scheme(), Scheme::Tcp | Scheme::Udp) && r.host().matches(&host)
            });
        if !granted {
            return Err(Denial::new(
                DenialCode::HostNotGranted,
                format!("no tcp or udp egress rule grants the host {name}"),
            ));
        }
        Ok(name)
    }

    /// Whether `addr` is one of the server's own listen addresses (see the module docs).
    pub fn is_own_address(&self, addr: SocketAddr) -> bool {
        let ip = addr.ip().to_canonical();
        self.own_addresses.iter().any(|own| {
            let own_ip = own.ip().to_canonical();
            let wildcard_match = own_ip.is_unspecified()
                && (ip.is_loopback()
                    || ip.is_unspecified()
                    || self.local_ips.iter().any(|l| l.to_canonical() == ip));
            own.port() == addr.port() && (own_ip == ip || wildcard_match)
        })
    }

    fn rules_of(&self, scheme: Scheme) -> impl Iterator<Item = &EgressRule> {
        self.grant
            .rules()
            .iter()
            .filter(move |r| r.scheme() == scheme)
    }

    /// Steps 1-4 of the module docs for one address of `dest`.
    fn judge_address(&self, dest: &Destination, ip: IpAddr) -> Result<SocketAddr, Denial> {
        let addr = SocketAddr::new(ip, dest.port);
        let subject = match &dest.host {
            Host::Name(name) => format!("{name} resolved to {ip}, which"),
            Host::Ip(_) => ip.to_string(),
        };
        if self.is_own_address(addr) {
            return Err(Denial::new(
                DenialCode::OwnAddress,
                format!("{subject} is this server's own listen address ({addr})"),
            ));
        }
        let Some(range) = denied_range(ip) else {
            return Ok(addr);
        };
        if self.opens(dest, ip, &range) {
            return Ok(addr);
        }
        Err(Denial::new(
            DenialCode::AddressDenied,
            format!("{subject} is in a denied range ({range})"),
        ))
    }

    /// Whether an address rule of the destination's scheme and port opens `range` for `ip`.
    fn opens(&self, dest: &Destination, ip: IpAddr, range: &DeniedRange) -> bool {
        self.rules_of(dest.scheme)
            .filter(|r| r.ports().contains(dest.port))
            .any(|r| matches!(r.host(), HostPattern::Net(net) if range.is_opened_by(ip, net)))
    }
}

#[cfg(test)]
mod tests;
