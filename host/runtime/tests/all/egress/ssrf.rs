//! One table of hostile destinations, each a named case sent through a real guest: every one
//! is refused with its policy code, before any lookup it must not make and any connection.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use serde_json::json;
use stockade_egress::{EgressGrant, EgressPolicy, Lookup, Resolver, StaticResolver};
use stockade_runtime::Egress;

use super::{ALLOWED, Net, WIDE, assert_refused, resolver};

/// Which guest sends a table case.
#[derive(Debug, Clone, Copy)]
enum Via {
    /// `hostile.http_get`: the URL's authority goes to wasi:http exactly as written.
    Hostile,
    /// `http.fetch`: the first-party plugin's own URL handling first.
    Http,
}

struct Case {
    name: &'static str,
    via: Via,
    url: String,
    grant: Vec<String>,
    own: Vec<SocketAddr>,
    code: &'static str,
    /// The one name the policy may look up before refusing.
    resolves: Option<&'static str>,
}

impl Case {
    fn new(name: &'static str, url: String, code: &'static str) -> Self {
        Self {
            name,
            via: Via::Hostile,
            url,
            grant: WIDE.map(String::from).to_vec(),
            own: Vec::new(),
            code,
            resolves: None,
        }
    }

    fn grant(mut self, rules: Vec<String>) -> Self {
        self.grant = rules;
        self
    }

    fn own(mut self, addr: SocketAddr) -> Self {
        self.own = vec![addr];
        self
    }

    fn via_http(mut self) -> Self {
        self.via = Via::Http;
        self
    }

    fn resolves(mut self, name: &'static str) -> Self {
        self.resolves = Some(name);
        self
    }
}

/// Records every name looked up (StaticResolver counts only per name).
struct Counting {
    inner: StaticResolver,
    names: Mutex<Vec<String>>,
}

impl Resolver for Counting {
    fn lookup<'a>(&'a self, name: &'a str) -> Lookup<'a> {
        self.names.lock().unwrap().push(name.to_owned());
        self.inner.lookup(name)
    }
}

