//! `stockade:plugin/secrets` through the real hostile guest: a tool reads exactly the secrets
//! its grant lets it read, every read is recorded, a grant naming a secret the manifest does
//! not request is refused before the plugin runs, and every log record passes through the
//! call's scrubber before it reaches the host's log.

use std::sync::{Arc, Mutex};

use serde_json::json;
use stockade_runtime::{LogFilter, LogScrubber, ReadableSecrets, ToolGrants};

use crate::host::{TestHost, call};

const VALUE: &str = "sk-live-9c1d-readable-by-the-granted-tool";

/// Replaces [`VALUE`] and keeps every text it saw, as the server's redactor would.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<String>>,
}

impl LogScrubber for Recorder {
    fn scrub(&self, text: &str) -> Option<String> {
        self.seen.lock().unwrap().push(text.to_owned());
        text.contains(VALUE)
            .then(|| text.replace(VALUE, "[REDACTED:secret:api_token]"))
    }
}

#[tokio::test]
async fn a_tool_reads_only_what_its_grant_names() {
    let host = TestHost::new();
    let bundle = host.hostile().await;
    let readable = ReadableSecrets::none().with("api_token", VALUE.to_owned());
    let grants = ToolGrants::none().with_secrets(readable.clone());

    let out = call(
        &host,
        &bundle,
        "read_secret",
        json!({ "name": "api_token" }),
        &grants,
    )
    .await
    .unwrap();
    let value: serde_json::Value = serde_json::from_str(&out.output).unwrap();
    assert_eq!(value["value"], VALUE);
    assert_eq!(readable.reads(), ["api_token"]);

    // Requested by the manifest, not granted; not requested; no grant at all: the same refusal.
    let cases: &[(&str, &str, &ToolGrants)] = &[
        ("requested, not granted", "signing_key", &grants),
        ("neither requested nor granted", "root_password", &grants),
        ("nothing granted", "api_token", &ToolGrants::none()),
    ];
    for (name, secret, grants) in cases {
        let err = call(
            &host,
            &bundle,
            "read_secret",
            json!({ "name": secret }),
            grants,
        )
        .await
        .expect_err(name);
        assert_eq!(err.code(), "denied", "{name}: {err}");
        assert!(err.to_string().contains("not granted"), "{name}: {err}");
        assert!(!err.to_string().contains(VALUE), "{name}: {err}");
    }
    assert_eq!(
        readable.reads(),
        ["api_token"],
        "refused reads are not reads"
    );
}

#[tokio::test]
async fn a_read_grant_must_be_requested_by_the_manifest() {
    let host = TestHost::new();
    let bundle = host.hostile().await;
    let cases: &[(&str, &str, &str)] = &[
        ("a tool that requests no secrets", "noop", "api_token"),
        (
            "a name the tool does not request",
            "read_secret",
            "root_password",
        ),
    ];
    for (name, tool, secret) in cases {
        let grants = ToolGrants::none()
            .with_secrets(ReadableSecrets::none().with(*secret, VALUE.to_owned()));
        let err = call(&host, &bundle, tool, json!({ "name": secret }), &grants)
            .await
            .expect_err(name);
        assert_eq!(err.code(), "grant_exceeds_request", "{name}: {err}");
    }
}

#[tokio::test]
async fn log_records_pass_through_the_scrubber() {
    let host = TestHost::new();
    let bundle = host.hostile().await;
    let recorder = Arc::new(Recorder::default());
    let grants = ToolGrants::none()
        .with_secrets(ReadableSecrets::none().with("api_token", VALUE.to_owned()))
        .with_log_filter(LogFilter::new(recorder.clone()));
    call(
        &host,
        &bundle,
        "read_secret",
        json!({ "name": "api_token" }),
        &grants,
    )
    .await
    .unwrap();
    let log_only = ToolGrants::none().with_log_filter(LogFilter::new(recorder.clone()));
    call(
        &host,
        &bundle,
        "log",
        json!({ "message": "plain words" }),
        &log_only,
    )
    .await
    .unwrap();
    let seen = recorder.seen.lock().unwrap().clone();
    // The read's message and its `value=` field, then the plain record's message and field.
    assert!(
        seen.iter().filter(|text| text.contains(VALUE)).count() >= 2,
        "the scrubber did not see the leaked value in message and fields: {seen:?}"
    );
    assert!(seen.iter().any(|text| text == "plain words"), "{seen:?}");
}
