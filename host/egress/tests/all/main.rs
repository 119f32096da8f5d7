//! Integration tests of `stockade-egress` through its public API: URL in, socket addresses or
//! a denial out, with a scripted resolver and the same server addresses in every test.

mod allowed;
mod hostile;
mod rebinding;

use std::net::{IpAddr, SocketAddr};

use stockade_egress::{Denial, Destination, EgressGrant, EgressPolicy, StaticResolver};

pub use stockade_egress::hostile_cases::{ANY, Answers, LOCAL_IP, OWN_ADDRESSES};

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
