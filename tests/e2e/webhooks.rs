//! Signed webhooks: HMAC instead of the write token, with timestamp tolerance and replay
//! protection, from loopback and from a non-loopback test host.

use std::time::{SystemTime, UNIX_EPOCH};

use stockade_policy::{WebhookSecret, sign};

use crate::netns::NetnsHost;
use crate::server::{TestServer, request};

const SECRET: &str = "webhook-secret-0123456789abcdef";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn webhooks_need_a_fresh_valid_signature() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("webhook-secret");
    std::fs::write(&secret_file, SECRET).unwrap();
    let config = dir.path().join("stockade.toml");
    std::fs::write(
        &config,
        format!(
            "webhook_secret_file = \"{}\"\ninsecure_public_bind = true\n",
            secret_file.display()
        ),
    )
    .unwrap();
    let host = NetnsHost::new();
    let server = TestServer::start_in(
        tempfile::tempdir().unwrap(),
        "0.0.0.0:0",
        &["--config", config.to_str().unwrap()],
    );
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], server.addr.port()));
    let secret = WebhookSecret::new(SECRET).unwrap();
    let wrong = WebhookSecret::new("another-secret-0123456789abcdef").unwrap();
    let body = r#"{"ci":"build 17 passed"}"#;
    let ts = now();
    let good = sign(&secret, ts, body.as_bytes());
    let ts_text = ts.to_string();
    let old = (ts - 3600).to_string();
    let old_sig = sign(&secret, ts - 3600, body.as_bytes());
    let wrong_sig = sign(&wrong, ts, body.as_bytes());
    let other_body_sig = sign(&secret, ts, b"{}");
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "valid signature",
            vec![
                ("X-Stockade-Timestamp", &ts_text),
                ("X-Stockade-Signature", &good),
            ],
            202,
            "",
        ),
        (
            "the same request again",
            vec![
                ("X-Stockade-Timestamp", &ts_text),
                ("X-Stockade-Signature", &good),
            ],
            409,
            "replayed",
        ),
        ("no headers", vec![], 401, "signature_missing"),
        (
            "empty signature",
            vec![
                ("X-Stockade-Timestamp", &ts_text),
                ("X-Stockade-Signature", ""),
            ],
            401,
            "signature_invalid",
        ),
        (
            "bare prefix",
            vec![
                ("X-Stockade-Timestamp", &ts_text),
                ("X-Stockade-Signature", "sha256="),
            ],
            401,
            "signature_invalid",
        ),
        (
            "wrong secret",
            vec![
                ("X-Stockade-Timestamp", &ts_text),
                ("X-Stockade-Signature", &wrong_sig),
            ],
            401,
            "signature_invalid",
        ),
        (
            "signature of another body",
            vec![
                ("X-Stockade-Timestamp", &ts_text),
                ("X-Stockade-Signature", &other_body_sig),
            ],
            401,
            "signature_invalid",
        ),
        (
            "an hour old",
            vec![
                ("X-Stockade-Timestamp", &old),
                ("X-Stockade-Signature", &old_sig),
            ],
            401,
            "timestamp_out_of_range",
        ),
    ];
    for (name, headers, status, code) in cases {
        let response = request(addr, "POST", "/webhooks/events", &headers, Some(body));
        assert_eq!(response.status, status, "{name}: {}", response.body);
        if !code.is_empty() {
            assert_eq!(response.json()["error"]["code"], code, "{name}");
        }
    }
    // From a non-loopback host, with no write token configured: the signature is what counts.
    let ts2 = now().to_string();
    let body2 = r#"{"ci":"build 18 passed"}"#;
    let sig2 = sign(&secret, ts2.parse().unwrap(), body2.as_bytes());
    let url = format!(
        "http://{}:{}/webhooks/events",
        host.host_ip,
        server.addr.port()
    );
    let (status, body) = host.curl(
        "POST",
        &url,
        &[
            ("X-Stockade-Timestamp", &ts2),
            ("X-Stockade-Signature", &sig2),
        ],
        Some(body2),
    );
    assert_eq!(status, 202, "{body}");
    let (status, _) = host.curl("POST", &url, &[], Some(body2));
    assert_eq!(status, 401);
    // Both accepted webhooks are in the event log.
    let token = server.admin_token();
    let auth = format!("Bearer {token}");
    let events = request(
        addr,
        "GET",
        "/v1/events?kind=webhook",
        &[("Authorization", &auth)],
        None,
    )
    .json();
    assert_eq!(events["events"].as_array().unwrap().len(), 2, "{events}");
}