#[tokio::test]
async fn hostile_destinations_are_refused_before_any_connection() {
    let net = Net::new().await;
    let p = net.port();
    let at = |host: &str| net.url(host, "/hello");
    let server = net.server.addr();
    let cases = vec![
        // Loopback, in every spelling the URL parser folds to 127.0.0.1.
        Case::new("loopback", at("127.0.0.1"), "address_denied"),
        Case::new("loopback short form", at("127.1"), "address_denied"),
        Case::new("loopback as a number", at("2130706433"), "address_denied"),
        Case::new("loopback in hex", at("0x7f000001"), "address_denied"),
        Case::new("loopback in octal", at("0177.0.0.1"), "address_denied"),
        Case::new(
            "loopback elsewhere in 127/8",
            at("127.0.0.2"),
            "address_denied",
        ),
        Case::new("IPv6 loopback", at("[::1]"), "address_denied"),
        Case::new(
            "IPv4-mapped loopback",
            at("[::ffff:127.0.0.1]"),
            "address_denied",
        ),
        Case::new(
            "IPv4-mapped loopback in hex",
            at("[::ffff:7f00:1]"),
            "address_denied",
        ),
        // Names that mean this machine, refused before any lookup.
        Case::new("localhost", at("localhost"), "name_denied"),
        Case::new("subdomain of localhost", at("foo.localhost"), "name_denied"),
        Case::new(
            "LOCALHOST with a trailing dot",
            at("LOCALHOST."),
            "name_denied",
        ),
        Case::new(
            "localhost.localdomain",
            at("localhost.localdomain"),
            "name_denied",
        ),
        // Cloud metadata services.
        Case::new("AWS/GCP metadata", at("169.254.169.254"), "address_denied"),
        Case::new("metadata as a number", at("2852039166"), "address_denied"),
        Case::new(
            "metadata IPv4-mapped",
            at("[::ffff:169.254.169.254]"),
            "address_denied",
        ),
        Case::new(
            "AWS metadata over IPv6",
            at("[fd00:ec2::254]"),
            "address_denied",
        ),
        Case::new("Azure wire server", at("168.63.129.16"), "address_denied"),
        Case::new("Alibaba metadata", at("100.100.100.200"), "address_denied"),
        Case::new("Oracle metadata", at("192.0.0.192"), "address_denied"),
        Case::new(
            "GCP metadata name",
            at("metadata.google.internal"),
            "name_denied",
        ),
        Case::new("single-label metadata name", at("metadata"), "name_denied"),
        // Private, shared and unspecified space.
        Case::new("private 10/8", at("10.0.0.1"), "address_denied"),
        Case::new("private 172.16/12", at("172.16.0.1"), "address_denied"),
        Case::new("private 192.168/16", at("192.168.1.1"), "address_denied"),
        Case::new("carrier-grade NAT", at("100.64.0.1"), "address_denied"),
        Case::new("unspecified IPv4", at("0.0.0.0"), "address_denied"),
        Case::new("unspecified IPv6", at("[::]"), "address_denied"),
        Case::new("unique local IPv6", at("[fd12:3456::1]"), "address_denied"),
        // IPv6 forms that carry loopback.
        Case::new(
            "NAT64 of loopback",
            at("[64:ff9b::7f00:1]"),
            "address_denied",
        ),
        Case::new("6to4 of loopback", at("[2002:7f00:1::1]"), "address_denied"),
        Case::new(
            "Teredo of loopback",
            at("[2001:0:4136:e378:8000:63bf:80ff:fffe]"),
            "address_denied",
        ),
        // Tricks with the authority.
        Case::new(
            "userinfo naming the allowed host",
            format!("http://{ALLOWED}:{p}@127.0.0.1:{p}/hello"),
            "userinfo_not_allowed",
        ),
        Case::new(
            "empty userinfo",
            format!("http://@127.0.0.1:{p}/hello"),
            "userinfo_not_allowed",
        ),
        // Names whose addresses are the problem: looked up once, then refused.
        Case::new(
            "name resolving to loopback",
            at("internal.test"),
            "address_denied",
        )
        .resolves("internal.test"),
        Case::new(
            "allowed name without its address rule",
            at(ALLOWED),
            "address_denied",
        )
        .resolves(ALLOWED),
        Case::new(
            "one private among public answers",
            at("mixed.test"),
            "address_denied",
        )
        .resolves("mixed.test"),
        // Narrow grants: the scheme, host and port must all be granted.
        Case::new("port not granted", at(ALLOWED), "port_not_granted")
            .grant(vec![format!("http://{ALLOWED}")]),
        Case::new(
            "https when only http is granted",
            format!("https://{ALLOWED}:{p}/hello"),
            "scheme_not_granted",
        )
        .grant(vec!["http://*:*".into()]),
        Case::new("host not granted", at("other.test"), "host_not_granted")
            .grant(vec![format!("http://{ALLOWED}:*")]),
        Case::new(
            "address under a name-only grant",
            at("127.0.0.1"),
            "host_not_granted",
        )
        .grant(vec!["http://*:*".into()]),
        // Address rules open a denied range only for their own port and only from inside it.
        Case::new(
            "loopback rule for another port",
            at("127.0.0.1"),
            "address_denied",
        )
        .grant(vec![
            format!("http://127.0.0.1/32:{}", p.wrapping_add(1).max(1)),
            "http://0.0.0.0/0:*".into(),
        ]),
        Case::new(
            "CIDR wider than loopback",
            at("127.0.0.1"),
            "address_denied",
        )
        .grant(vec!["http://126.0.0.0/7:*".into()]),
        // The server's own listen address, even with a rule for it.
        Case::new("own address", at("127.0.0.1"), "own_address")
            .grant(net.reach_server())
            .own(server),
        Case::new("own address by name", at(ALLOWED), "own_address")
            .grant(net.reach_server())
            .own(server)
            .resolves(ALLOWED),
        Case::new("own wildcard listener", at("127.0.0.1"), "own_address")
            .grant(net.reach_server())
            .own(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), p)),
        // The first-party plugin gets the same answers.
        Case::new("http plugin: loopback", at("127.0.0.1"), "address_denied").via_http(),
        Case::new("http plugin: IPv6 loopback", at("[::1]"), "address_denied").via_http(),
        Case::new("http plugin: localhost", at("localhost"), "name_denied").via_http(),
        Case::new(
            "http plugin: metadata",
            at("169.254.169.254"),
            "address_denied",
        )
        .via_http(),
        Case::new(
            "http plugin: metadata name",
            at("metadata.google.internal"),
            "name_denied",
        )
        .via_http(),
        Case::new(
            "http plugin: name on loopback",
            at("internal.test"),
            "address_denied",
        )
        .via_http()
        .resolves("internal.test"),
    ];
    assert!(cases.len() >= 30);
    for case in &cases {
        let resolver = Arc::new(Counting {
            inner: resolver(),
            names: Mutex::new(Vec::new()),
        });
        let policy = EgressPolicy::new(EgressGrant::parse(&case.grant).unwrap())
            .with_own_addresses(case.own.clone());
        let egress = Egress::new(policy, resolver.clone());
        let result = match case.via {
            Via::Hostile => net.http_get(&case.url, &egress).await,
            Via::Http => net.fetch(json!({ "url": case.url }), &egress).await,
        };
        let name = format!("{} ({})", case.name, case.url);
        let record = assert_refused(&name, result, &egress, "egress_denied", case.code);
        assert_eq!(record.address, None, "{name}: no connection");
        assert_eq!(
            *resolver.names.lock().unwrap(),
            case.resolves
                .map(String::from)
                .into_iter()
                .collect::<Vec<_>>(),
            "{name}: lookups"
        );
        assert_eq!(net.server.connections(), 0, "{name}: reached the server");
        assert!(
            net.server.requests().is_empty(),
            "{name}: reached the server"
        );
    }
}
