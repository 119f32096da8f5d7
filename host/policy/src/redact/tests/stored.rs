//! Stored secrets: found by value, in each spelling a plugin might print.

use super::*;

/// One row: the secrets, the input and the exact expected output.
struct Case {
    name: &'static str,
    secrets: &'static [(&'static str, &'static str)],
    input: String,
    expected: String,
}

fn case(
    name: &'static str,
    secrets: &'static [(&'static str, &'static str)],
    input: impl Into<String>,
    expected: impl Into<String>,
) -> Case {
    Case {
        name,
        secrets,
        input: input.into(),
        expected: expected.into(),
    }
}

const TOKEN: &[(&str, &str)] = &[("api", "tok>>>??key~~1")];
const QUOTED: &[(&str, &str)] = &[("db", r#"pa"ss\word-123"#)];
const URLISH: &[(&str, &str)] = &[("pw", "p@ss w/rd&=1!")];
const UNICODE: &[(&str, &str)] = &[("uni", "pässwörd-日本語🔑")];
const PREFIXED: &[(&str, &str)] = &[("short", "prefixsecret"), ("long", "prefixsecret-extended")];
const CHAINED: &[(&str, &str)] = &[("a", "11112222aaaa"), ("b", "aaaa33334444")];
const NEWLINE: &[(&str, &str)] = &[("file", "hunter2hunter2\n")];
const ESCAPE_LETTER: &[(&str, &str)] = &[("n", "n0tMyPassw0rd")];
const ODD_NAME: &[(&str, &str)] = &[("db password]\n", "correct-horse-battery")];
const MARKER_WORD: &[(&str, &str)] = &[("github_token", "github_token")];

fn cases() -> Vec<Case> {
    #[rustfmt::skip]
    let cases = vec![
        case("plain in prose", TOKEN, "the key is tok>>>??key~~1.", "the key is [REDACTED:secret:api]."),
        case("at start and end", TOKEN, "tok>>>??key~~1 tok>>>??key~~1", "[REDACTED:secret:api] [REDACTED:secret:api]"),
        case("base64 standard padded", TOKEN, "b64=dG9rPj4+Pz9rZXl+fjE=;", "b64=[REDACTED:secret:api];"),
        case("base64 standard unpadded", TOKEN, "b64=dG9rPj4+Pz9rZXl+fjE;", "b64=[REDACTED:secret:api];"),
        case("base64 url-safe padded", TOKEN, "b64=dG9rPj4-Pz9rZXl-fjE=;", "b64=[REDACTED:secret:api];"),
        case("base64 url-safe unpadded", TOKEN, "b64=dG9rPj4-Pz9rZXl-fjE;", "b64=[REDACTED:secret:api];"),
        case("hex", TOKEN, "746f6b3e3e3e3f3f6b65797e7e31", "[REDACTED:secret:api]"),
        case("json-escaped in json text", QUOTED, r#"{"out":"pw=pa\"ss\\word-123!"}"#, r#"{"out":"pw=[REDACTED:secret:db]!"}"#),
        case("json-escaped twice", QUOTED, r#"{"log":"{\"pw\":\"pa\\\"ss\\\\word-123\"}"}"#, r#"{"log":"{\"pw\":\"[REDACTED:secret:db]\"}"}"#),
        case("json with escaped slash", URLISH, r#"{"pw":"p@ss w\/rd&=1!"}"#, r#"{"pw":"[REDACTED:secret:pw]"}"#),
        case("json go html-safe", URLISH, r#"{"pw":"p@ss w/rd\u0026=1!"}"#, r#"{"pw":"[REDACTED:secret:pw]"}"#),
        case("percent strict", URLISH, "?pw=p%40ss%20w%2Frd%26%3D1%21&x=1", "?pw=[REDACTED:secret:pw]&x=1"),
        case("percent lowercase", URLISH, "?pw=p%40ss%20w%2frd%26%3d1%21&x=1", "?pw=[REDACTED:secret:pw]&x=1"),
        case("percent form", URLISH, "pw=p%40ss+w%2Frd%26%3D1%21", "pw=[REDACTED:secret:pw]"),
        case("percent keeping slash", URLISH, "/p%40ss%20w/rd%26%3D1%21/", "/[REDACTED:secret:pw]/"),
        case("unicode raw", UNICODE, "é pässwörd-日本語🔑 é", "é [REDACTED:secret:uni] é"),
        case("unicode as ascii json", UNICODE, r#""p\u00e4ssw\u00f6rd-\u65e5\u672c\u8a9e\ud83d\udd11""#, r#""[REDACTED:secret:uni]""#),
        case("unicode percent-encoded", UNICODE, "p%C3%A4ssw%C3%B6rd-%E6%97%A5%E6%9C%AC%E8%AA%9E%F0%9F%94%91", "[REDACTED:secret:uni]"),
        case("prefix secret alone", PREFIXED, "x prefixsecret y", "x [REDACTED:secret:short] y"),
        case("longer secret wins over its prefix", PREFIXED, "x prefixsecret-extended y", "x [REDACTED:secret:long] y"),
        case("overlapping secrets merge", CHAINED, "x 11112222aaaa33334444 y", "x [REDACTED:secret:a] y"),
        case("value with trailing newline found trimmed", NEWLINE, "pw hunter2hunter2 ok", "pw [REDACTED:secret:file] ok"),
        case("value with trailing newline found whole", NEWLINE, "pw hunter2hunter2\nok", "pw [REDACTED:secret:file]ok"),
        case("backslash before a match is taken in", ESCAPE_LETTER, r#"{"a":"x\n0tMyPassw0rd"}"#, r#"{"a":"x[REDACTED:secret:n]"}"#),
        case("name sanitised in marker", ODD_NAME, "correct-horse-battery", "[REDACTED:secret:db_password__]"),
        case("value equal to a kind name", MARKER_WORD, "got github_token here", "got [REDACTED:secret:github_token] here"),
    ];
    cases
}

#[test]
fn stored_secrets() {
    for case in cases() {
        let redactor = Redactor::new().with_secrets(case.secrets.iter().copied());
        assert!(redactor.refused().is_empty(), "{}", case.name);
        let out = redactor.redact(&case.input);
        assert_eq!(out.text, case.expected, "{}", case.name);
        assert!(!out.is_clean(), "{}", case.name);
        for f in &out.findings {
            assert_eq!(f.kind, STORED_SECRET, "{}", case.name);
        }
        let again = redactor.redact(&out.text);
        assert!(again.is_clean(), "{}: {:?}", case.name, again.findings);
        assert_eq!(again.text, out.text, "{}", case.name);
        if serde_json::from_str::<serde_json::Value>(&case.input).is_ok() {
            serde_json::from_str::<serde_json::Value>(&out.text)
                .unwrap_or_else(|e| panic!("{}: output is no longer JSON: {e}", case.name));
        }
    }
}

#[test]
fn repeated_secret_is_counted() {
    let redactor = Redactor::new()
        .with_secret("api", "tok>>>??key~~1")
        .with_secret("other", "other-secret-value");
    let out =
        redactor.redact("tok>>>??key~~1 other-secret-value tok>>>??key~~1 dG9rPj4+Pz9rZXl+fjE=");
    assert_eq!(
        out.findings,
        [
            finding(STORED_SECRET, Some("api"), 3),
            finding(STORED_SECRET, Some("other"), 1)
        ]
    );
}

#[test]
fn basic_auth_header_at_every_alignment() {
    let secret = "s3cr3t-Passw0rd";
    let redactor = Redactor::new().with_secret("pw", secret);
    for user in ["al", "bob", "carl", "alice", "robert"] {
        let blob = base64_of(format!("{user}:{secret}").as_bytes(), false, true);
        let out = redactor.redact(&format!("Authorization: Basic {blob}"));
        assert_eq!(
            out.findings,
            [finding(STORED_SECRET, Some("pw"), 1)],
            "user {user}"
        );
        // What is left of the blob is the user part and at most two characters that mix the
        // secret's first or last bits with its neighbours.
        let rest = out
            .text
            .trim_start_matches("Authorization: Basic ")
            .replace("[REDACTED:secret:pw]", "");
        let user_chars = (user.len() + 1) * 4 / 3 + 1;
        assert!(rest.len() <= user_chars + 3, "user {user}: {}", out.text);
    }
}

#[test]
fn short_values_are_refused_not_matched() {
    let redactor = Redactor::new()
        .with_secret("pin", "1234")
        .with_secret("padded", "  abc  \n")
        .with_secret("ok", "12345678");
    assert_eq!(
        redactor.refused(),
        [
            RefusedSecret::TooShort {
                name: "pin".into(),
                min: MIN_SECRET_LEN
            },
            RefusedSecret::TooShort {
                name: "padded".into(),
                min: MIN_SECRET_LEN
            },
        ]
    );
    assert_eq!(redactor.refused()[0].code(), "secret_too_short");
    assert_eq!(redactor.refused()[0].name(), "pin");
    assert!(!redactor.refused()[0].to_string().contains("1234"));
    assert_eq!(redactor.secret_names().collect::<Vec<_>>(), ["ok"]);
    let out = redactor.redact("pin 1234, abc, 12345678");
    assert_eq!(out.text, "pin 1234, abc, [REDACTED:secret:ok]");
}

#[test]
fn stored_secret_names_a_shape_it_covers() {
    let token = format!("ghp_{}", alnum(80, 36));
    let redactor = Redactor::new().with_secret("GITHUB_TOKEN", &token);
    let out = redactor.redact(&format!("token={token}"));
    assert_eq!(out.text, "token=[REDACTED:secret:GITHUB_TOKEN]");
    assert_eq!(
        out.findings,
        [finding(STORED_SECRET, Some("GITHUB_TOKEN"), 1)]
    );
}

#[test]
fn binary_values_are_found_encoded() {
    let value = [0xde, 0xad, 0xbe, 0xef, 0x00, 0xff, 0x10, 0x20, 0x30];
    let redactor = Redactor::new().with_secret("bin", value);
    let out = redactor.redact("key=deadbeef00ff102030 b64=3q2+7wD/ECAw");
    assert_eq!(
        out.text,
        "key=[REDACTED:secret:bin] b64=[REDACTED:secret:bin]"
    );
}

#[test]
fn secrets_added_one_by_one_or_in_bulk_agree() {
    let secrets = [("a", "first-secret-1"), ("b", "second-secret-2")];
    let one_by_one = Redactor::new()
        .with_secret("a", "first-secret-1")
        .with_secret("b", "second-secret-2");
    let bulk = Redactor::new().with_secrets(secrets);
    let text = "first-secret-1 and second-secret-2";
    assert_eq!(one_by_one.redact(text), bulk.redact(text));
}
