use super::*;

#[test]
fn names_normalise_to_one_spelling() {
    #[rustfmt::skip]
    let cases: &[(&str, &str, &str)] = &[
        ("plain", "api.example.com", "api.example.com"),
        ("uppercase", "API.Example.COM", "api.example.com"),
        ("trailing dot removed", "api.example.com.", "api.example.com"),
        ("idna to punycode", "bücher.example", "xn--bcher-kva.example"),
        ("punycode kept", "xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("fullwidth letters", "ｌｏｃａｌｈｏｓｔ", "localhost"),
        ("ideographic full stop", "api\u{3002}example\u{3002}com", "api.example.com"),
        ("zero-width space dropped", "local\u{200b}host", "localhost"),
        ("circled letter", "ⓛocalhost", "localhost"),
        ("percent-encoded", "%6c%6f%63alhost", "localhost"),
        ("underscore allowed", "_srv.example.com", "_srv.example.com"),
        ("digits in labels", "1password.com", "1password.com"),
    ];
    for &(case, input, expected) in cases {
        assert_eq!(normalize_name(input).as_deref(), Ok(expected), "{case}");
    }
}

#[test]
fn bad_names_are_refused() {
    #[rustfmt::skip]
    let cases: &[(&str, &str)] = &[
        ("empty", ""),
        ("only a dot", "."),
        ("two trailing dots", "example.com.."),
        ("empty label", "a..b"),
        ("space", "exa mple.com"),
        ("leading hyphen", "-a.example.com"),
        ("trailing hyphen", "a-.example.com"),
        ("wildcard", "*.example.com"),
        ("long label", &format!("{}.com", "a".repeat(64))),
        ("long name", &format!("{}.com", vec!["a".repeat(60); 5].join("."))),
        ("ipv4 dotted", "127.0.0.1"),
        ("ipv4 decimal", "2130706433"),
        ("ipv4 hex", "0x7f.1"),
        ("ipv4 octal", "0177.0.0.1"),
        ("ipv6 bare", "::1"),
        ("ipv6 bracketed", "[::1]"),
        ("ipv6 zone", "fe80::1%eth0"),
        ("five numeric labels", "1.2.3.4.5"),
        ("slash", "example.com/x"),
        ("at sign", "a@example.com"),
        ("colon", "example.com:80"),
    ];
    for &(case, input) in cases {
        let denial = normalize_name(input).expect_err(case);
        assert_eq!(denial.code, DenialCode::InvalidName, "{case}: {denial}");
    }
}

#[test]
fn host_parse_reads_every_address_spelling() {
    #[rustfmt::skip]
    let cases: &[(&str, Host)] = &[
        ("127.0.0.1", Host::Ip("127.0.0.1".parse().expect("ip"))),
        ("127.1", Host::Ip("127.0.0.1".parse().expect("ip"))),
        ("2130706433", Host::Ip("127.0.0.1".parse().expect("ip"))),
        ("0x7f000001", Host::Ip("127.0.0.1".parse().expect("ip"))),
        ("0177.0.0.1", Host::Ip("127.0.0.1".parse().expect("ip"))),
        ("::1", Host::Ip("::1".parse().expect("ip"))),
        ("[::ffff:127.0.0.1]", Host::Ip("::ffff:127.0.0.1".parse().expect("ip"))),
        ("Example.COM.", Host::Name("example.com".into())),
    ];
    for (input, expected) in cases {
        assert_eq!(Host::parse(input).as_ref(), Ok(expected), "{input}");
    }
}

#[test]
fn denylist() {
    #[rustfmt::skip]
    let cases: &[(&str, bool)] = &[
        ("localhost", true),
        ("foo.localhost", true),
        ("a.b.localhost", true),
        ("localhost.localdomain", true),
        ("ip6-localhost", true),
        ("ip6-loopback", true),
        ("metadata", true),
        ("instance-data", true),
        ("kubernetes", true),
        ("metadata.google.internal", true),
        ("instance-data.ec2.internal", true),
        ("internal", true),
        ("metadata.tencentyun.com", true),
        ("printer.local", true),
        ("router.home.arpa", true),
        ("1.0.0.127.in-addr.arpa", true),
        ("1.0.ip6.arpa", true),
        ("kubernetes.default.svc", true),
        ("api.default.svc.cluster.local", true),
        ("nas.lan", true),
        ("wiki.corp", true),
        ("x.onion", true),
        ("x.invalid", true),
        ("api.allowed.test", false),
        ("example.com", false),
        ("www.example", false),
        ("localhost.example.com", false),
        ("notlocalhost.com", false),
        ("metadata.google.com", false),
        ("internal.example.com", false),
        ("mylocal.test", false),
    ];
    for &(name, denied) in cases {
        assert_eq!(denied_name(name).is_some(), denied, "{name}");
    }
}

#[test]
fn strictly_under_compares_whole_labels() {
    assert!(is_strictly_under("a.example.com", "example.com"));
    assert!(is_strictly_under("a.b.example.com", "example.com"));
    assert!(!is_strictly_under("example.com", "example.com"));
    assert!(!is_strictly_under("evilexample.com", "example.com"));
    assert!(!is_strictly_under("example.com.evil.test", "example.com"));
    assert!(!is_strictly_under(".example.com", "example.com"));
}
