use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn name_of(s: &str) -> Option<&'static str> {
    denied_range(ip(s)).map(|r| r.name())
}

/// First and last address of every range, and the address just outside each end.
#[test]
fn ipv4_boundaries() {
    #[rustfmt::skip]
    let cases: &[(&str, Option<&str>)] = &[
        ("0.0.0.0", Some("unspecified")), ("0.0.0.1", Some("this_network")),
        ("0.255.255.255", Some("this_network")), ("1.0.0.0", None),
        ("9.255.255.255", None), ("10.0.0.0", Some("private")),
        ("10.255.255.255", Some("private")), ("11.0.0.0", None),
        ("100.63.255.255", None), ("100.64.0.0", Some("cgnat")),
        ("100.127.255.255", Some("cgnat")), ("100.128.0.0", None),
        ("100.100.100.199", Some("cgnat")), ("100.100.100.200", Some("cloud_metadata")),
        ("100.100.100.201", Some("cgnat")),
        ("126.255.255.255", None), ("127.0.0.0", Some("loopback")),
        ("127.255.255.255", Some("loopback")), ("128.0.0.0", None),
        ("168.63.129.15", None), ("168.63.129.16", Some("cloud_metadata")), ("168.63.129.17", None),
        ("169.253.255.255", None), ("169.254.0.0", Some("link_local")),
        ("169.254.255.255", Some("link_local")), ("169.255.0.0", None),
        ("169.254.0.22", Some("link_local")), ("169.254.0.23", Some("cloud_metadata")),
        ("169.254.169.253", Some("link_local")), ("169.254.169.254", Some("cloud_metadata")),
        ("169.254.169.255", Some("link_local")), ("169.254.170.2", Some("cloud_metadata")),
        ("169.254.170.3", Some("link_local")), ("169.254.170.23", Some("cloud_metadata")),
        ("172.15.255.255", None), ("172.16.0.0", Some("private")),
        ("172.31.255.255", Some("private")), ("172.32.0.0", None),
        ("191.255.255.255", None), ("192.0.0.0", Some("ietf_protocol")),
        ("192.0.0.191", Some("ietf_protocol")), ("192.0.0.192", Some("cloud_metadata")),
        ("192.0.0.193", Some("ietf_protocol")), ("192.0.0.255", Some("ietf_protocol")),
        ("192.0.1.0", None),
        ("192.0.1.255", None), ("192.0.2.0", Some("documentation")),
        ("192.0.2.255", Some("documentation")), ("192.0.3.0", None),
        ("192.88.98.255", None), ("192.88.99.0", Some("6to4_relay")),
        ("192.88.99.255", Some("6to4_relay")), ("192.88.100.0", None),
        ("192.167.255.255", None), ("192.168.0.0", Some("private")),
        ("192.168.255.255", Some("private")), ("192.169.0.0", None),
        ("198.17.255.255", None), ("198.18.0.0", Some("benchmarking")),
        ("198.19.255.255", Some("benchmarking")), ("198.20.0.0", None),
        ("198.51.99.255", None), ("198.51.100.0", Some("documentation")),
        ("198.51.100.255", Some("documentation")), ("198.51.101.0", None),
        ("203.0.112.255", None), ("203.0.113.0", Some("documentation")),
        ("203.0.113.255", Some("documentation")), ("203.0.114.0", None),
        ("223.255.255.255", None), ("224.0.0.0", Some("multicast")),
        ("239.255.255.255", Some("multicast")), ("240.0.0.0", Some("reserved")),
        ("255.255.255.254", Some("reserved")), ("255.255.255.255", Some("broadcast")),
        ("8.8.8.8", None), ("1.1.1.1", None), ("93.184.215.14", None),
    ];
    for &(addr, expected) in cases {
        assert_eq!(name_of(addr), expected, "{addr}");
    }
}

