//! The shape rules: a realistic positive and near-miss negatives per rule.

use super::*;

/// One row: the input and the exact expected output.
struct Case {
    name: &'static str,
    input: String,
    expected: String,
}

/// `before` + `secret` + `after`, expected as `before` + `[REDACTED:<kind>]` + `after`.
fn redacts(name: &'static str, before: &str, secret: &str, after: &str, kind: &str) -> Case {
    Case {
        name,
        input: format!("{before}{secret}{after}"),
        expected: format!("{before}[REDACTED:{kind}]{after}"),
    }
}

/// `input` must come back unchanged.
fn keeps(name: &'static str, input: impl Into<String>) -> Case {
    let input = input.into();
    Case {
        name,
        expected: input.clone(),
        input,
    }
}

fn pem(label: &str, body: &str) -> String {
    format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----")
}

fn cases() -> Vec<Case> {
    let aws_id = format!("AKIA{}", upper(10, 16));
    let aws_secret = base64ish(11, 40);
    let ghp = format!("ghp_{}", alnum(12, 36));
    let ghs = format!("ghs_{}", alnum(13, 36));
    let pat = format!("github_pat_{}_{}", alnum(14, 22), alnum(15, 59));
    let glpat = format!("glpat-{}", url_safe(16, 20));
    let openai_proj = format!("sk-proj-{}", url_safe(17, 156));
    let openai_legacy = format!("sk-{}", alnum(18, 48));
    let anthropic = format!("sk-ant-api03-{}AA", url_safe(19, 93));
    let xoxb = format!(
        "xoxb-{}-{}-{}",
        digits(20, 12),
        digits(21, 13),
        alnum(22, 24)
    );
    let xoxp = format!(
        "xoxp-{}-{}-{}-{}",
        digits(23, 11),
        digits(24, 11),
        digits(25, 12),
        hex_digits(26, 32)
    );
    let webhook_path = format!("T{}/B{}/{}", upper(27, 10), upper(28, 10), alnum(29, 24));
    let stk = format!("stk_{}_{}", hex_digits(30, 8), hex_digits(31, 64));
    let key_body = format!("{}\n{}", base64ish(32, 64), base64ish(33, 40));

    #[rustfmt::skip]
    let cases = vec![
        // AWS access key ids
        redacts("aws key id in env", "AWS_ACCESS_KEY_ID=", &aws_id, "\n", "aws_access_key"),
        redacts("aws sts key id in json", r#"{"AccessKeyId":""#, &format!("ASIA{}", upper(34, 16)), r#""}"#, "aws_access_key"),
        keeps("aws key id one short", format!("AKIA{}", upper(35, 15))),
        keeps("aws key id one long", format!("AKIA{}", upper(36, 17))),
        keeps("aws key id glued to identifier", format!("xAKIA{}", upper(37, 16))),
        keeps("aws key id lowercase", format!("akia{}", upper(38, 16).to_lowercase())),
        keeps("aws key id wrong prefix", format!("AKIB{}", upper(39, 16))),
        // AWS secret access keys, only when labelled
        redacts("aws secret in credentials file", "aws_secret_access_key = ", &aws_secret, "\n", "aws_secret_key"),
        redacts("aws secret in env", "export AWS_SECRET_ACCESS_KEY=", &aws_secret, "", "aws_secret_key"),
        redacts("aws secret in sts json", r#"{"SecretAccessKey": ""#, &aws_secret, r#"", "x": 1}"#, "aws_secret_key"),
        redacts("aws secret in escaped json", r#""{\"SecretAccessKey\":\""#, &aws_secret, r#"\"}""#, "aws_secret_key"),
        keeps("aws secret unlabelled", format!("digest {aws_secret}")),
        keeps("aws secret 39 chars", format!("aws_secret_access_key={}", base64ish(40, 39))),
        keeps("aws secret 41 chars", format!("aws_secret_access_key={}", base64ish(41, 41))),
        keeps("aws secret label of another setting", format!("aws_secret_access_key_file={aws_secret}")),
        // GitHub
        redacts("github classic token in clone url", "https://", &ghp, "@github.com/o/r.git", "github_token"),
        redacts("github app token in header", "Authorization: token ", &ghs, "", "github_token"),
        redacts("github fine-grained token", "GH_TOKEN=", &pat, "\n", "github_token"),
        keeps("github token 35 chars", format!("ghp_{}", alnum(42, 35))),
        keeps("github wrong prefix", format!("ghx_{}", alnum(43, 36))),
        keeps("github token glued to identifier", format!("xghp_{}", alnum(44, 36))),
        keeps("github fine-grained too short", format!("github_pat_{}", alnum(45, 40))),
        // GitLab
        redacts("gitlab personal token", "PRIVATE-TOKEN: ", &glpat, "", "gitlab_token"),
        redacts("gitlab runner token", "token = \"", &format!("glrt-{}", url_safe(46, 20)), "\"", "gitlab_token"),
        keeps("gitlab token 19 chars", format!("glpat-{}", alnum(47, 19))),
        keeps("gitlab wrong separator", format!("glpat_{}", alnum(48, 20))),
        // OpenAI
        redacts("openai project key", "OPENAI_API_KEY=", &openai_proj, "\n", "openai_key"),
        redacts("openai legacy key", "Bearer ", &openai_legacy, ".", "openai_key"),
        keeps("openai slug is not a key", "pip install sk-learn-compatible-estimator-wrapper"),
        keeps("openai key 19 chars", format!("sk-{}", alnum(49, 19))),
        keeps("openai prefix glued to word", format!("task-{}", alnum(50, 30))),
        // Anthropic
        redacts("anthropic key", "x-api-key: ", &anthropic, "", "anthropic_key"),
        keeps("anthropic key too short", format!("sk-ant-api03-{}", alnum(51, 12))),
        // Slack
        redacts("slack bot token", "SLACK_BOT_TOKEN=", &xoxb, "\n", "slack_token"),
        redacts("slack user token", "token: ", &xoxp, "", "slack_token"),
        redacts("slack webhook", "POST ", &format!("https://hooks.slack.com/services/{webhook_path}"), " ok", "slack_webhook"),
        redacts("slack webhook json-escaped", r#"{"url":""#, &format!(r"https:\/\/hooks.slack.com\/services\/{}", webhook_path.replace('/', r"\/")), r#""}"#, "slack_webhook"),
        keeps("slack token without ids", "xoxb-not-a-real-token-at-all"),
        keeps("slack wrong prefix", format!("xoxz-{}-{}", digits(52, 12), alnum(53, 24))),
        keeps("slack webhook docs placeholder", "https://hooks.slack.com/services/..."),
        // Private keys
        redacts("rsa private key", "key:\n", &pem("RSA PRIVATE KEY", &key_body), "\nend", "private_key"),
        redacts("openssh private key", "", &pem("OPENSSH PRIVATE KEY", &key_body), "\n", "private_key"),
        redacts("encrypted pkcs8 key", "> ", &pem("ENCRYPTED PRIVATE KEY", &key_body), "", "private_key"),
        redacts("pgp private key block", "", &pem("PGP PRIVATE KEY BLOCK", &format!("\n{key_body}")), "", "private_key"),
        redacts("ec key in json text", r#"{"key":""#, &pem("EC PRIVATE KEY", &key_body).replace('\n', r"\n"), r#"\n","n":1}"#, "private_key"),
        redacts("truncated key stops at json string end", r#"{"key":""#, &format!(r"-----BEGIN PRIVATE KEY-----\n{}", base64ish(54, 64)), r#"","n":1}"#, "private_key"),
        redacts("truncated key runs to end of text", "log: ", &format!("-----BEGIN PRIVATE KEY-----\n{}\nmore", base64ish(55, 64)), "", "private_key"),
        keeps("public key block", pem("PUBLIC KEY", &key_body)),
        keeps("certificate", pem("CERTIFICATE", &key_body)),
        keeps("private key in prose", "paste your BEGIN RSA PRIVATE KEY block here"),
        // Stockade API tokens
        redacts("stockade token", "Authorization: Bearer ", &stk, "", "stockade_token"),
        keeps("stockade token 63 hex", format!("stk_{}_{}", hex_digits(56, 8), hex_digits(57, 63))),
        keeps("stockade token uppercase", format!("stk_{}_{}", hex_digits(58, 8), hex_digits(59, 64).to_uppercase())),
        keeps("stockade token glued to identifier", format!("my_stk_{}_{}", hex_digits(60, 8), hex_digits(61, 64))),
        keeps("stockade display prefix", format!("stk_{}", hex_digits(62, 8))),
    ];
    cases
}

#[test]
fn shapes() {
    let redactor = Redactor::new();
    let cases = cases();
    assert!(cases.len() >= 30, "{}", cases.len());
    for case in &cases {
        let out = redactor.redact(&case.input);
        assert_eq!(out.text, case.expected, "{}", case.name);
        let expected_kind = case
            .expected
            .split("[REDACTED:")
            .nth(1)
            .and_then(|rest| rest.split(']').next());
        let kinds: Vec<(&str, Option<&str>, usize)> = out
            .findings
            .iter()
            .map(|f| (f.kind, f.secret.as_deref(), f.count))
            .collect();
        match expected_kind {
            Some(kind) => assert_eq!(kinds, [(kind, None, 1)], "{}", case.name),
            None => assert!(kinds.is_empty(), "{}: {kinds:?}", case.name),
        }
        // Idempotent, and escaped JSON text stays parseable where it was.
        assert!(redactor.redact(&out.text).is_clean(), "{}", case.name);
        if serde_json::from_str::<serde_json::Value>(&case.input).is_ok() {
            serde_json::from_str::<serde_json::Value>(&out.text)
                .unwrap_or_else(|e| panic!("{}: output is no longer JSON: {e}", case.name));
        }
    }
}

#[test]
fn several_shapes_in_one_text() {
    let ghp = format!("ghp_{}", alnum(70, 36));
    let aws = format!("AKIA{}", upper(71, 16));
    let text = format!("a {ghp} b {aws} c {ghp} d");
    let out = Redactor::new().redact(&text);
    assert_eq!(
        out.text,
        "a [REDACTED:github_token] b [REDACTED:aws_access_key] c [REDACTED:github_token] d"
    );
    assert_eq!(
        out.findings,
        [
            finding("github_token", None, 2),
            finding("aws_access_key", None, 1)
        ]
    );
}

#[test]
fn private_key_blocks_are_redacted_separately() {
    let body = base64ish(72, 64);
    let text = format!(
        "{}\nbetween\n{}",
        pem("RSA PRIVATE KEY", &body),
        pem("EC PRIVATE KEY", &body)
    );
    let out = Redactor::new().redact(&text);
    assert_eq!(
        out.text,
        "[REDACTED:private_key]\nbetween\n[REDACTED:private_key]"
    );
}
