use http::header::{HeaderName, HeaderValue};

use super::*;

const SECRET: &[u8] = b"webhook-secret-0123456789";
const NOW: u64 = 1_767_225_600;
const BODY: &[u8] = br#"{"event":"push","ref":"main"}"#;

fn secret() -> WebhookSecret {
    WebhookSecret::new(SECRET).expect("valid secret")
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// Header name/value pairs of a table row.
type Headers<'a> = Vec<(&'a str, &'a [u8])>;

fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_bytes(value).expect("value"),
        );
    }
    map
}

/// A request as a sender would build it: (timestamp header, signature header, body).
struct Request {
    timestamp: String,
    signature: String,
    body: Vec<u8>,
}

fn signed(timestamp: u64, body: &[u8]) -> Request {
    Request {
        timestamp: timestamp.to_string(),
        signature: sign(&secret(), timestamp, body),
        body: body.to_vec(),
    }
}

fn code(result: Result<(), WebhookError>) -> &'static str {
    match result {
        Ok(()) => "ok",
        Err(e) => e.code(),
    }
}

#[test]
fn hostile_requests() {
    let good = signed(NOW, BODY);
    let wrong_secret = sign(
        &WebhookSecret::new(b"another-secret-0123456789").expect("valid"),
        NOW,
        BODY,
    );
    let other_body = sign(&secret(), NOW, b"{}");
    let hex_of_good = &good.signature["sha256=".len()..];
    #[rustfmt::skip]
    let cases: Vec<(&str, Request, &str)> = vec![
        ("valid", signed(NOW, BODY), "ok"),
        ("valid empty body", signed(NOW, b""), "ok"),
        ("uppercase hex is fine", Request { signature: format!("sha256={}", hex_of_good.to_uppercase()), ..signed(NOW, BODY) }, "ok"),
        ("timestamp at the past edge", signed(NOW - 300, BODY), "ok"),
        ("timestamp at the future edge", signed(NOW + 300, BODY), "ok"),
        ("empty signature", Request { signature: String::new(), ..signed(NOW, BODY) }, "signature_invalid"),
        ("prefix only", Request { signature: "sha256=".into(), ..signed(NOW, BODY) }, "signature_invalid"),
        ("truncated signature", Request { signature: good.signature[..good.signature.len() - 2].to_string(), ..signed(NOW, BODY) }, "signature_invalid"),
        ("one hex digit short", Request { signature: good.signature[..good.signature.len() - 1].to_string(), ..signed(NOW, BODY) }, "signature_invalid"),
        ("signature with extra bytes", Request { signature: format!("{}00", good.signature), ..signed(NOW, BODY) }, "signature_invalid"),
        ("non-hex signature", Request { signature: format!("sha256={}", "zz".repeat(32)), ..signed(NOW, BODY) }, "signature_invalid"),
        ("no prefix", Request { signature: hex_of_good.to_string(), ..signed(NOW, BODY) }, "signature_invalid"),
        ("other algorithm prefix", Request { signature: format!("sha1={hex_of_good}"), ..signed(NOW, BODY) }, "signature_invalid"),
        ("uppercase prefix", Request { signature: format!("SHA256={hex_of_good}"), ..signed(NOW, BODY) }, "signature_invalid"),
        ("space after prefix", Request { signature: format!("sha256= {hex_of_good}"), ..signed(NOW, BODY) }, "signature_invalid"),
        ("two signatures in one header", Request { signature: format!("{}, {}", good.signature, good.signature), ..signed(NOW, BODY) }, "signature_invalid"),
        ("all-zero signature", Request { signature: format!("sha256={}", "0".repeat(64)), ..signed(NOW, BODY) }, "signature_invalid"),
        ("wrong secret", Request { signature: wrong_secret, ..signed(NOW, BODY) }, "signature_invalid"),
        ("body altered", Request { body: br#"{"event":"push","ref":"evil"}"#.to_vec(), ..signed(NOW, BODY) }, "signature_invalid"),
        ("body extended", Request { body: [BODY, b" "].concat(), ..signed(NOW, BODY) }, "signature_invalid"),
        ("signature for another body", Request { signature: other_body, ..signed(NOW, BODY) }, "signature_invalid"),
        ("timestamp altered within tolerance", Request { timestamp: (NOW + 1).to_string(), ..signed(NOW, BODY) }, "signature_invalid"),
        ("timestamp with leading zero", Request { timestamp: format!("0{NOW}"), ..signed(NOW, BODY) }, "signature_invalid"),
        ("timestamp with plus sign", Request { timestamp: format!("+{NOW}"), ..signed(NOW, BODY) }, "signature_invalid"),
        ("negative timestamp", Request { timestamp: "-1".into(), ..signed(NOW, BODY) }, "signature_invalid"),
        ("fractional timestamp", Request { timestamp: format!("{NOW}.0"), ..signed(NOW, BODY) }, "signature_invalid"),
        ("timestamp in milliseconds", signed(NOW * 1000, BODY), "timestamp_out_of_range"),
        ("huge timestamp", Request { timestamp: "99999999999999999999".into(), ..signed(NOW, BODY) }, "signature_invalid"),
        ("empty timestamp", Request { timestamp: String::new(), ..signed(NOW, BODY) }, "signature_invalid"),
        ("old timestamp", signed(NOW - 301, BODY), "timestamp_out_of_range"),
        ("very old timestamp", signed(0, BODY), "timestamp_out_of_range"),
        ("future timestamp", signed(NOW + 301, BODY), "timestamp_out_of_range"),
    ];
    for (case, request, expected) in cases {
        // A fresh verifier per row, so the replay cache does not decide the outcome.
        let verifier = WebhookVerifier::new();
        let h = headers(&[
            (TIMESTAMP_HEADER, request.timestamp.as_bytes()),
            (SIGNATURE_HEADER, request.signature.as_bytes()),
        ]);
        assert_eq!(
            code(verifier.verify(&secret(), &h, &request.body, at(NOW))),
            expected,
            "{case}"
        );
    }
}

#[test]
fn header_problems() {
    let good = signed(NOW, BODY);
    let ts = good.timestamp.as_bytes();
    let sig = good.signature.as_bytes();
    #[rustfmt::skip]
    let cases: &[(&str, Headers, &str)] = &[
        ("no headers", vec![], "signature_missing"),
        ("no signature", vec![(TIMESTAMP_HEADER, ts)], "signature_missing"),
        ("no timestamp", vec![(SIGNATURE_HEADER, sig)], "signature_missing"),
        ("signature under another name", vec![(TIMESTAMP_HEADER, ts), ("x-hub-signature-256", sig)], "signature_missing"),
        ("header names are case-insensitive", vec![("X-Stockade-Timestamp", ts), ("X-Stockade-Signature", sig)], "ok"),
        ("repeated signature header", vec![(TIMESTAMP_HEADER, ts), (SIGNATURE_HEADER, sig), (SIGNATURE_HEADER, sig)], "signature_invalid"),
        ("repeated timestamp header", vec![(TIMESTAMP_HEADER, ts), (TIMESTAMP_HEADER, ts), (SIGNATURE_HEADER, sig)], "signature_invalid"),
        ("non-ascii signature", vec![(TIMESTAMP_HEADER, ts), (SIGNATURE_HEADER, b"sha256=\xff")], "signature_invalid"),
    ];
    for (case, pairs, expected) in cases {
        let verifier = WebhookVerifier::new();
        assert_eq!(
            code(verifier.verify(&secret(), &headers(pairs), BODY, at(NOW))),
            *expected,
            "{case}"
        );
    }
}

fn send(verifier: &WebhookVerifier, request: &Request, now: u64) -> &'static str {
    let h = headers(&[
        (TIMESTAMP_HEADER, request.timestamp.as_bytes()),
        (SIGNATURE_HEADER, request.signature.as_bytes()),
    ]);
    code(verifier.verify(&secret(), &h, &request.body, at(now)))
}

#[test]
fn replays_are_refused() {
    let verifier = WebhookVerifier::new();
    let request = signed(NOW, BODY);
    assert_eq!(send(&verifier, &request, NOW), "ok");
    assert_eq!(send(&verifier, &request, NOW), "replayed");
    assert_eq!(send(&verifier, &request, NOW + 300), "replayed");
    // Once out of tolerance it is refused for its age, and forgotten.
    assert_eq!(
        send(&verifier, &request, NOW + 301),
        "timestamp_out_of_range"
    );
    // Same body at another second, or another body at the same second, is a new message.
    assert_eq!(send(&verifier, &signed(NOW + 1, BODY), NOW), "ok");
    assert_eq!(send(&verifier, &signed(NOW, b"{}"), NOW), "ok");
    // Replay with uppercase hex is still the same MAC.
    let upper = Request {
        signature: request
            .signature
            .to_uppercase()
            .replace("SHA256=", "sha256="),
        ..signed(NOW, BODY)
    };
    let verifier = WebhookVerifier::new();
    assert_eq!(send(&verifier, &request, NOW), "ok");
    assert_eq!(send(&verifier, &upper, NOW), "replayed");
    assert_eq!(WebhookError::Replayed.status(), 409);
}

#[test]
fn failed_verifications_are_not_remembered() {
    let verifier = WebhookVerifier::new();
    let request = signed(NOW, BODY);
    let tampered = Request {
        body: b"x".to_vec(),
        ..signed(NOW, BODY)
    };
    assert_eq!(send(&verifier, &tampered, NOW), "signature_invalid");
    // An early delivery (sender clock ahead) is refused and does not poison the real one.
    assert_eq!(
        send(&verifier, &request, NOW - 301),
        "timestamp_out_of_range"
    );
    assert_eq!(send(&verifier, &request, NOW), "ok");
}

#[test]
fn replay_cache_is_bounded_and_fails_closed() {
    let verifier = WebhookVerifier::with_limits(DEFAULT_TOLERANCE, 3);
    for i in 0..3 {
        assert_eq!(
            send(&verifier, &signed(NOW, format!("{i}").as_bytes()), NOW),
            "ok"
        );
    }
    let fourth = signed(NOW, b"3");
    assert_eq!(send(&verifier, &fourth, NOW), "replay_cache_full");
    assert_eq!(WebhookError::ReplayCacheFull.status(), 503);
    // A replay is still recognised as one while full.
    assert_eq!(send(&verifier, &signed(NOW, b"0"), NOW), "replayed");
    // After the old entries age out there is room again.
    let later = signed(NOW + 301, b"3");
    assert_eq!(send(&verifier, &later, NOW + 301), "ok");
    assert_eq!(verifier.replay.lock().expect("lock").len(), 1);
}

#[test]
fn secrets() {
    assert_eq!(
        WebhookSecret::new(b"short")
            .map(|_| ())
            .map_err(|e| e.code()),
        Err("webhook_secret_too_short")
    );
    assert_eq!(
        WebhookSecret::new(b"").map(|_| ()).map_err(|e| e.code()),
        Err("webhook_secret_too_short")
    );
    let debug = format!("{:?} {:?}", secret(), WebhookVerifier::new());
    assert!(!debug.contains("webhook-secret"), "{debug}");
    assert!(debug.contains("redacted"), "{debug}");
}

#[test]
fn signature_format() {
    let sig = sign(&secret(), NOW, BODY);
    assert!(sig.starts_with("sha256="));
    assert_eq!(sig.len(), "sha256=".len() + 64);
    assert!(
        sig["sha256=".len()..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    // Known answer: HMAC-SHA256(key, "{ts}.{body}") computed independently of `sign`.
    let mut mac = HmacSha256::new_from_slice(SECRET).expect("key");
    mac.update(format!("{NOW}.").as_bytes());
    mac.update(BODY);
    assert_eq!(
        sig,
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    );
}

#[test]
fn status_codes() {
    for (err, status, code) in [
        (
            WebhookError::MissingHeader {
                header: SIGNATURE_HEADER,
            },
            401,
            "signature_missing",
        ),
        (WebhookError::Mismatch, 401, "signature_invalid"),
        (
            WebhookError::TimestampOutOfRange {
                skew_secs: 301,
                tolerance_secs: 300,
            },
            401,
            "timestamp_out_of_range",
        ),
        (WebhookError::Replayed, 409, "replayed"),
    ] {
        assert_eq!((err.status(), err.code()), (status, code), "{err}");
    }
}
