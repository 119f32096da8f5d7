//! Property-style checks over pseudo-random inputs: no panic, idempotence, every embedded secret
//! gone, no value in the findings.

use serde_json::json;

use super::*;

const SECRETS: &[(&str, &str)] = &[
    ("alpha", "Zq8vL2mW-alpha-9x"),
    ("beta", r#"b"eta\sec/ret+42"#),
    ("gamma", "γάμμα-секрет-🔑"),
    // Overlaps itself: two occurrences can share text.
    ("delta", "delta-delta-delta"),
    // A prefix of alpha.
    ("prefix", "Zq8vL2mW-al"),
];

/// Text that stresses the scanner: escapes, marker pieces, shape prefixes, multi-byte and
/// combining characters.
const NOISE: &[&str] = &[
    "a",
    "Z",
    "0",
    "9",
    " ",
    "\n",
    "\t",
    "\\",
    "\"",
    "/",
    "+",
    "=",
    "-",
    "_",
    ".",
    ":",
    "[",
    "]",
    "{",
    "}",
    "é",
    "日本",
    "🔑",
    "\u{301}",
    "\u{2028}",
    "ghp_",
    "AKIA",
    "xoxb-1-",
    "sk-",
    "sk-ant-",
    "stk_",
    "glpat-",
    "-----BEGIN RSA PRIVATE KEY-----",
    "-----END RSA PRIVATE KEY-----",
    "[REDACTED:",
    "[REDACTED:secret:alpha]",
    "[REDACTED:github_token]",
    "]Zq8v",
    "hooks.slack.com/services/",
    "aws_secret_access_key=",
    "%2F",
    "\\u00e9",
    "==",
];

/// How a secret is embedded.
fn spell(value: &str, how: usize) -> String {
    match how {
        0 => value.to_owned(),
        1 => {
            let quoted = serde_json::to_string(value).unwrap_or_default();
            quoted[1..quoted.len() - 1].to_owned()
        }
        2 => base64_of(value.as_bytes(), false, true),
        3 => base64_of(value.as_bytes(), false, false),
        4 => base64_of(value.as_bytes(), true, true),
        5 => base64_of(value.as_bytes(), true, false),
        _ => value
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect(),
    }
}

/// A random input and the spellings of secrets embedded in it.
fn input(rng: &mut Fake) -> (String, Vec<(usize, String)>) {
    let mut text = String::new();
    let mut embedded = Vec::new();
    for _ in 0..rng.below(40) {
        match rng.below(10) {
            0 => {
                let secret = rng.below(SECRETS.len());
                let spelling = spell(SECRETS[secret].1, rng.below(7));
                text.push_str(&spelling);
                embedded.push((secret, spelling));
            }
            1 => {
                let len = rng.below(50);
                text.push_str(&rng.string(Fake::ALNUM, len));
            }
            2 => {
                let c = char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('\u{fffd}');
                text.push(c);
            }
            _ => text.push_str(NOISE[rng.below(NOISE.len())]),
        }
    }
    (text, embedded)
}

#[test]
fn random_inputs() {
    let redactor = Redactor::new().with_secrets(SECRETS.iter().copied());
    let mut rng = Fake::new(0x5eed);
    let mut embedded_total = 0;
    for round in 0..3000 {
        let (text, embedded) = input(&mut rng);
        let out = redactor.redact(&text);
        let context = format!("round {round}, input {text:?}");

        for (secret, spelling) in &embedded {
            assert!(!out.text.contains(spelling.as_str()), "{context}");
            assert_no_fragment(&out.text, spelling, &context);
            assert_no_fragment(&out.text, SECRETS[*secret].1, &context);
        }
        if !embedded.is_empty() {
            assert!(
                out.findings.iter().any(|f| f.kind == STORED_SECRET),
                "{context}"
            );
        }
        embedded_total += embedded.len();

        assert!(
            out.findings.iter().all(|f| f.kind != REDACTION_FAILED),
            "{context}: {:?}",
            out.findings
        );
        let again = redactor.redact(&out.text);
        assert_eq!(again.text, out.text, "{context}");
        assert!(again.is_clean(), "{context}: {:?}", again.findings);

        let serialized = serde_json::to_string(&out.findings).unwrap_or_default();
        for (name, value) in SECRETS {
            assert_no_fragment(&serialized, value, &context);
            for f in &out.findings {
                if let Some(secret) = &f.secret {
                    assert!(SECRETS.iter().any(|(n, _)| n == secret), "{context}");
                    assert_ne!(secret, value, "{context} ({name})");
                }
            }
        }

        // The same text as a JSON key and value.
        let tree = redactor.redact_json(&json!({ "out": [text.clone()], text.clone(): 1 }));
        let mut strings: Vec<&str> = tree.value["out"][0].as_str().into_iter().collect();
        if let Some(map) = tree.value.as_object() {
            strings.extend(map.keys().map(String::as_str));
        }
        assert_eq!(strings.len(), 3, "{context}");
        for (secret, _) in &embedded {
            for string in &strings {
                assert_no_fragment(string, SECRETS[*secret].1, &context);
            }
        }
        assert!(redactor.redact_json(&tree.value).is_clean(), "{context}");
    }
    assert!(embedded_total > 1000, "{embedded_total}");
}

#[test]
fn random_bytes_never_panic() {
    // Arbitrary UTF-8, unrelated to any secret or shape: only termination and idempotence.
    let redactor = Redactor::new().with_secrets(SECRETS.iter().copied());
    let mut rng = Fake::new(7);
    for _ in 0..2000 {
        let len = rng.below(200);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let text = String::from_utf8_lossy(&bytes);
        let out = redactor.redact(&text);
        assert_eq!(redactor.redact(&out.text).text, out.text);
    }
}