#[test]
fn ipv6_boundaries() {
    #[rustfmt::skip]
    let cases: &[(&str, Option<&str>)] = &[
        ("::", Some("unspecified")), ("::1", Some("loopback")),
        ("::2", Some("ipv4_compatible")), ("::255.255.255.255", Some("ipv4_compatible")),
        ("::1:0:0", Some("reserved")),
        ("::fffe:ffff:ffff", Some("reserved")), ("::ffff:0.0.0.0", Some("ipv4_mapped")),
        ("::ffff:255.255.255.255", Some("ipv4_mapped")), ("::1:0:0:0", Some("reserved")),
        ("64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff", Some("reserved")), ("64:ff9b::", Some("nat64")),
        ("64:ff9b::ffff:ffff", Some("nat64")), ("64:ff9b::1:0:0", Some("reserved")),
        ("64:ff9b:0:ffff:ffff:ffff:ffff:ffff", Some("reserved")), ("64:ff9b:1::", Some("nat64_local")),
        ("64:ff9b:1:ffff:ffff:ffff:ffff:ffff", Some("nat64_local")), ("64:ff9b:2::", Some("reserved")),
        ("ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some("reserved")), ("100::", Some("discard")),
        ("100::ffff:ffff:ffff:ffff", Some("discard")), ("100:0:0:1::", Some("reserved")),
        ("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some("reserved")), ("2000::", None),
        ("2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None), ("2001::", Some("teredo")),
        ("2001:0:ffff:ffff:ffff:ffff:ffff:ffff", Some("teredo")), ("2001:1::", Some("ietf_protocol")),
        ("2001:1:ffff:ffff:ffff:ffff:ffff:ffff", Some("ietf_protocol")), ("2001:2::", Some("benchmarking")),
        ("2001:2:0:ffff:ffff:ffff:ffff:ffff", Some("benchmarking")), ("2001:2:1::", Some("ietf_protocol")),
        ("2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", Some("ietf_protocol")), ("2001:200::", None),
        ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", None), ("2001:db8::", Some("documentation")),
        ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", Some("documentation")), ("2001:db9::", None),
        ("2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None), ("2002::", Some("6to4")),
        ("2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some("6to4")), ("2003::", None),
        ("3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None), ("3fff::", Some("documentation")),
        ("3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", Some("documentation")), ("3fff:1000::", None),
        ("3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None), ("4000::", Some("reserved")),
        ("5eff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some("reserved")), ("5f00::", Some("srv6")),
        ("5f00:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some("srv6")), ("5f01::", Some("reserved")),
        ("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some("reserved")), ("fc00::", Some("unique_local")),
        ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some("unique_local")), ("fe00::", Some("reserved")),
        ("fd00:ec2::253", Some("unique_local")), ("fd00:ec2::254", Some("cloud_metadata")),
        ("fd00:ec2::255", Some("unique_local")), ("fd00:ec2::23", Some("cloud_metadata")),
        ("fd20:ce::254", Some("cloud_metadata")),
        ("fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some("reserved")), ("fe80::", Some("link_local")),
        ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some("link_local")), ("fec0::", Some("site_local")),
        ("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some("site_local")), ("ff00::", Some("multicast")),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some("multicast")),
        ("2606:4700:4700::1111", None), ("2a00:1450:4001::1", None),
    ];
    for &(addr, expected) in cases {
        assert_eq!(name_of(addr), expected, "{addr}");
    }
}

/// IPv4-mapped and NAT64 addresses are judged by the embedded IPv4 address, never via
/// `to_ipv4()` (which would read `::1` as `0.0.0.1`).
/// (range name, embedded address, embedded range name)
type Embedded = (&'static str, &'static str, &'static str);

#[test]
fn embedded_ipv4_is_judged_by_its_own_range() {
    #[rustfmt::skip]
    let cases: &[(&str, Option<Embedded>)] = &[
        ("::ffff:8.8.8.8", None),
        ("::ffff:127.0.0.1", Some(("ipv4_mapped", "127.0.0.1", "loopback"))),
        ("::ffff:7f00:1", Some(("ipv4_mapped", "127.0.0.1", "loopback"))),
        ("::ffff:10.1.2.3", Some(("ipv4_mapped", "10.1.2.3", "private"))),
        ("::ffff:169.254.169.254", Some(("ipv4_mapped", "169.254.169.254", "cloud_metadata"))),
        ("::ffff:168.63.129.16", Some(("ipv4_mapped", "168.63.129.16", "cloud_metadata"))),
        ("64:ff9b::808:808", None),
        ("64:ff9b::8.8.4.4", None),
        ("64:ff9b::a00:1", Some(("nat64", "10.0.0.1", "private"))),
        ("64:ff9b::7f00:1", Some(("nat64", "127.0.0.1", "loopback"))),
        ("64:ff9b::a9fe:a9fe", Some(("nat64", "169.254.169.254", "cloud_metadata"))),
        ("64:ff9b::", Some(("nat64", "0.0.0.0", "unspecified"))),
    ];
    for &(addr, expected) in cases {
        let got = denied_range(ip(addr)).map(|r| {
            let inner = r.embedded.expect("embedded");
            (r.name(), inner.address.to_string(), inner.kind.name())
        });
        let expected = expected.map(|(k, a, i)| (k, a.to_string(), i));
        assert_eq!(got, expected, "{addr}");
    }
    // ::1 and ::0.0.0.1 are not an embedding of 0.0.0.1: loopback and ipv4_compatible.
    let loopback = denied_range(ip("::1")).expect("denied");
    assert_eq!((loopback.name(), loopback.embedded), ("loopback", None));
}

#[test]
fn reasons_name_the_range_and_the_embedded_range() {
    let cases = [
        ("127.0.0.1", "loopback 127.0.0.0/8"),
        ("169.254.169.254", "cloud_metadata 169.254.169.254/32"),
        ("fd00:ec2::254", "cloud_metadata fd00:ec2::254/128"),
        ("2002:7f00:1::", "6to4 2002::/16"),
        (
            "::ffff:10.0.0.1",
            "ipv4_mapped ::ffff:0.0.0.0/96 embedding 10.0.0.1, private 10.0.0.0/8",
        ),
        (
            "64:ff9b::7f00:1",
            "nat64 64:ff9b::/96 embedding 127.0.0.1, loopback 127.0.0.0/8",
        ),
    ];
    for (addr, expected) in cases {
        let range = denied_range(ip(addr)).expect("denied");
        assert_eq!(range.to_string(), expected, "{addr}");
    }
}

#[test]
fn tables_hold_networks_without_host_bits() {
    for (kind, net) in DENIED_V4 {
        assert_eq!(net.trunc(), *net, "{kind} {net}");
    }
    for (kind, net) in DENIED_V6 {
        assert_eq!(net.trunc(), *net, "{kind} {net}");
    }
}

/// Only the global unicast block 2000::/3 can hold an address egress reaches by default.
#[test]
fn ipv6_outside_global_unicast_is_always_denied() {
    for first in 0..=u16::MAX {
        let addr = Ipv6Addr::new(first, 0x1234, 0, 0, 0, 0, 0x5678, 1);
        let global = (0x2000..0x4000).contains(&first);
        if !global {
            assert!(
                denied_range(IpAddr::V6(addr)).is_some(),
                "{addr} is outside 2000::/3 and must be denied"
            );
        }
    }
}

#[test]
fn a_rule_opens_a_range_only_from_inside_it() {
    let net = |s: &str| s.parse::<IpNet>().expect("net");
    // (address, rule, opens)
    #[rustfmt::skip]
    let cases: &[(&str, &str, bool)] = &[
        ("127.0.0.1", "127.0.0.1/32", true),
        ("127.0.0.1", "127.0.0.0/8", true),
        ("127.0.0.1", "127.0.0.2/32", false),
        ("127.0.0.1", "0.0.0.0/0", false),
        ("127.0.0.1", "126.0.0.0/7", false),
        ("10.1.2.3", "10.0.0.0/8", true),
        ("10.1.2.3", "10.0.0.0/7", false),
        ("169.254.169.254", "169.254.0.0/16", false),
        ("169.254.169.254", "169.254.169.254/32", true),
        ("::ffff:127.0.0.1", "127.0.0.1/32", true),
        ("::ffff:127.0.0.1", "::ffff:127.0.0.1/128", true),
        ("::ffff:127.0.0.1", "::ffff:0.0.0.0/96", false),
        ("::ffff:127.0.0.1", "::/0", false),
        ("64:ff9b::a00:1", "10.0.0.1/32", false),
        ("64:ff9b::a00:1", "64:ff9b::a00:1/128", true),
        ("64:ff9b::a00:1", "64:ff9b::a00:0/104", true),
        ("64:ff9b::a00:1", "64:ff9b::/96", false),
        ("fd00::1", "fd00::/8", true),
        ("fd00::1", "::/0", false),
        ("fd00::1", "fc00::/7", true),
    ];
    for &(addr, rule, opens) in cases {
        let range = denied_range(ip(addr)).expect("denied");
        assert_eq!(
            range.is_opened_by(ip(addr), &net(rule)),
            opens,
            "{addr} by {rule}"
        );
    }
}
