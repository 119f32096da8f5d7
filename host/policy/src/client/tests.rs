use http::header::{HeaderName, HeaderValue};

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn nets(list: &[&str]) -> Vec<IpNet> {
    list.iter().map(|s| s.parse().expect("net")).collect()
}

fn xff(lines: &[&[u8]]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for line in lines {
        map.append(
            HeaderName::from_static("x-forwarded-for"),
            HeaderValue::from_bytes(line).expect("value"),
        );
    }
    map
}

#[test]
fn resolution_table() {
    let trusted = ["10.0.0.0/8", "2001:db8:ffff::/48"];
    // (case, peer, X-Forwarded-For lines, expected client)
    #[rustfmt::skip]
    let cases: &[(&str, &str, &[&[u8]], &str)] = &[
        ("untrusted peer, no header", "198.51.100.9", &[], "198.51.100.9"),
        ("forged XFF from untrusted peer ignored", "198.51.100.9", &[b"1.2.3.4"], "198.51.100.9"),
        ("forged XFF claiming a trusted proxy ignored", "198.51.100.9", &[b"10.0.0.1"], "198.51.100.9"),
        ("forged XFF from untrusted loopback ignored", "127.0.0.1", &[b"1.2.3.4"], "127.0.0.1"),
        ("trusted proxy, no header: the proxy", "10.0.0.1", &[], "10.0.0.1"),
        ("trusted proxy, one client", "10.0.0.1", &[b"203.0.113.5"], "203.0.113.5"),
        ("spoofed left-most entry not believed", "10.0.0.1", &[b"6.6.6.6, 203.0.113.5"], "203.0.113.5"),
        ("many spoofed entries", "10.0.0.1", &[b"1.1.1.1, 2.2.2.2, 3.3.3.3, 203.0.113.5"], "203.0.113.5"),
        ("chain of trusted proxies skipped", "10.0.0.1", &[b"6.6.6.6, 203.0.113.5, 10.0.0.3, 10.0.0.2"], "203.0.113.5"),
        ("all entries trusted: left-most reached", "10.0.0.1", &[b"10.0.0.3, 10.0.0.2"], "10.0.0.3"),
        ("several header lines are one list", "10.0.0.1", &[b"6.6.6.6", b"203.0.113.5, 10.0.0.2"], "203.0.113.5"),
        ("right-most line wins over earlier lines", "10.0.0.1", &[b"203.0.113.5", b"198.51.100.1"], "198.51.100.1"),
        ("no spaces", "10.0.0.1", &[b"6.6.6.6,203.0.113.5"], "203.0.113.5"),
        ("tabs and spaces trimmed", "10.0.0.1", &[b"6.6.6.6 ,\t203.0.113.5 "], "203.0.113.5"),
        ("entry with port", "10.0.0.1", &[b"203.0.113.5:4711"], "203.0.113.5"),
        ("ipv6 entry with port", "10.0.0.1", &[b"[2001:db8::5]:4711"], "2001:db8::5"),
        ("bracketed ipv6 entry", "10.0.0.1", &[b"[2001:db8::5]"], "2001:db8::5"),
        ("garbage right-most: the proxy", "10.0.0.1", &[b"203.0.113.5, unknown"], "10.0.0.1"),
        ("garbage behind a trusted hop: that hop", "10.0.0.1", &[b"203.0.113.5, nonsense, 10.0.0.2"], "10.0.0.2"),
        ("garbage left of the client never reached", "10.0.0.1", &[b"garbage, 203.0.113.5"], "203.0.113.5"),
        ("empty header: the proxy", "10.0.0.1", &[b""], "10.0.0.1"),
        ("trailing comma: the proxy", "10.0.0.1", &[b"203.0.113.5,"], "10.0.0.1"),
        ("hostname entry: the proxy", "10.0.0.1", &[b"evil.example"], "10.0.0.1"),
        ("zone id entry: the proxy", "10.0.0.1", &[b"fe80::1%eth0"], "10.0.0.1"),
        ("octal spelling is not an address", "10.0.0.1", &[b"0177.0.0.1"], "10.0.0.1"),
        ("short spelling is not an address", "10.0.0.1", &[b"127.1"], "10.0.0.1"),
        ("decimal spelling is not an address", "10.0.0.1", &[b"2130706433"], "10.0.0.1"),
        ("non-ascii line: the proxy", "10.0.0.1", &[b"203.0.113.5, \xff"], "10.0.0.1"),
        ("non-ascii line left of the client never reached", "10.0.0.1", &[b"\xff", b"203.0.113.5"], "203.0.113.5"),
        ("ipv6 trusted proxy", "2001:db8:ffff::1", &[b"2001:db8:1::7"], "2001:db8:1::7"),
        ("ipv6 untrusted peer", "2001:db8:1::1", &[b"1.2.3.4"], "2001:db8:1::1"),
        ("mapped peer normalised", "::ffff:198.51.100.9", &[], "198.51.100.9"),
        ("mapped trusted peer recognised", "::ffff:10.0.0.1", &[b"203.0.113.5"], "203.0.113.5"),
        ("mapped entry normalised", "10.0.0.1", &[b"::ffff:203.0.113.5"], "203.0.113.5"),
        ("mapped trusted entry skipped", "10.0.0.1", &[b"203.0.113.5, ::ffff:10.0.0.2"], "203.0.113.5"),
    ];
    let resolver = ClientResolver::new(nets(&trusted));
    for &(case, peer, lines, expected) in cases {
        assert_eq!(
            resolver.resolve(ip(peer), &xff(lines)),
            ip(expected),
            "{case}"
        );
    }
}

#[test]
fn no_trusted_proxies_means_the_peer() {
    let resolver = ClientResolver::new(vec![]);
    let h = xff(&[b"1.2.3.4"]);
    assert_eq!(resolver.resolve(ip("10.0.0.1"), &h), ip("10.0.0.1"));
    assert_eq!(resolver.resolve(ip("::ffff:10.0.0.1"), &h), ip("10.0.0.1"));
}

#[test]
fn other_forwarding_headers_are_ignored() {
    let resolver = ClientResolver::new(nets(&["10.0.0.0/8"]));
    let mut h = HeaderMap::new();
    h.insert("forwarded", HeaderValue::from_static("for=1.2.3.4"));
    h.insert("x-real-ip", HeaderValue::from_static("1.2.3.4"));
    assert_eq!(resolver.resolve(ip("10.0.0.1"), &h), ip("10.0.0.1"));
}

#[test]
fn walk_is_bounded() {
    let resolver = ClientResolver::new(nets(&["10.0.0.0/8"]));
    let hops: Vec<String> = (0..40).map(|i| format!("10.0.1.{i}")).collect();
    let line = format!("203.0.113.5, {}", hops.join(", "));
    let got = resolver.resolve(ip("10.0.0.1"), &xff(&[line.as_bytes()]));
    // 16 trusted entries are walked from the right (10.0.1.39 down to 10.0.1.24).
    assert_eq!(got, ip("10.0.1.24"));
}

#[test]
fn mapped_trusted_networks_match_ipv4_peers() {
    let resolver = ClientResolver::new(nets(&["::ffff:10.0.0.0/104"]));
    assert!(resolver.is_trusted(ip("10.1.2.3")));
    assert!(resolver.is_trusted(ip("::ffff:10.1.2.3")));
    assert!(!resolver.is_trusted(ip("11.0.0.1")));
    assert_eq!(
        resolver.resolve(ip("10.1.2.3"), &xff(&[b"203.0.113.5"])),
        ip("203.0.113.5")
    );
}
