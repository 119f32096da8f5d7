use super::*;

fn rule(s: &str) -> EgressRule {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn grant(entries: &[&str]) -> EgressGrant {
    EgressGrant::parse(entries).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn good_rules_round_trip_to_canonical_form() {
    // (entry, canonical form)
    #[rustfmt::skip]
    let cases: &[(&str, &str)] = &[
        ("https://api.example.com", "https://api.example.com"),
        ("https://api.example.com:443", "https://api.example.com"),
        ("http://api.example.com:80", "http://api.example.com"),
        ("http://api.example.com:443", "http://api.example.com:443"),
        ("HTTPS://API.Example.COM.", "https://api.example.com"),
        ("https://bücher.example", "https://xn--bcher-kva.example"),
        ("https://*.example.com", "https://*.example.com"),
        ("https://*.Example.com:8443", "https://*.example.com:8443"),
        ("https://*", "https://*"),
        ("http://*:*", "http://*:*"),
        ("http://example.com:1-65535", "http://example.com:*"),
        ("http://example.com:8080,80", "http://example.com:80,8080"),
        ("http://example.com:8000-8100", "http://example.com:8000-8100"),
        ("http://example.com:80,8000-8100", "http://example.com:80,8000-8100"),
        ("http://example.com:8050,8000-8100,80", "http://example.com:80,8000-8100"),
        ("http://example.com:80-80", "http://example.com"),
        ("http://example.com:81,80,82", "http://example.com:80-82"),
        ("http://example.com:080", "http://example.com"),
        ("tcp://db.example.com:5432", "tcp://db.example.com:5432"),
        ("udp://ntp.example.com:123", "udp://ntp.example.com:123"),
        ("tcp://10.0.0.0/8:5432", "tcp://10.0.0.0/8:5432"),
        ("http://10.0.0.0/8", "http://10.0.0.0/8"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.0.0.1/32", "http://127.0.0.1"),
        ("https://[2001:db8::1]", "https://[2001:db8::1]"),
        ("https://[2001:DB8:0::1]:8443", "https://[2001:db8::1]:8443"),
        ("https://[fd00::/8]", "https://[fd00::/8]"),
        ("tcp://[fd00::/8]:5432", "tcp://[fd00::/8]:5432"),
        ("http://[::ffff:10.0.0.0/104]", "http://10.0.0.0/8"),
        ("http://[::ffff:127.0.0.1]", "http://127.0.0.1"),
        ("https://0.0.0.0/0", "https://0.0.0.0/0"),
        ("https://[::/0]", "https://[::/0]"),
    ];
    for &(entry, canonical) in cases {
        let parsed = rule(entry);
        assert_eq!(parsed.to_string(), canonical, "{entry}");
        assert_eq!(
            rule(canonical),
            parsed,
            "{entry}: canonical form parses to the same rule"
        );
    }
}

#[test]
fn bad_rules_name_the_entry_and_the_reason() {
    // (case, entry, part of the reason)
    #[rustfmt::skip]
    let cases: &[(&str, &str, &str)] = &[
        ("no scheme", "example.com", "expected scheme://host[:ports]"),
        ("ftp", "ftp://example.com", "scheme \"ftp\" is not allowed"),
        ("file", "file:///etc/passwd", "scheme \"file\" is not allowed"),
        ("ws", "ws://example.com", "scheme \"ws\" is not allowed"),
        ("leading space", " https://example.com", "scheme \" https\" is not allowed"),
        ("space in host", "https://exa mple.com", "invalid host name"),
        ("empty host", "https://", "empty host"),
        ("empty host with port", "https://:443", "empty host"),
        ("path", "https://example.com/api", "a rule has no path"),
        ("trailing slash", "https://example.com/", "a rule has no path"),
        ("path after port", "https://example.com:443/api", "a rule has no path"),
        ("query", "https://example.com?x=1", "no query or fragment"),
        ("fragment", "https://example.com#x", "no query or fragment"),
        ("userinfo", "https://user@example.com", "user information"),
        ("userinfo with password", "https://u:p@example.com", "user information"),
        ("port 0", "https://example.com:0", "port 0 is not allowed"),
        ("port too big", "https://example.com:65536", "out of range"),
        ("reversed range", "https://example.com:8100-8000", "reversed"),
        ("empty port", "https://example.com:", "empty port list"),
        ("empty list entry", "https://example.com:80,,81", "empty entry"),
        ("trailing comma", "https://example.com:80,", "empty entry"),
        ("port letters", "https://example.com:http", "invalid port"),
        ("port with sign", "https://example.com:+80", "invalid port"),
        ("port with space", "https://example.com: 80", "invalid port"),
        ("open range", "https://example.com:8000-", "invalid port"),
        ("tcp without ports", "tcp://db.example.com", "tcp rules need ports"),
        ("udp without ports", "udp://10.0.0.0/8", "udp rules need ports"),
        ("wildcard inside", "https://api.*.example.com", "wildcard is allowed only"),
        ("wildcard suffix", "https://example.*", "wildcard is allowed only"),
        ("wildcard glued", "https://*example.com", "wildcard is allowed only"),
        ("double wildcard", "https://*.*.example.com", "wildcard is allowed only"),
        ("wildcard over address", "https://*.10.0.0.1", "needs a name suffix"),
        ("wildcard without suffix", "https://*.", "empty host"),
        ("short ipv4", "http://127.1", "write it as 127.0.0.1"),
        ("decimal ipv4", "http://2130706433", "write it as 127.0.0.1"),
        ("hex ipv4", "http://0x7f.0.0.1", "write it as 127.0.0.1"),
        ("five numbers", "http://1.2.3.4.5", "invalid IPv4 address"),
        ("ipv6 without brackets", "https://2001:db8::1", "need brackets"),
        ("unclosed bracket", "https://[2001:db8::1", "unclosed '['"),
        ("bad ipv6", "https://[2001:db8::g]", "invalid IPv6 address"),
        ("zone id", "https://[fe80::1%eth0]", "zone ids are not allowed"),
        ("text after bracket", "https://[::1]x", "unexpected text after the host"),
        ("cidr host bits", "http://10.0.0.1/8", "has host bits set (the network is 10.0.0.0/8)"),
        ("cidr v6 host bits", "http://[fd00::1/8]", "has host bits set"),
        ("cidr prefix too long", "http://10.0.0.0/33", "invalid CIDR prefix length"),
        ("cidr v6 prefix too long", "http://[fd00::/129]", "invalid CIDR prefix length"),
        ("cidr prefix not a number", "http://10.0.0.0/x", "invalid CIDR prefix length"),
        ("bracketed ipv4", "http://[127.0.0.1]", "invalid IPv6 address"),
        ("label too long", &format!("https://{}.com", "a".repeat(64)), "label longer than 63"),
        ("leading hyphen", "https://-a.example.com", "starts or ends with '-'"),
        ("too long", &format!("https://{}", "a".repeat(MAX_RULE_LEN)), "longer than 1024"),
    ];
    for (index, &(case, entry, reason)) in cases.iter().enumerate() {
        let mut entries = vec!["https://fine.example"; index];
        entries.push(entry);
        let err = EgressGrant::parse(&entries).expect_err(case);
        assert_eq!(err.index, index, "{case}");
        let message = err.to_string();
        let prefix = format!("egress entry {index} {:?}: ", clip(entry));
        assert!(message.starts_with(&prefix), "{case}: {message}");
        assert!(message.contains(reason), "{case}: {message}");
    }
}

#[test]
fn the_documented_example_message() {
    let err = EgressGrant::parse(&["https://a.test", "https://b.test", "https://exa mple.com"])
        .expect_err("bad");
    assert_eq!(
        err.to_string(),
        r#"egress entry 2 "https://exa mple.com": invalid host name"#
    );
}

#[test]
fn host_patterns_match_names_and_addresses_apart() {
    let name = |s: &str| Host::Name(s.into());
    let ip = |s: &str| Host::Ip(s.parse().expect("ip"));
    // (rule host, destination host, matches)
    #[rustfmt::skip]
    let cases: &[(&str, Host, bool)] = &[
        ("api.example.com", name("api.example.com"), true),
        ("api.example.com", name("x.api.example.com"), false),
        ("*.example.com", name("a.example.com"), true),
        ("*.example.com", name("a.b.c.example.com"), true),
        ("*.example.com", name("example.com"), false),
        ("*.example.com", name("evilexample.com"), false),
        ("*.example.com", name("example.com.evil.test"), false),
        ("*", name("anything.test"), true),
        ("*", ip("8.8.8.8"), false),
        ("*.example.com", ip("8.8.8.8"), false),
        ("8.8.8.8", ip("8.8.8.8"), true),
        ("8.8.8.8", name("8.8.8.8.example"), false),
        ("10.0.0.0/8", ip("10.255.0.1"), true),
        ("10.0.0.0/8", ip("11.0.0.1"), false),
        ("10.0.0.0/8", ip("::ffff:10.0.0.1"), true),
        ("[::ffff:10.0.0.0/104]", ip("10.0.0.1"), true),
        ("[fd00::/8]", ip("fd12::1"), true),
        ("[fd00::/8]", ip("fe80::1"), false),
        ("0.0.0.0/0", ip("2001:db8::1"), false),
    ];
    for (pattern, host, expected) in cases {
        let r = rule(&format!("https://{pattern}"));
        assert_eq!(r.host().matches(host), *expected, "{pattern} vs {host}");
    }
}

/// (case, grant, requested, index of the first rule not within)
type WithinCase = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    Option<usize>,
);

#[test]
fn within_table() {
    // (case, grant, requested, index of the first rule not within)
    #[rustfmt::skip]
    let cases: &[WithinCase] = &[
        ("empty grant", &[], &["https://a.test"], None),
        ("empty request", &["https://a.test"], &[], Some(0)),
        ("same rule", &["https://a.test"], &["https://a.test"], None),
        ("exact under wildcard", &["https://api.a.test"], &["https://*.a.test"], None),
        ("deep exact under wildcard", &["https://x.api.a.test"], &["https://*.a.test"], None),
        ("apex not under wildcard", &["https://a.test"], &["https://*.a.test"], Some(0)),
        ("narrower wildcard", &["https://*.api.a.test"], &["https://*.a.test"], None),
        ("same wildcard", &["https://*.a.test"], &["https://*.a.test"], None),
        ("wider wildcard", &["https://*.a.test"], &["https://*.api.a.test"], Some(0)),
        ("wildcard under any", &["https://*.a.test"], &["https://*"], None),
        ("exact under any", &["https://a.test"], &["https://*"], None),
        ("any under exact", &["https://*"], &["https://a.test"], Some(0)),
        ("look-alike suffix", &["https://evila.test"], &["https://*.a.test"], Some(0)),
        ("other scheme", &["http://a.test"], &["https://a.test"], Some(0)),
        ("tcp vs https", &["tcp://a.test:443"], &["https://a.test"], Some(0)),
        ("port subset", &["https://a.test:8443"], &["https://a.test:443,8443"], None),
        ("port not requested", &["https://a.test:8443"], &["https://a.test"], Some(0)),
        ("range in range", &["http://a.test:8010-8020"], &["http://a.test:8000-8100"], None),
        ("range overlaps", &["http://a.test:8090-8110"], &["http://a.test:8000-8100"], Some(0)),
        ("ports from two rules", &["https://a.test:443,8443"], &["https://a.test", "https://*.test:8443"], None),
        ("any port under any", &["http://a.test:*"], &["http://*:*"], None),
        ("any port under list", &["http://a.test:*"], &["http://a.test:1-65534"], Some(0)),
        ("cidr in cidr", &["tcp://10.1.0.0/16:5432"], &["tcp://10.0.0.0/8:5432"], None),
        ("address in cidr", &["tcp://10.1.2.3:5432"], &["tcp://10.0.0.0/8:5432"], None),
        ("cidr wider", &["tcp://10.0.0.0/7:5432"], &["tcp://10.0.0.0/8:5432"], Some(0)),
        ("v6 cidr in v6", &["https://[fd00:1::/32]"], &["https://[fd00::/8]"], None),
        ("v4 not in v6", &["https://10.0.0.1"], &["https://[::/0]"], Some(0)),
        ("address not under name any", &["https://10.0.0.1"], &["https://*"], Some(0)),
        ("name not under cidr", &["https://a.test"], &["https://0.0.0.0/0"], Some(0)),
        ("second rule is the bad one", &["https://a.test", "https://b.test"], &["https://a.test"], Some(1)),
    ];
    for &(case, granted, requested, expected) in cases {
        let result = grant(granted).within(&grant(requested));
        assert_eq!(
            result.as_ref().err().map(|e| e.index),
            expected,
            "{case}: {result:?}"
        );
    }
}

#[test]
fn not_within_names_the_entry() {
    let err = grant(&["https://a.test", "https://a.test:8443"])
        .within(&grant(&["https://a.test"]))
        .expect_err("not within");
    assert_eq!(
        err.to_string(),
        r#"egress entry 1 "https://a.test:8443" is not within the requested rules: the request allows https a.test on ports 443 only"#
    );
}

#[test]
fn rules_serialise_as_canonical_strings() {
    let g = grant(&["HTTPS://A.test:443", "tcp://10.0.0.0/8:5432"]);
    let json = serde_json::to_string(&g).expect("serialise");
    assert_eq!(json, r#"["https://a.test","tcp://10.0.0.0/8:5432"]"#);
    let back: EgressGrant = serde_json::from_str(&json).expect("deserialise");
    assert_eq!(back, g);
    let err = serde_json::from_str::<EgressGrant>(r#"["https://a.test","ftp://b"]"#)
        .expect_err("bad entry");
    assert!(err.to_string().contains("egress entry 1"), "{err}");
}

#[test]
fn too_many_rules() {
    let entries = vec!["https://a.test"; MAX_RULES + 1];
    let err = EgressGrant::parse(&entries).expect_err("too many");
    assert!(err.reason.contains("more than 1024 rules"), "{err}");
    assert!(EgressGrant::parse(&entries[..MAX_RULES]).is_ok());
}
