//! The caps refuse with their own codes (not `egress_denied`), each at its boundary.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use stockade_egress::Resolver;
use stockade_runtime::AgentRate;

use super::{ALLOWED, HELLO, Net, assert_refused, egress, resolver};

#[tokio::test]
async fn response_over_the_cap_is_cut_with_its_own_code() {
    let net = Net::new().await;
    let resolver: Arc<dyn Resolver> = Arc::new(resolver());
    let capped = || {
        let mut egress = egress(&net.reach_server(), resolver.clone());
        egress.limits.max_response_bytes = 1024;
        egress
    };
    let at_cap = capped();
    let out = net
        .fetch(json!({ "url": net.url(ALLOWED, "/bytes/1024") }), &at_cap)
        .await
        .unwrap();
    assert_eq!(out["body"].as_str().unwrap().len(), 1024);
    assert_eq!(at_cap.log.records()[0].bytes_received, 1024);

    let over = capped();
    let result = net
        .fetch(json!({ "url": net.url(ALLOWED, "/bytes/1025") }), &over)
        .await;
    let record = assert_refused(
        "1025 bytes",
        result,
        &over,
        "egress_response_too_large",
        "egress_response_too_large",
    );
    assert_eq!(record.address, Some(net.server.addr()), "sent, then cut");
    assert_eq!(net.server.requests().len(), 2);
}

#[tokio::test]
async fn request_body_over_the_cap_is_refused_before_sending() {
    let net = Net::new().await;
    let resolver: Arc<dyn Resolver> = Arc::new(resolver());
    let mut capped = egress(&net.reach_server(), resolver);
    capped.limits.max_request_bytes = 100;
    let input = json!({
        "url": net.url(ALLOWED, "/upload"),
        "method": "POST",
        "body": "y".repeat(101),
    });
    let result = net.fetch(input, &capped).await;
    assert_refused(
        "101 bytes",
        result,
        &capped,
        "egress_request_too_large",
        "egress_request_too_large",
    );
    assert_eq!(net.server.connections(), 0);
}

#[tokio::test]
async fn agent_rate_is_shared_across_calls() {
    let net = Net::new().await;
    let resolver: Arc<dyn Resolver> = Arc::new(resolver());
    let rate = Arc::new(AgentRate::new(2, Duration::from_secs(60)));
    let url = net.url(ALLOWED, "/hello");
    for n in 1..=3 {
        let mut call_egress = egress(&net.reach_server(), resolver.clone());
        call_egress.rate = Some(rate.clone());
        let result = net.fetch(json!({ "url": url }), &call_egress).await;
        if n <= 2 {
            assert_eq!(result.unwrap()["body"], HELLO, "call {n}");
        } else {
            let record = assert_refused(
                "third call",
                result,
                &call_egress,
                "egress_rate_limited",
                "egress_rate_limited",
            );
            assert_eq!(record.address, None);
        }
    }
    assert_eq!(net.server.requests().len(), 2);
}

#[tokio::test]
async fn max_requests_zero_refuses_the_first_request() {
    let net = Net::new().await;
    let mut none_left = egress(&net.reach_server(), Arc::new(resolver()));
    none_left.limits.max_requests = 0;
    let result = net
        .fetch(json!({ "url": net.url(ALLOWED, "/hello") }), &none_left)
        .await;
    assert_refused(
        "max_requests = 0",
        result,
        &none_left,
        "egress_too_many_requests",
        "egress_too_many_requests",
    );
    assert_eq!(net.server.connections(), 0);
}
