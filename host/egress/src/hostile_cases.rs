//! The hostile-destination table: every row is a destination an attacker would try, with the
//! grant it is tried under, the resolver's scripted answers and the code it must be refused
//! with. Shared, as data only, by the integration tests of this crate (the policy on its own)
//! and of `stockade-workspace` (the same rows sent from inside a workspace through its egress
//! proxy), so both prove the same table. Not part of the API.

use crate::DenialCode::{self, *};

/// The listen addresses of the server under test in [`CASES`]: loopback, an IPv4 wildcard and
/// an IPv6 wildcard listener (the `own_address` rows depend on them).
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

/// A name every test resolver knows, to a public address.
pub const PUB: &str = "93.184.216.34";

/// (case, grant, URL, resolver answers, the code it is refused with)
pub type Case = (
    &'static str,
    &'static [&'static str],
    &'static str,
    Answers<'static>,
    DenialCode,
);

/// Hostile destinations: each row must be refused with exactly its code, even under the
/// widest grants. Case names are unique.
#[rustfmt::skip]
pub const CASES: &[Case] = &[
    // Loopback, in every spelling.
    ("loopback dotted", ANY, "http://127.0.0.1/", &[], AddressDenied),
    ("loopback short", ANY, "http://127.1/", &[], AddressDenied),
    ("loopback decimal", ANY, "http://2130706433/", &[], AddressDenied),
    ("loopback hex", ANY, "http://0x7f000001/", &[], AddressDenied),
    ("loopback hex dotted", ANY, "http://0x7f.0.0.1/", &[], AddressDenied),
    ("loopback octal dotted", ANY, "http://0177.0.0.1/", &[], AddressDenied),
    ("loopback octal whole", ANY, "http://017700000001/", &[], AddressDenied),
    ("loopback zero padded", ANY, "http://127.000.000.001/", &[], AddressDenied),
    ("loopback percent-encoded", ANY, "http://%31%32%37.0.0.1/", &[], AddressDenied),
    ("loopback elsewhere in 127/8", ANY, "https://127.255.255.254:8443/", &[], AddressDenied),
    ("ipv6 loopback", ANY, "http://[::1]/", &[], AddressDenied),
    ("ipv6 loopback long form", ANY, "http://[0:0:0:0:0:0:0:1]/", &[], AddressDenied),
    ("mapped loopback dotted", ANY, "http://[::ffff:127.0.0.1]/", &[], AddressDenied),
    ("mapped loopback hex", ANY, "http://[::ffff:7f00:1]/", &[], AddressDenied),
    ("compatible loopback", ANY, "http://[::127.0.0.1]/", &[], AddressDenied),
    ("localhost", ANY, "http://localhost/", &[("localhost", &[PUB])], NameDenied),
    ("localhost upper with dot", ANY, "http://LOCALHOST./", &[], NameDenied),
    ("subdomain of localhost", ANY, "http://foo.localhost/", &[], NameDenied),
    ("localhost.localdomain", ANY, "http://localhost.localdomain/", &[], NameDenied),
    ("ip6-localhost", ANY, "http://ip6-localhost/", &[], NameDenied),
    ("unspecified", ANY, "http://0.0.0.0/", &[], AddressDenied),
    ("unspecified as 0", ANY, "http://0/", &[], AddressDenied),
    ("ipv6 unspecified", ANY, "http://[::]/", &[], AddressDenied),
    // Look-alike names that normalise into denied names.
    ("fullwidth localhost", ANY, "http://ｌｏｃａｌｈｏｓｔ/", &[], NameDenied),
    ("circled localhost", ANY, "http://ⓛocalhost/", &[], NameDenied),
    ("zero-width space localhost", ANY, "http://local\u{200b}host/", &[], NameDenied),
    ("percent-encoded localhost", ANY, "http://%6c%6f%63%61%6c%68%6f%73%74/", &[], NameDenied),
    ("ideographic dot localhost", ANY, "http://localhost\u{3002}/", &[], NameDenied),
    ("fullwidth gcp metadata", ANY, "http://ｍｅｔａｄａｔａ.google.internal/", &[], NameDenied),
    // Cloud metadata.
    ("aws imds", ANY, "http://169.254.169.254/latest/meta-data/", &[], AddressDenied),
    ("aws imds decimal", ANY, "http://2852039166/", &[], AddressDenied),
    ("aws imds ipv6", ANY, "http://[fd00:ec2::254]/", &[], AddressDenied),
    ("aws ecs task metadata", ANY, "http://169.254.170.2/v2/credentials", &[], AddressDenied),
    ("aws eks pod identity", ANY, "http://169.254.170.23/", &[], AddressDenied),
    ("aws instance-data name", ANY, "http://instance-data/", &[], NameDenied),
    ("aws ec2.internal name", ANY, "http://instance-data.ec2.internal/", &[], NameDenied),
    ("gcp by name", ANY, "http://metadata.google.internal/computeMetadata/v1/", &[], NameDenied),
    ("gcp single-label name", ANY, "http://metadata/", &[], NameDenied),
    ("gcp by address, mapped", ANY, "http://[::ffff:169.254.169.254]/", &[], AddressDenied),
    ("gcp ipv6", ANY, "http://[fd20:ce::254]/", &[], AddressDenied),
    ("azure wireserver", ANY, "http://168.63.129.16/machine?comp=goalstate", &[], AddressDenied),
    ("azure imds over https", ANY, "https://169.254.169.254/metadata/instance", &[], AddressDenied),
    ("alibaba", ANY, "http://100.100.100.200/latest/meta-data/", &[], AddressDenied),
    ("oracle", ANY, "http://192.0.0.192/opc/v2/instance/", &[], AddressDenied),
    ("tencent", ANY, "http://169.254.0.23/", &[], AddressDenied),
    ("name resolving to imds", ANY, "http://meta.attacker.test/", &[("meta.attacker.test", &["169.254.169.254"])], AddressDenied),
    ("name resolving to wireserver", ANY, "http://wire.attacker.test/", &[("wire.attacker.test", &["168.63.129.16"])], AddressDenied),
    // Every other denied IPv4 range.
    ("this network", ANY, "http://0.1.2.3/", &[], AddressDenied),
    ("private 10/8", ANY, "http://10.0.0.1/", &[], AddressDenied),
    ("private 172.16/12 low", ANY, "http://172.16.0.1/", &[], AddressDenied),
    ("private 172.16/12 high", ANY, "http://172.31.255.254/", &[], AddressDenied),
    ("private 192.168/16", ANY, "http://192.168.1.1/", &[], AddressDenied),
    ("cgnat", ANY, "http://100.64.0.1/", &[], AddressDenied),
    ("link-local", ANY, "http://169.254.1.1/", &[], AddressDenied),
    ("ietf protocol assignments", ANY, "http://192.0.0.8/", &[], AddressDenied),
    ("documentation 192.0.2", ANY, "http://192.0.2.1/", &[], AddressDenied),
    ("6to4 relay anycast", ANY, "http://192.88.99.1/", &[], AddressDenied),
    ("benchmarking", ANY, "http://198.18.0.1/", &[], AddressDenied),
    ("documentation 198.51.100", ANY, "http://198.51.100.1/", &[], AddressDenied),
    ("documentation 203.0.113", ANY, "http://203.0.113.1/", &[], AddressDenied),
    ("multicast", ANY, "http://224.0.0.1/", &[], AddressDenied),
    ("multicast ssdp", ANY, "http://239.255.255.250:1900/", &[], AddressDenied),
    ("reserved class e", ANY, "http://240.0.0.1/", &[], AddressDenied),
    ("broadcast", ANY, "http://255.255.255.255/", &[], AddressDenied),
    // IPv6 ranges.
    ("ula fd00", ANY, "http://[fd00::1]/", &[], AddressDenied),
    ("ula fc00", ANY, "http://[fc00::1]/", &[], AddressDenied),
    ("ipv6 link-local", ANY, "http://[fe80::1]/", &[], AddressDenied),
    ("link-local with encoded zone", ANY, "http://[fe80::1%25eth0]/", &[], AddressDenied),
    ("link-local with raw zone", ANY, "http://[fe80::1%eth0]:8080/", &[], AddressDenied),
    ("site-local", ANY, "http://[fec0::1]/", &[], AddressDenied),
    ("ipv6 multicast", ANY, "http://[ff02::1]/", &[], AddressDenied),
    ("ipv6 documentation", ANY, "http://[2001:db8::1]/", &[], AddressDenied),
    ("ipv6 documentation 3fff", ANY, "http://[3fff::1]/", &[], AddressDenied),
    ("discard-only", ANY, "http://[100::1]/", &[], AddressDenied),
    ("teredo", ANY, "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", &[], AddressDenied),
    ("ietf 2001::/23", ANY, "http://[2001:1::1]/", &[], AddressDenied),
    ("ipv6 benchmarking", ANY, "http://[2001:2::1]/", &[], AddressDenied),
    ("6to4 of loopback", ANY, "http://[2002:7f00:1::]/", &[], AddressDenied),
    ("6to4 of a public address", ANY, "http://[2002:808:808::1]/", &[], AddressDenied),
    ("nat64 of private", ANY, "http://[64:ff9b::a00:1]/", &[], AddressDenied),
    ("nat64 of loopback", ANY, "http://[64:ff9b::7f00:1]/", &[], AddressDenied),
    ("nat64 of metadata", ANY, "http://[64:ff9b::a9fe:a9fe]/", &[], AddressDenied),
    ("local-use nat64", ANY, "http://[64:ff9b:1::808:808]/", &[], AddressDenied),
    ("srv6", ANY, "http://[5f00::1]/", &[], AddressDenied),
    ("unassigned ipv6", ANY, "http://[4000::1]/", &[], AddressDenied),
    ("mapped private", ANY, "http://[::ffff:10.0.0.1]/", &[], AddressDenied),
    ("mapped private hex", ANY, "http://[::ffff:c0a8:101]/", &[], AddressDenied),
    ("mapped cgnat", ANY, "http://[::ffff:100.64.0.1]/", &[], AddressDenied),
    ("compatible private", ANY, "http://[::10.0.0.1]/", &[], AddressDenied),
    ("compatible public", ANY, "http://[::8.8.8.8]/", &[], AddressDenied),
    ("ipv4-translated form", ANY, "http://[::ffff:0:808:808]/", &[], AddressDenied),
    // Names resolving to denied addresses.
    ("name to loopback", ANY, "http://api.allowed.test/", &[("api.allowed.test", &["127.0.0.1"])], AddressDenied),
    ("name to private", ANY, "http://api.allowed.test/", &[("api.allowed.test", &["10.1.2.3"])], AddressDenied),
    ("name to mapped loopback", ANY, "http://api.allowed.test/", &[("api.allowed.test", &["::ffff:127.0.0.1"])], AddressDenied),
    ("name to ipv6 loopback", ANY, "http://api.allowed.test/", &[("api.allowed.test", &["::1"])], AddressDenied),
    ("name to ula", ANY, "http://api.allowed.test/", &[("api.allowed.test", &["fd12::1"])], AddressDenied),
    ("name to nat64 private", ANY, "http://api.allowed.test/", &[("api.allowed.test", &["64:ff9b::a00:1"])], AddressDenied),
    ("name to public and private", ANY, "http://api.allowed.test/", &[("api.allowed.test", &[PUB, "10.0.0.1"])], AddressDenied),
    ("name to private and public", ANY, "http://api.allowed.test/", &[("api.allowed.test", &["10.0.0.1", PUB])], AddressDenied),
    ("name to public v4 and ula v6", ANY, "http://api.allowed.test/", &[("api.allowed.test", &[PUB, "fd00::1"])], AddressDenied),
    ("name to nothing", ANY, "http://api.allowed.test/", &[("api.allowed.test", &[])], NoAddress),
    ("name the resolver fails", ANY, "http://unknown.allowed.test/", &[], ResolveFailed),
    // Ports and schemes.
    ("port not granted", &["https://api.allowed.test"], "https://api.allowed.test:8443/", &[("api.allowed.test", &[PUB])], PortNotGranted),
    ("default port not granted", &["https://api.allowed.test:8443"], "https://api.allowed.test/", &[("api.allowed.test", &[PUB])], PortNotGranted),
    ("port outside range", &["http://api.allowed.test:8000-8100"], "http://api.allowed.test:8101/", &[("api.allowed.test", &[PUB])], PortNotGranted),
    ("http to https port", &["https://api.allowed.test"], "http://api.allowed.test:443/", &[("api.allowed.test", &[PUB])], SchemeNotGranted),
    ("https when only http", &["http://api.allowed.test"], "https://api.allowed.test/", &[("api.allowed.test", &[PUB])], SchemeNotGranted),
    ("tcp rule is not http", &["tcp://api.allowed.test:80"], "http://api.allowed.test/", &[("api.allowed.test", &[PUB])], SchemeNotGranted),
    ("ftp", ANY, "ftp://api.allowed.test/", &[], SchemeNotGranted),
    ("gopher to loopback", ANY, "gopher://127.0.0.1:25/_HELO", &[], SchemeNotGranted),
    ("file", ANY, "file:///etc/passwd", &[], SchemeNotGranted),
    ("dict to memcached", ANY, "dict://127.0.0.1:11211/stats", &[], SchemeNotGranted),
    ("empty grant", &[], "https://api.allowed.test/", &[("api.allowed.test", &[PUB])], SchemeNotGranted),
    // User information and parser tricks.
    ("userinfo to loopback", ANY, "http://allowed.com@127.0.0.1/", &[], UserinfoNotAllowed),
    ("empty password", ANY, "http://user:@api.allowed.test/", &[], UserinfoNotAllowed),
    ("empty userinfo", ANY, "http://:@127.0.0.1/", &[], UserinfoNotAllowed),
    ("host and port as userinfo", ANY, "http://api.allowed.test:80@127.0.0.1/", &[], UserinfoNotAllowed),
    ("two at signs", ANY, "http://a@api.allowed.test@127.0.0.1/", &[], UserinfoNotAllowed),
    ("encoded at sign in host", ANY, "http://api.allowed.test%40127.0.0.1/", &[], InvalidUrl),
    ("fragment hides the host", &["http://api.allowed.test"], "http://127.0.0.1#@api.allowed.test/", &[], HostNotGranted),
    ("backslash authority", ANY, "http://api.allowed.test\\@127.0.0.1/", &[], InvalidUrl),
    ("slashes skipped", ANY, "http:///127.0.0.1/", &[], InvalidUrl),
    ("backslashes for slashes", ANY, "http:\\\\127.0.0.1\\", &[], InvalidUrl),
    ("tab in host", ANY, "http://127.0.0\t.1/", &[], InvalidUrl),
    ("newline in host", ANY, "http://local\nhost/", &[], InvalidUrl),
    ("no host", ANY, "http://", &[], InvalidUrl),
    // Wildcards and host matching.
    ("address against * rule", &["http://*"], "http://8.8.8.8/", &[], HostNotGranted),
    ("private address against * rule", &["http://*"], "http://10.0.0.1/", &[], HostNotGranted),
    ("address against *.suffix rule", &["http://*.allowed.test"], "http://8.8.8.8/", &[], HostNotGranted),
    ("suffix appended", &["https://*.example.com"], "https://example.com.evil.test/", &[("example.com.evil.test", &[PUB])], HostNotGranted),
    ("suffix glued", &["https://*.example.com"], "https://evilexample.com/", &[("evilexample.com", &[PUB])], HostNotGranted),
    ("apex not under wildcard", &["https://*.example.com"], "https://example.com/", &[("example.com", &[PUB])], HostNotGranted),
    ("exact does not cover subdomain", &["https://api.example.com"], "https://x.api.example.com/", &[("x.api.example.com", &[PUB])], HostNotGranted),
    ("cyrillic look-alike", &["https://*.example.com"], "https://www.exаmple.com/", &[], HostNotGranted),
    ("wildcard grant on denied suffix", &["https://*.localhost"], "https://a.localhost/", &[("a.localhost", &[PUB])], NameDenied),
    ("exact grant of denied name", &["http://metadata.google.internal"], "http://metadata.google.internal/", &[], NameDenied),
    ("kubernetes service", ANY, "http://kubernetes.default.svc/", &[], NameDenied),
    ("mdns name", ANY, "http://printer.local/", &[], NameDenied),
    ("reverse dns name", ANY, "http://1.0.0.127.in-addr.arpa/", &[], NameDenied),
    ("home.arpa", ANY, "http://router.home.arpa/", &[], NameDenied),
    // Address rules.
    ("cidr does not cover", &["http://10.0.0.0/24"], "http://10.0.1.1/", &[], HostNotGranted),
    ("address rule, other port", &["http://127.0.0.1:8080"], "http://127.0.0.1:8081/", &[], PortNotGranted),
    ("loopback opened on one port only", &["http://api.allowed.test:*", "http://127.0.0.1:8080"], "http://api.allowed.test:9090/", &[("api.allowed.test", &["127.0.0.1"])], AddressDenied),
    ("address rule of other scheme", &["https://127.0.0.1", "http://api.allowed.test"], "http://api.allowed.test/", &[("api.allowed.test", &["127.0.0.1"])], AddressDenied),
    ("wide cidr opens nothing", &["http://0.0.0.0/0"], "http://127.0.0.1/", &[], AddressDenied),
    ("link-local cidr does not open metadata", &["http://169.254.0.0/16"], "http://169.254.169.254/", &[], AddressDenied),
    ("ipv4 rule does not open nat64", &["http://10.0.0.1", "http://[::/0]"], "http://[64:ff9b::a00:1]/", &[], AddressDenied),
    ("opened address, other name answer", &["http://api.allowed.test", "http://127.0.0.1"], "http://api.allowed.test/", &[("api.allowed.test", &["127.0.0.1", "10.0.0.1"])], AddressDenied),
    // The server's own listen addresses, even when an address rule covers them.
    ("own loopback listener", &["http://127.0.0.0/8:7700"], "http://127.0.0.1:7700/", &[], OwnAddress),
    ("own listener, mapped", &["http://127.0.0.1:7700"], "http://[::ffff:127.0.0.1]:7700/", &[], OwnAddress),
    ("own wildcard listener by local ip", &["http://93.184.215.0/24:7701"], "http://93.184.215.14:7701/", &[], OwnAddress),
    ("own wildcard listener by loopback", &["http://127.0.0.1:7701"], "http://127.0.0.1:7701/", &[], OwnAddress),
    ("own wildcard v6 listener", &["http://[::1]:7702"], "http://[::1]:7702/", &[], OwnAddress),
    ("own address by name", &["http://api.allowed.test:7701"], "http://api.allowed.test:7701/", &[("api.allowed.test", &["93.184.215.14"])], OwnAddress),
];
