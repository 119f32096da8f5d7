//! Limit hits end the call with a stable code, and the runtime keeps serving.

use std::time::{Duration, Instant};

use serde_json::json;
use stockade_registry_types::LimitOverrides;
use stockade_runtime::ToolGrants;

use crate::host::{TestHost, call, call_with};

fn deadline(ms: u64) -> LimitOverrides {
    LimitOverrides {
        deadline_ms: Some(ms),
        ..LimitOverrides::default()
    }
}

#[tokio::test]
async fn each_limit_hit_has_its_code_and_the_next_call_works() {
    let host = TestHost::new();
    let bundle = host.hostile().await;
    let none = ToolGrants::none();
    let cases: Vec<(&str, &str, serde_json::Value, LimitOverrides, &str)> = vec![
        (
            "infinite loop",
            "spin",
            json!({}),
            deadline(300),
            "deadline_exceeded",
        ),
        (
            "memory bomb",
            "alloc",
            json!({ "mib": 512 }),
            LimitOverrides::default(),
            "memory_limit",
        ),
        (
            "fallible memory bomb",
            "try_alloc",
            json!({ "mib": 512 }),
            LimitOverrides::default(),
            "memory_limit",
        ),
        (
            "memory bomb under a raised cap",
            "alloc",
            json!({ "mib": 100 }),
            LimitOverrides {
                memory_mib: Some(80),
                ..LimitOverrides::default()
            },
            "memory_limit",
        ),
        (
            "deep recursion",
            "recurse",
            json!({ "depth": 10_000_000 }),
            LimitOverrides::default(),
            "plugin_trapped",
        ),
        (
            "oversized output",
            "big_output",
            json!({ "bytes": 2 << 20 }),
            LimitOverrides::default(),
            "output_too_large",
        ),
        (
            "output over a lowered cap",
            "big_output",
            json!({ "bytes": 8 << 10 }),
            LimitOverrides {
                output_kib: Some(4),
                ..LimitOverrides::default()
            },
            "output_too_large",
        ),
        (
            "unknown tool",
            "no_such_tool",
            json!({}),
            LimitOverrides::default(),
            "unknown_tool",
        ),
        (
            "memory cap above the runtime maximum",
            "noop",
            json!({}),
            LimitOverrides {
                memory_mib: Some(4096),
                ..LimitOverrides::default()
            },
            "limit_out_of_range",
        ),
    ];
    for (name, tool, input, overrides, code) in cases {
        let err = call_with(&host, &bundle, tool, input, &none, overrides)
            .await
            .expect_err(name);
        assert_eq!(err.code(), code, "{name}: {err}");
        let after = call(&host, &bundle, "noop", json!({}), &none).await;
        assert!(after.is_ok(), "{name}: the next call failed: {after:?}");
    }
}

#[tokio::test]
async fn within_limits_the_same_tools_succeed() {
    let host = TestHost::new();
    let bundle = host.hostile().await;
    let none = ToolGrants::none();
    let cases = [
        ("allocation under the cap", "alloc", json!({ "mib": 16 })),
        ("shallow recursion", "recurse", json!({ "depth": 100 })),
        (
            "output under the cap",
            "big_output",
            json!({ "bytes": 512 << 10 }),
        ),
        (
            "logging",
            "log",
            json!({ "message": "hello from a plugin" }),
        ),
    ];
    for (name, tool, input) in cases {
        let result = call(&host, &bundle, tool, input, &none).await;
        assert!(result.is_ok(), "{name}: {result:?}");
    }
}

#[tokio::test]
async fn an_infinite_loop_ends_within_deadline_plus_100ms() {
    let host = TestHost::new();
    let bundle = host.hostile().await;
    for ms in [200, 500] {
        let started = Instant::now();
        let err = call_with(
            &host,
            &bundle,
            "spin",
            json!({}),
            &ToolGrants::none(),
            deadline(ms),
        )
        .await
        .expect_err("spin returned");
        let took = started.elapsed();
        assert_eq!(err.code(), "deadline_exceeded");
        assert!(took >= Duration::from_millis(ms), "stopped early: {took:?}");
        assert!(
            took <= Duration::from_millis(ms + 100),
            "deadline {ms} ms, took {took:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_spinning_guest_does_not_starve_other_calls() {
    // One worker thread: if the spinning guest held it, the noop call could not run until the
    // deadline. The epoch callback yields to the executor every tick.
    let host = TestHost::new();
    let bundle = host.hostile().await;
    let none = ToolGrants::none();
    let spin = call_with(&host, &bundle, "spin", json!({}), &none, deadline(2_000));
    let noop = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        call(&host, &bundle, "noop", json!({}), &none).await
    };
    tokio::pin!(spin);
    tokio::select! {
        result = &mut spin => panic!("spin finished first: {result:?}"),
        result = noop => assert!(result.is_ok(), "{result:?}"),
    }
}
