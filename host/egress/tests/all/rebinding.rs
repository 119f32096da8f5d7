//! DNS rebinding: the policy resolves once and hands back the addresses it checked; a second
//! (different) answer is never asked for.

use stockade_egress::{DenialCode, Destination, StaticResolver};

use crate::{ANY, fetch, ip, policy};

#[tokio::test]
async fn the_checked_answer_is_the_only_answer() {
    let resolver = StaticResolver::new().with_sequence(
        "rebind.attacker.test",
        [vec![ip("93.184.216.34")], vec![ip("127.0.0.1")]],
    );
    let addresses = fetch(ANY, "http://rebind.attacker.test:8080/", &resolver)
        .await
        .expect("first answer is public");
    assert_eq!(addresses, vec!["93.184.216.34:8080".parse().expect("addr")]);
    assert_eq!(resolver.lookups("rebind.attacker.test"), 1);

    // The attacker's second answer exists: a client that looked up again would get it.
    let dest = Destination::from_url("http://rebind.attacker.test:8080/").expect("url");
    let second = policy(ANY).resolve(&dest, &resolver).await;
    assert_eq!(second.map_err(|d| d.code), Err(DenialCode::AddressDenied));
    assert_eq!(resolver.lookups("rebind.attacker.test"), 2);
}

#[tokio::test]
async fn a_first_private_answer_is_refused() {
    let resolver = StaticResolver::new().with_sequence(
        "rebind.attacker.test",
        [vec![ip("10.0.0.1")], vec![ip("93.184.216.34")]],
    );
    let denial = fetch(ANY, "http://rebind.attacker.test/", &resolver)
        .await
        .expect_err("private");
    assert_eq!(denial.code, DenialCode::AddressDenied);
    assert_eq!(resolver.lookups("rebind.attacker.test"), 1);
}

#[tokio::test]
async fn nothing_is_resolved_for_addresses_or_denied_names() {
    let resolver = StaticResolver::new()
        .with("localhost", [ip("93.184.216.34")])
        .with("127.0.0.1", [ip("93.184.216.34")]);
    let denial = fetch(ANY, "http://localhost/", &resolver)
        .await
        .expect_err("denied");
    assert_eq!(denial.code, DenialCode::NameDenied);
    let denial = fetch(ANY, "http://127.0.0.1/", &resolver)
        .await
        .expect_err("denied");
    assert_eq!(denial.code, DenialCode::AddressDenied);
    let addresses = fetch(ANY, "http://8.8.8.8:8080/", &resolver)
        .await
        .expect("public");
    assert_eq!(addresses, vec!["8.8.8.8:8080".parse().expect("addr")]);
    assert_eq!(
        resolver.lookups("localhost") + resolver.lookups("127.0.0.1"),
        0
    );
}

#[tokio::test]
async fn resolve_failure_carries_the_error() {
    let resolver = StaticResolver::new().with_error("down.test", std::io::ErrorKind::TimedOut);
    let denial = fetch(ANY, "https://down.test/", &resolver)
        .await
        .expect_err("fails");
    assert_eq!(denial.code, DenialCode::ResolveFailed);
    assert_eq!(
        denial.reason,
        "resolving down.test failed: lookup of down.test failed"
    );
}
