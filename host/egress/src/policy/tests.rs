use super::*;
use crate::SocketProtocol;

fn policy(entries: &[&str]) -> EgressPolicy {
    EgressPolicy::new(EgressGrant::parse(entries).expect("grant"))
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

#[test]
fn own_addresses() {
    let p = policy(&[])
        .with_own_addresses(vec![
            addr("127.0.0.1:7700"),
            addr("0.0.0.0:7701"),
            addr("[::]:7702"),
            addr("203.0.113.9:7703"),
        ])
        .with_local_ips(vec!["198.51.100.7".parse().expect("ip")]);
    #[rustfmt::skip]
    let cases: &[(&str, bool)] = &[
        ("127.0.0.1:7700", true),
        ("[::ffff:127.0.0.1]:7700", true),
        ("127.0.0.1:7701", true),
        ("127.0.0.2:7700", false),
        ("[::1]:7700", false),
        ("127.0.0.1:7799", false),
        ("127.9.9.9:7701", true),
        ("0.0.0.0:7701", true),
        ("[::1]:7701", true),
        ("198.51.100.7:7701", true),
        ("[::ffff:198.51.100.7]:7702", true),
        ("198.51.100.8:7701", false),
        ("8.8.8.8:7701", false),
        ("[::1]:7702", true),
        ("[::]:7702", true),
        ("203.0.113.9:7703", true),
        ("203.0.113.9:7700", false),
    ];
    for &(a, own) in cases {
        assert_eq!(p.is_own_address(addr(a)), own, "{a}");
    }
}

#[test]
fn check_reports_the_first_failing_step() {
    let p = policy(&[
        "https://api.allowed.test",
        "https://*.localhost",
        "tcp://db.test:5432",
    ]);
    #[rustfmt::skip]
    let cases: &[(&str, DenialCode)] = &[
        // No http rule at all: the scheme is refused before the (denied) name is looked at.
        ("http://localhost/", DenialCode::SchemeNotGranted),
        // A rule names *.localhost, the denylist still wins.
        ("https://a.localhost/", DenialCode::NameDenied),
        ("https://other.test/", DenialCode::HostNotGranted),
        ("https://api.allowed.test:8443/", DenialCode::PortNotGranted),
    ];
    for &(url, code) in cases {
        let dest = Destination::from_url(url).expect("url");
        assert_eq!(
            p.check(&dest).map_err(|d| d.code).err(),
            Some(code),
            "{url}"
        );
    }
    let checked = p
        .check(&Destination::from_url("https://api.allowed.test/").expect("url"))
        .expect("allowed");
    assert_eq!(checked.rule.to_string(), "https://api.allowed.test");
    assert_eq!(checked.address, None);
}

#[test]
fn empty_grant_denies_everything() {
    let p = policy(&[]);
    for url in ["https://example.com/", "http://8.8.8.8/"] {
        let dest = Destination::from_url(url).expect("url");
        let code = p.check(&dest).expect_err(url).code;
        assert_eq!(code, DenialCode::SchemeNotGranted, "{url}");
    }
}

#[test]
fn socket_name_lookups() {
    let p = policy(&[
        "tcp://db.example.com:5432",
        "udp://*.ntp.test:123",
        "https://web.test",
    ]);
    #[rustfmt::skip]
    let cases: &[(&str, Result<&str, DenialCode>)] = &[
        ("db.example.com", Ok("db.example.com")),
        ("DB.Example.COM.", Ok("db.example.com")),
        ("a.ntp.test", Ok("a.ntp.test")),
        ("ntp.test", Err(DenialCode::HostNotGranted)),
        ("web.test", Err(DenialCode::HostNotGranted)),
        ("localhost", Err(DenialCode::NameDenied)),
        ("metadata.google.internal", Err(DenialCode::NameDenied)),
        ("127.0.0.1", Err(DenialCode::InvalidName)),
        ("exa mple.com", Err(DenialCode::InvalidName)),
    ];
    for &(name, expected) in cases {
        let got = p.check_name(name);
        assert_eq!(got.as_deref().map_err(|d| d.code), expected, "{name}");
    }
}

#[test]
fn socket_connect_by_remembered_name() {
    let p = policy(&["tcp://db.example.com:5432"]);
    let dest = Destination::socket_host(SocketProtocol::Tcp, "db.example.com", 5432).expect("d");
    let ok = p.check_addresses(&dest, &["8.8.8.8".parse().expect("ip")]);
    assert_eq!(ok, Ok(vec![addr("8.8.8.8:5432")]));
    let private = p.check_addresses(&dest, &["10.0.0.5".parse().expect("ip")]);
    assert_eq!(private.map_err(|d| d.code), Err(DenialCode::AddressDenied));
    // The bare address is not the name: no address rule grants it.
    let bare = Destination::socket(SocketProtocol::Tcp, "8.8.8.8".parse().expect("ip"), 5432);
    assert_eq!(
        p.check(&bare).map_err(|d| d.code).err(),
        Some(DenialCode::HostNotGranted)
    );
}

#[test]
fn reasons_are_one_sentence_naming_the_destination() {
    let p = policy(&["http://*", "http://0.0.0.0/0"]);
    let cases = [
        (
            "http://127.0.0.1/",
            "127.0.0.1 is in a denied range (loopback 127.0.0.0/8)",
        ),
        (
            "http://localhost/",
            "localhost is a denied name: a loopback name (RFC 6761)",
        ),
        (
            "http://x.test:8080/",
            "http://x.test:8080: port 8080 is not granted for x.test",
        ),
    ];
    for (url, reason) in cases {
        let dest = Destination::from_url(url).expect("url");
        assert_eq!(p.check(&dest).expect_err(url).reason, reason);
    }
    let dest = Destination::from_url("http://x.test/").expect("url");
    let denial = p
        .check_addresses(&dest, &["10.0.0.1".parse().expect("ip")])
        .expect_err("private");
    assert_eq!(
        denial.reason,
        "x.test resolved to 10.0.0.1, which is in a denied range (private 10.0.0.0/8)"
    );
}
