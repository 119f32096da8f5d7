use super::*;

fn dest(scheme: Scheme, host: &str, port: u16) -> Destination {
    let host = match host.parse::<IpAddr>() {
        Ok(ip) => Host::Ip(ip),
        Err(_) => Host::Name(host.into()),
    };
    Destination { scheme, host, port }
}

#[test]
fn urls_parse_to_one_destination() {
    use Scheme::{Http, Https};
    #[rustfmt::skip]
    let cases: &[(&str, Destination)] = &[
        ("http://api.example.com/", dest(Http, "api.example.com", 80)),
        ("https://api.example.com/v1?x=1#f", dest(Https, "api.example.com", 443)),
        ("HTTPS://API.Example.COM.:8443/", dest(Https, "api.example.com", 8443)),
        ("http://api.example.com:80/", dest(Http, "api.example.com", 80)),
        ("http://api.example.com:/", dest(Http, "api.example.com", 80)),
        ("http://api.example.com", dest(Http, "api.example.com", 80)),
        ("http://api.example.com?q", dest(Http, "api.example.com", 80)),
        ("http://api.example.com/@127.0.0.1", dest(Http, "api.example.com", 80)),
        ("http://127.0.0.1#@api.example.com/", dest(Http, "127.0.0.1", 80)),
        ("http://bücher.example/", dest(Http, "xn--bcher-kva.example", 80)),
        ("http://2130706433/", dest(Http, "127.0.0.1", 80)),
        ("http://0x7f.1/", dest(Http, "127.0.0.1", 80)),
        ("http://0177.0.0.1/", dest(Http, "127.0.0.1", 80)),
        ("http://017700000001/", dest(Http, "127.0.0.1", 80)),
        ("http://127.000.000.001/", dest(Http, "127.0.0.1", 80)),
        ("http://%31%32%37.0.0.1/", dest(Http, "127.0.0.1", 80)),
        ("http://[::1]:8080/", dest(Http, "::1", 8080)),
        ("http://[::ffff:7f00:1]/", dest(Http, "::ffff:127.0.0.1", 80)),
        ("http://[fe80::1%25eth0]/", dest(Http, "fe80::1", 80)),
        ("http://[fe80::1%eth0]:8080/x", dest(Http, "fe80::1", 8080)),
        ("https://[2001:db8::1%251]:/", dest(Https, "2001:db8::1", 443)),
    ];
    for (url, expected) in cases {
        assert_eq!(Destination::from_url(url).as_ref(), Ok(expected), "{url}");
    }
}

#[test]
fn bad_urls_get_their_code() {
    use DenialCode::*;
    #[rustfmt::skip]
    let cases: &[(&str, DenialCode)] = &[
        ("", InvalidUrl),
        ("api.example.com", InvalidUrl),
        ("//api.example.com/", InvalidUrl),
        ("1http://x.test/", InvalidUrl),
        ("http:api.example.com", InvalidUrl),
        ("http:/api.example.com", InvalidUrl),
        ("http:\\\\127.0.0.1\\", InvalidUrl),
        ("http://x.test\\@127.0.0.1/", InvalidUrl),
        ("http:///127.0.0.1/", InvalidUrl),
        ("http://", InvalidUrl),
        ("http://?x", InvalidUrl),
        (" http://x.test/", InvalidUrl),
        ("http://x.test/\t", InvalidUrl),
        ("http://loc\talhost/", InvalidUrl),
        ("http://loc\nalhost/", InvalidUrl),
        ("http://x.test:0/", InvalidUrl),
        ("http://x.test:65536/", InvalidUrl),
        ("http://x.test:80a/", InvalidUrl),
        ("http://a..b/", InvalidUrl),
        ("http://*.x.test/", InvalidUrl),
        ("http://1.2.3.4.5/", InvalidUrl),
        ("http://[fe80::1%]/", InvalidUrl),
        ("http://[fe80::1%25]/", InvalidUrl),
        ("http://[fe80::g%25eth0]/", InvalidUrl),
        ("http://[fe80::1%25eth0]:0/", InvalidUrl),
        ("http://[fe80::1%25eth0]x/", InvalidUrl),
        ("ftp://x.test/", SchemeNotGranted),
        ("gopher://127.0.0.1:25/", SchemeNotGranted),
        ("file:///etc/passwd", SchemeNotGranted),
        ("tcp://x.test:80", SchemeNotGranted),
        ("javascript:alert(1)", SchemeNotGranted),
        ("http://user@x.test/", UserinfoNotAllowed),
        ("http://user:@x.test/", UserinfoNotAllowed),
        ("http://:@x.test/", UserinfoNotAllowed),
        ("http://@x.test/", UserinfoNotAllowed),
        ("http://x.test@127.0.0.1/", UserinfoNotAllowed),
        ("http://a@b@c.test/", UserinfoNotAllowed),
        ("http://[::1]@x.test/", UserinfoNotAllowed),
    ];
    for &(url, code) in cases {
        let denial = Destination::from_url(url).expect_err(url);
        assert_eq!(denial.code, code, "{url:?}: {denial}");
    }
}

#[test]
fn reasons_do_not_repeat_credentials() {
    for url in [
        "http://user:hunter2@x.test/",
        "http://x.test:hunter2@/",
        "ftp://user:hunter2@x.test/",
    ] {
        let denial = Destination::from_url(url).expect_err(url);
        assert!(!denial.reason.contains("hunter2"), "{url}: {denial}");
    }
}

#[test]
fn sockets() {
    let d = Destination::socket(SocketProtocol::Udp, "10.0.0.1".parse().expect("ip"), 53);
    assert_eq!(d.to_string(), "udp://10.0.0.1:53");
    assert_eq!(d.socket_addr(), Some("10.0.0.1:53".parse().expect("addr")));
    let d = Destination::socket_host(SocketProtocol::Tcp, "DB.Example.com.", 5432).expect("name");
    assert_eq!(d.to_string(), "tcp://db.example.com:5432");
    assert_eq!(d.socket_addr(), None);
    let d = Destination::socket_host(SocketProtocol::Tcp, "::1", 22).expect("address");
    assert_eq!(d.to_string(), "tcp://[::1]:22");
}
