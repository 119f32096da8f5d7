//! Integration tests of `stockade-egress` through its public API: URL in, socket addresses or
//! a denial out, with a scripted resolver and the same server addresses in every test.

mod allowed;
mod hostile;
mod rebinding;

use std::net::{IpAddr, SocketAddr};

use stockade_egress::{Denial, Destination, EgressGrant, EgressPolicy, StaticResolver};

/// The listen addresses of the server under test: loopback, an IPv4 wildcard and an IPv6
/// wildcard listener.
pub const OWN_ADDRESSES: &[&str] = &["127.0.0.1:7700", "0.0.0.0:7701", "[::]:7702"];
/// A public address of the host the wildcard listeners also listen on.
pub const LOCAL_IP: &str = "93.184.215.14";

/// Every name and every address, on every port, for both HTTP schemes: the widest grant. The
/// denied ranges and names must still hold under it.
pub const ANY: &[&str] = &[
    "http://*:*",
    "https://*:*",
    "http://0.0.0.0/0:*",
    "http://[::/0]:*",
    "https://0.0.0.0/0:*",
    "https://[::/0]:*",
];

/// A resolver's scripted answers: name and addresses.
pub type Answers<'a> = &'a [(&'a str, &'a [&'a str])];

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|_| panic!("bad test address {s}"))
}

pub fn policy(grant: &[&str]) -> EgressPolicy {
    let grant = EgressGrant::parse(grant).expect("test grant parses");
    EgressPolicy::new(grant)
        .with_own_addresses(
            OWN_ADDRESSES
                .iter()
                .map(|a| a.parse().expect("own address"))
                .collect(),
        )
        .with_local_ips(vec![ip(LOCAL_IP)])
}

pub fn resolver(answers: Answers<'_>) -> StaticResolver {
    answers
        .iter()
        .fold(StaticResolver::new(), |r, (name, addrs)| {
            r.with(name, addrs.iter().map(|a| ip(a)))
        })
}

/// What the runtime does for a wasi:http request: parse the URL, then check, resolve once and
/// check every address.
pub async fn fetch(
    grant: &[&str],
    url: &str,
    resolver: &StaticResolver,
) -> Result<Vec<SocketAddr>, Denial> {
    let dest = Destination::from_url(url)?;
    policy(grant).resolve(&dest, resolver).await
}
