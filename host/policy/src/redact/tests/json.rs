//! JSON values: strings, keys and numbers anywhere in the tree.

use serde_json::{Value, json};

use super::*;

fn redactor() -> Redactor {
    Redactor::new()
        .with_secret("db", r#"pa"ss\word-123"#)
        .with_secret("pin", "98765432101")
}

#[test]
fn secret_spread_across_the_tree() {
    let aws = format!("AKIA{}", upper(90, 16));
    let input = json!({
        "pa\"ss\\word-123": "as a key",
        "list": [1, "x pa\"ss\\word-123 y", {"deep": {"deeper": ["pa\"ss\\word-123"]}}],
        "account": 98765432101u64,
        "other": 98765432100u64,
        "ok": true,
        "nothing": null,
        "aws": aws,
        "nested_json": "{\"password\":\"pa\\\"ss\\\\word-123\"}",
    });
    let out = redactor().redact_json(&input);
    assert_eq!(
        out.value,
        json!({
            "[REDACTED:secret:db]": "as a key",
            "list": [1, "x [REDACTED:secret:db] y", {"deep": {"deeper": ["[REDACTED:secret:db]"]}}],
            "account": "[REDACTED:secret:pin]",
            "other": 98765432100u64,
            "ok": true,
            "nothing": null,
            "aws": "[REDACTED:aws_access_key]",
            "nested_json": "{\"password\":\"[REDACTED:secret:db]\"}",
        })
    );
    let mut findings = out.findings.clone();
    findings.sort_by(|a, b| (a.kind, &a.secret).cmp(&(b.kind, &b.secret)));
    assert_eq!(
        findings,
        [
            finding("aws_access_key", None, 1),
            finding(STORED_SECRET, Some("db"), 4),
            finding(STORED_SECRET, Some("pin"), 1),
        ]
    );
    assert!(redactor().redact_json(&out.value).is_clean());
}

#[test]
fn colliding_keys_are_all_kept() {
    let a = format!("AKIA{}", upper(91, 16));
    let b = format!("AKIA{}", upper(92, 16));
    let c = format!("AKIA{}", upper(93, 16));
    let mut input = serde_json::Map::new();
    input.insert(a, json!(1));
    input.insert(b, json!(2));
    input.insert(c, json!(3));
    // A clean key that happens to look like a renamed one keeps its exact name.
    input.insert("[REDACTED:aws_access_key] (2)".into(), json!("clean"));
    let out = Redactor::new().redact_json(&Value::Object(input));
    let map = out.value.as_object().expect("object");
    assert_eq!(map.len(), 4, "{map:?}");
    assert_eq!(map["[REDACTED:aws_access_key] (2)"], json!("clean"));
    let mut values: Vec<i64> = map.values().filter_map(Value::as_i64).collect();
    values.sort_unstable();
    assert_eq!(values, [1, 2, 3]);
    assert!(map.contains_key("[REDACTED:aws_access_key]"));
    assert!(map.contains_key("[REDACTED:aws_access_key] (3)"));
    assert!(map.contains_key("[REDACTED:aws_access_key] (4)"));
    assert_eq!(out.findings, [finding("aws_access_key", None, 3)]);
    assert!(Redactor::new().redact_json(&out.value).is_clean());
}

#[test]
fn clean_values_are_unchanged() {
    let input = json!({"a": [1, 2.5, -3, "text", {"b": null}], "c": false});
    let out = redactor().redact_json(&input);
    assert_eq!(out.value, input);
    assert!(out.is_clean());
}
