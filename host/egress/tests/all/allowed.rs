//! Destinations that must be allowed, and exactly the addresses they resolve to.

use stockade_egress::Resolver;

use crate::{ANY, Answers, fetch, resolver};

/// (case, grant, URL, resolver answers, the socket addresses returned)
type Case = (
    &'static str,
    &'static [&'static str],
    &'static str,
    Answers<'static>,
    &'static [&'static str],
);

#[rustfmt::skip]
const CASES: &[Case] = &[
    ("exact name", &["https://api.allowed.test"], "https://api.allowed.test/v1?q=1",
        &[("api.allowed.test", &["93.184.216.34"])], &["93.184.216.34:443"]),
    ("exact name, canonical spelling", &["https://api.allowed.test"], "HTTPS://API.Allowed.TEST./",
        &[("api.allowed.test", &["93.184.216.34"])], &["93.184.216.34:443"]),
    ("wildcard subdomain", &["https://*.allowed.test"], "https://a.b.allowed.test/",
        &[("a.b.allowed.test", &["93.184.216.34"])], &["93.184.216.34:443"]),
    ("port range", &["http://api.allowed.test:8000-8100"], "http://api.allowed.test:8080/",
        &[("api.allowed.test", &["93.184.216.34"])], &["93.184.216.34:8080"]),
    ("port list", &["https://api.allowed.test:443,8443"], "https://api.allowed.test:8443/",
        &[("api.allowed.test", &["93.184.216.34"])], &["93.184.216.34:8443"]),
    ("any port", &["http://api.allowed.test:*"], "http://api.allowed.test:65535/",
        &[("api.allowed.test", &["93.184.216.34"])], &["93.184.216.34:65535"]),
    ("international name", &["https://bücher.allowed.test"], "https://BÜCHER.allowed.test/",
        &[("xn--bcher-kva.allowed.test", &["93.184.216.34"])], &["93.184.216.34:443"]),
    ("several addresses, in order, once each", ANY, "https://multi.allowed.test/",
        &[("multi.allowed.test", &["8.8.8.8", "2001:4860:4860::8888", "8.8.8.8"])],
        &["8.8.8.8:443", "[2001:4860:4860::8888]:443"]),
    ("ipv6 public by name", &["https://*"], "https://v6.allowed.test/",
        &[("v6.allowed.test", &["2606:4700:4700::1111"])], &["[2606:4700:4700::1111]:443"]),
    ("ipv6 public literal", &["https://[2000::/3]"], "https://[2606:4700:4700::1111]/",
        &[], &["[2606:4700:4700::1111]:443"]),
    ("nat64 of a public address", &["http://[64:ff9b::/96]"], "http://[64:ff9b::808:808]/",
        &[], &["[64:ff9b::808:808]:80"]),
    ("name to nat64 of a public address", &["http://*"], "http://nat64.allowed.test/",
        &[("nat64.allowed.test", &["64:ff9b::5db8:d822"])], &["[64:ff9b::5db8:d822]:80"]),
    ("mapped public ipv4 literal", &["http://8.8.8.8"], "http://[::ffff:8.8.8.8]/",
        &[], &["[::ffff:8.8.8.8]:80"]),
    ("name to mapped public ipv4", &["http://*"], "http://mapped.allowed.test/",
        &[("mapped.allowed.test", &["::ffff:8.8.8.8"])], &["[::ffff:8.8.8.8]:80"]),
    ("public literal under wide cidr", ANY, "http://8.8.8.8:8080/", &[], &["8.8.8.8:8080"]),
    ("loopback opened for a name on one port", &["http://api.allowed.test:8080", "http://127.0.0.1/32:8080"],
        "http://api.allowed.test:8080/", &[("api.allowed.test", &["127.0.0.1"])], &["127.0.0.1:8080"]),
    ("ipv6 loopback opened for a name", &["http://api.allowed.test:8080", "http://[::1]:8080"],
        "http://api.allowed.test:8080/", &[("api.allowed.test", &["::1"])], &["[::1]:8080"]),
    ("private cidr opened for a name", &["https://db.allowed.test", "https://10.0.0.0/8"],
        "https://db.allowed.test/", &[("db.allowed.test", &["10.1.2.3", "10.4.5.6"])],
        &["10.1.2.3:443", "10.4.5.6:443"]),
    ("private literal opened by cidr", &["http://10.0.0.0/8"], "http://10.1.2.3/", &[], &["10.1.2.3:80"]),
    ("mapped private opened by ipv4 cidr", &["http://10.0.0.0/8"], "http://[::ffff:10.1.2.3]/",
        &[], &["[::ffff:10.1.2.3]:80"]),
    ("metadata opened only by naming it", &["http://169.254.169.254"], "http://169.254.169.254/",
        &[], &["169.254.169.254:80"]),
    ("own listener address on another port", &["http://127.0.0.1:8080"], "http://127.0.0.1:8080/",
        &[], &["127.0.0.1:8080"]),
    ("local ip on another port", &["http://*:*"], "http://self.allowed.test:8080/",
        &[("self.allowed.test", &["93.184.215.14"])], &["93.184.215.14:8080"]),
];

#[tokio::test]
async fn allowed_destinations_resolve_to_exactly_their_addresses() {
    let mut failures = Vec::new();
    for &(case, grant, url, answers, expected) in CASES {
        let resolver = resolver(answers);
        let expected: Vec<std::net::SocketAddr> =
            expected.iter().map(|a| a.parse().expect("addr")).collect();
        match fetch(grant, url, &resolver).await {
            Ok(addresses) if addresses == expected => {}
            Ok(addresses) => failures.push(format!("{case}: {addresses:?} != {expected:?}")),
            Err(denial) => failures.push(format!("{case}: {} ({denial})", denial.code)),
        }
        let lookups: usize = answers.iter().map(|(n, _)| resolver.lookups(n)).sum();
        let expected_lookups = usize::from(!answers.is_empty());
        if lookups != expected_lookups {
            failures.push(format!("{case}: {lookups} lookups"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The resolver trait is object safe and its futures are `Send`, so the runtime can hold a
/// `Box<dyn Resolver>` and resolve on any tokio worker.
#[tokio::test]
async fn resolvers_are_object_safe_and_send() {
    fn assert_send<T: Send>(_: &T) {}
    let resolver: Box<dyn Resolver> =
        Box::new(stockade_egress::StaticResolver::new().with("a.test", [crate::ip("8.8.8.8")]));
    let lookup = resolver.lookup("a.test");
    assert_send(&lookup);
    assert_eq!(lookup.await.expect("answer"), vec![crate::ip("8.8.8.8")]);
    let system = stockade_egress::SystemResolver::new();
    let dest = stockade_egress::Destination::from_url("http://8.8.8.8/").expect("url");
    let policy = crate::policy(ANY);
    let future = policy.resolve(&dest, &system);
    assert_send(&future);
    assert_eq!(
        future.await.expect("literal"),
        vec!["8.8.8.8:80".parse().expect("addr")]
    );
}
