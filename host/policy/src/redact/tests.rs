//! Redactor tests. Token-shaped inputs are assembled at run time from [`Fake`] bodies, so the
//! source holds nothing a secret scanner would flag and every case states its length.

mod json;
mod properties;
mod shapes;
mod stored;

use super::*;

/// Deterministic pseudo-random bodies for fake credentials (splitmix64).
struct Fake(u64);

impl Fake {
    const ALNUM: &'static [u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const UPPER: &'static [u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    const HEX: &'static [u8] = b"0123456789abcdef";
    const BASE64: &'static [u8] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+";
    const URL_SAFE: &'static [u8] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const DIGITS: &'static [u8] = b"0123456789";
    const BASE64_STANDARD: &'static [u8] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn string(&mut self, alphabet: &[u8], len: usize) -> String {
        (0..len)
            .map(|_| char::from(alphabet[self.below(alphabet.len())]))
            .collect()
    }
}

fn alnum(seed: u64, len: usize) -> String {
    Fake::new(seed).string(Fake::ALNUM, len)
}

fn upper(seed: u64, len: usize) -> String {
    Fake::new(seed).string(Fake::UPPER, len)
}

fn hex_digits(seed: u64, len: usize) -> String {
    Fake::new(seed).string(Fake::HEX, len)
}

fn base64ish(seed: u64, len: usize) -> String {
    Fake::new(seed).string(Fake::BASE64, len)
}

fn url_safe(seed: u64, len: usize) -> String {
    Fake::new(seed).string(Fake::URL_SAFE, len)
}

fn digits(seed: u64, len: usize) -> String {
    Fake::new(seed).string(Fake::DIGITS, len)
}

/// Every char-aligned window of `len` bytes of `value`.
fn windows(value: &str, len: usize) -> impl Iterator<Item = &str> {
    (0..value.len()).filter_map(move |start| value.get(start..start + len))
}

/// Panics if `text` still holds any 8-byte window of `value`.
fn assert_no_fragment(text: &str, value: &str, context: &str) {
    for window in windows(value, MIN_SECRET_LEN) {
        assert!(
            !text.contains(window),
            "{context}: fragment {window:?} of a secret survived in {text:?}"
        );
    }
}

/// Base64 written out bit by bit, so the tests do not share the encoder they check.
fn base64_of(bytes: &[u8], url_safe: bool, pad: bool) -> String {
    let alphabet = if url_safe {
        Fake::URL_SAFE
    } else {
        Fake::BASE64_STANDARD
    };
    let bits: Vec<bool> = bytes
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| b >> i & 1 == 1))
        .collect();
    let mut out: String = bits
        .chunks(6)
        .map(|chunk| {
            let index = (0..6).fold(0, |acc, i| {
                acc << 1 | usize::from(chunk.get(i) == Some(&true))
            });
            char::from(alphabet[index])
        })
        .collect();
    while pad && !out.len().is_multiple_of(4) {
        out.push('=');
    }
    out
}

fn finding(kind: &'static str, secret: Option<&str>, count: usize) -> Finding {
    Finding {
        kind,
        secret: secret.map(str::to_owned),
        count,
    }
}

#[test]
fn clean_text_is_returned_unchanged() {
    let redactor = Redactor::new().with_secret("db", "correct-horse-battery");
    for text in [
        "",
        "hello",
        "naïve café — 日本語 🔑",
        "[REDACTED:github_token]",
    ] {
        let out = redactor.redact(text);
        assert_eq!(out.text, text);
        assert!(out.is_clean(), "{text:?}: {:?}", out.findings);
    }
}

#[test]
fn kinds_are_the_documented_set() {
    let kinds: Vec<&str> = super::shapes::kinds().collect();
    assert_eq!(
        kinds,
        [
            "aws_access_key",
            "aws_secret_key",
            "github_token",
            "gitlab_token",
            "anthropic_key",
            "openai_key",
            "slack_token",
            "slack_webhook",
            "private_key",
            "stockade_token",
        ]
    );
}

#[test]
fn redactor_is_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Redactor>();
}

#[test]
fn debug_shows_names_not_values() {
    let redactor = Redactor::new()
        .with_secret("db_password", "correct-horse-battery")
        .with_secret("pin", "1234");
    let debug = format!("{redactor:?}");
    assert!(debug.contains("db_password"), "{debug}");
    assert!(!debug.contains("correct-horse"), "{debug}");
    assert!(!debug.contains("1234"), "{debug}");
}

#[test]
fn fails_closed_when_the_rewrite_limit_is_hit() {
    let secret = "glued-secret-value";
    let token = format!("ghp_{}", alnum(1, 36));
    let redactor = Redactor::new().with_secret("glue", secret);
    // The token has no word boundary before it until the secret has become a marker, so this
    // needs two rewrites.
    let text = format!("x {secret}{token} y");
    let out = redactor.redact(&text);
    assert_eq!(
        out.text,
        "x [REDACTED:secret:glue][REDACTED:github_token] y"
    );

    let mut tally = Tally::default();
    let limited = redactor.redact_with_limit(&text, &mut tally, 1);
    assert_eq!(limited.as_deref(), Some("[REDACTED:redaction_failed]"));
    assert_eq!(
        tally.findings.last(),
        Some(&finding(REDACTION_FAILED, None, 1))
    );
    // The failure marker is itself stable.
    assert!(redactor.redact("[REDACTED:redaction_failed]").is_clean());
}

#[test]
fn utf8_boundaries_survive_every_cut() {
    // Secrets and shapes next to multi-byte characters: every output must be valid UTF-8 (it is
    // a String) and keep the surrounding characters whole.
    let redactor = Redactor::new().with_secret("s", "日本語のパスワード");
    let text = "é日本語のパスワード🔑ghp_".to_owned() + &alnum(2, 36) + "é";
    let out = redactor.redact(&text);
    assert_eq!(out.text, "é[REDACTED:secret:s]🔑[REDACTED:github_token]é");
}
