//! wasi:sockets: TCP and UDP are off without a `tcp://` / `udp://` rule, a name-only or
//! every-address rule opens no loopback, an explicit address rule does; name lookup is off.

use std::net::UdpSocket;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use stockade_egress::Resolver;
use stockade_runtime::EgressOutcome;

use super::{ALLOWED, Net, WIDE, assert_refused, egress, grants, resolver};

#[tokio::test]
async fn tcp_connect_needs_an_explicit_address_grant() {
    let net = Net::new().await;
    let port = net.port();
    let target = json!({ "addr": format!("127.0.0.1:{port}") });
    let resolver: Arc<dyn Resolver> = Arc::new(resolver());
    let connect = async |rules: &[String]| {
        let egress = egress(rules, resolver.clone());
        let result = net
            .hostile("connect", target.clone(), &grants(&egress))
            .await;
        (result, egress)
    };

    // No tcp rule: wasi:sockets TCP is off, so nothing reaches the policy at all.
    let no_tcp: [(&str, Vec<String>); 2] = [
        ("no grant", Vec::new()),
        ("http rules only", net.reach_server()),
    ];
    for (name, rules) in no_tcp {
        let (result, egress) = connect(&rules).await;
        let err = result.expect_err(name);
        assert_eq!(err.code(), "denied", "{name}: {err}");
        assert!(egress.log.records().is_empty(), "{name}");
    }

    // TCP on, the address judged like any other.
    let refused: [(&str, Vec<String>, &str); 3] = [
        (
            "name-only tcp rule",
            vec!["tcp://*:*".into()],
            "host_not_granted",
        ),
        (
            "every address",
            vec!["tcp://0.0.0.0/0:*".into()],
            "address_denied",
        ),
        (
            "loopback on another port",
            vec![format!(
                "tcp://127.0.0.1/32:{}",
                port.wrapping_add(1).max(1)
            )],
            "port_not_granted",
        ),
    ];
    for (name, rules, code) in refused {
        let (result, egress) = connect(&rules).await;
        let record = assert_refused(name, result, &egress, "egress_denied", code);
        assert_eq!(record.scheme, "tcp");
        assert_eq!(record.address, Some(net.server.addr()));
    }
    assert_eq!(
        net.server.wait_for_connections(1).await,
        0,
        "nothing connected"
    );

    // An explicit rule for the address and port opens it.
    let (result, egress) = connect(&[format!("tcp://127.0.0.1/32:{port}")]).await;
    assert_eq!(result.unwrap(), json!({ "connected": true }));
    let records = egress.log.records();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].outcome, EgressOutcome::Allowed);
    assert_eq!(net.server.wait_for_connections(1).await, 1);
}

#[tokio::test]
async fn name_lookup_is_off_whatever_the_grant() {
    let net = Net::new().await;
    let resolver = Arc::new(resolver());
    for rules in [
        Vec::new(),
        vec!["tcp://*:*".to_owned()],
        WIDE.map(String::from).to_vec(),
    ] {
        let egress = egress(&rules, resolver.clone());
        let result = net
            .hostile("resolve", json!({ "name": ALLOWED }), &grants(&egress))
            .await;
        let err = result.expect_err("resolved a name");
        assert!(
            matches!(err.code(), "denied" | "tool_failed"),
            "{rules:?}: {err}"
        );
        assert!(
            err.to_string().contains(&format!("resolve {ALLOWED}")),
            "{err}"
        );
        assert!(egress.log.records().is_empty());
    }
    assert_eq!(resolver.lookups(ALLOWED), 0);
}

#[tokio::test]
async fn udp_send_needs_an_explicit_address_grant() {
    let net = Net::new().await;
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = receiver.local_addr().unwrap().port();
    let input = json!({ "addr": format!("127.0.0.1:{port}"), "payload": "exfiltrated" });
    let resolver: Arc<dyn Resolver> = Arc::new(resolver());
    let send = async |rules: &[String]| {
        let egress = egress(rules, resolver.clone());
        let result = net
            .hostile("udp_send", input.clone(), &grants(&egress))
            .await;
        (result, egress)
    };

    for (name, rules) in [
        ("no grant", Vec::new()),
        ("http rules only", net.reach_server()),
    ] {
        let (result, egress) = send(&rules).await;
        let err = result.expect_err(name);
        assert_eq!(err.code(), "denied", "{name}: {err}");
        assert!(egress.log.records().is_empty(), "{name}");
    }
    for (name, rules, code) in [
        (
            "name-only udp rule",
            vec!["udp://*:*".to_owned()],
            "host_not_granted",
        ),
        (
            "every address",
            vec!["udp://0.0.0.0/0:*".to_owned()],
            "address_denied",
        ),
    ] {
        let (result, egress) = send(&rules).await;
        assert_refused(name, result, &egress, "egress_denied", code);
    }
    let mut buf = [0u8; 64];
    receiver
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    assert!(receiver.recv(&mut buf).is_err(), "a datagram got out");

    // The control: an explicit rule lets it out, and the receiver sees it.
    let (result, _) = send(&[format!("udp://127.0.0.1/32:{port}")]).await;
    assert_eq!(result.unwrap()["bytes"], 11);
    receiver
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let n = receiver.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"exfiltrated");
}
