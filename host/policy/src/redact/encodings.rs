//! The spellings of a stored secret that a plugin might echo.
//!
//! A plugin rarely prints a credential bare: it serialises it into JSON, puts it in a URL or an
//! `Authorization: Basic` header, or dumps bytes. Matching only the raw value would let all of
//! those through, so every stored value is searched for in each of these spellings:
//!
//! - **raw** (when the value is UTF-8);
//! - **JSON string escaping** in every combination of three dialect switches — `\uXXXX` for
//!   non-ASCII (Python's default), `\u003c`-style escapes of `<`, `>`, `&`, U+2028 and U+2029
//!   (Go's default), `\/` for `/` (PHP's default) — plus the value escaped twice (JSON inside a
//!   JSON string, as in a logged request body);
//! - **base64**, standard and URL-safe alphabets, padded and unpadded; and for each alphabet the
//!   three *alignment cores*: the characters that encode only the value's bits when it sits at
//!   byte offset 0, 1 or 2 (mod 3) inside a longer encoded blob, so `base64("user:" + secret)`
//!   in a Basic header is caught. At most the 1–2 characters at each end that mix in neighbouring
//!   bytes survive, and those carry under 12 bits of the value;
//! - **percent-encoding** (UTF-8 bytes): RFC 3986 strict (only unreserved kept) with upper- and
//!   lowercase hex, form encoding (space as `+`), `/` kept (Python's `quote`), and
//!   `encodeURIComponent` (also keeps `!'()*`);
//! - **hex** of the bytes, lower- and uppercase.
//!
//! Spellings equal to one already listed are dropped, so a plain alphanumeric value costs the
//! raw form, the base64 family and hex: about fifteen patterns.

/// Every spelling of `value` to search for, without duplicates, raw first.
pub(super) fn spellings(value: &[u8]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |spelling: String| {
        if !spelling.is_empty() && !out.contains(&spelling) {
            out.push(spelling);
        }
    };
    if let Ok(text) = std::str::from_utf8(value) {
        add(text.to_owned());
        for dialect in JsonDialect::ALL {
            add(json_escape(text, dialect));
        }
        add(json_escape(
            &json_escape(text, JsonDialect::MINIMAL),
            JsonDialect::MINIMAL,
        ));
    }
    for alphabet in [BASE64_STANDARD, BASE64_URL_SAFE] {
        let padded = base64(value, alphabet, true);
        add(padded.trim_end_matches('=').to_owned());
        add(padded);
        for offset in 0..3 {
            add(base64_core(value, offset, alphabet));
        }
    }
    for style in PERCENT_STYLES {
        add(percent_encode(value, style));
    }
    add(hex::encode(value));
    add(hex::encode_upper(value));
    out
}

/// Which optional escapes a JSON encoder applies; the mandatory ones (`"`, `\`, control
/// characters) are always applied.
#[derive(Debug, Clone, Copy)]
struct JsonDialect {
    /// Non-ASCII as `\uXXXX` (UTF-16 units, lowercase hex), like Python's `ensure_ascii`.
    ascii_only: bool,
    /// `<`, `>`, `&`, U+2028, U+2029 as `\u` escapes, like Go's `encoding/json`.
    html_safe: bool,
    /// `/` as `\/`, like PHP's `json_encode`.
    escape_slash: bool,
}

impl JsonDialect {
    /// serde_json, JavaScript's `JSON.stringify`.
    const MINIMAL: Self = Self {
        ascii_only: false,
        html_safe: false,
        escape_slash: false,
    };

    /// All eight combinations of the switches.
    const ALL: [Self; 8] = {
        let mut all = [Self::MINIMAL; 8];
        let mut i = 0;
        while i < 8 {
            all[i] = Self {
                ascii_only: i & 1 != 0,
                html_safe: i & 2 != 0,
                escape_slash: i & 4 != 0,
            };
            i += 1;
        }
        all
    };
}

/// `text` as it appears between the quotes of a JSON string written in `dialect`.
fn json_escape(text: &str, dialect: JsonDialect) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '/' if dialect.escape_slash => out.push_str("\\/"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' if dialect.html_safe => {
                push_u_escape(&mut out, c)
            }
            c if c < ' ' => push_u_escape(&mut out, c),
            c if dialect.ascii_only && !c.is_ascii() => push_u_escape(&mut out, c),
            c => out.push(c),
        }
    }
    out
}

/// `c` as one or two (surrogate pair) `\uXXXX` escapes.
fn push_u_escape(out: &mut String, c: char) {
    let mut units = [0u16; 2];
    for unit in c.encode_utf16(&mut units) {
        out.push_str(&format!("\\u{unit:04x}"));
    }
}

const BASE64_STANDARD: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BASE64_URL_SAFE: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// RFC 4648 base64 of `bytes` in `alphabet`, with `=` padding if `pad`. Written out here because
/// the redactor only ever encodes, a few bytes per stored secret.
fn base64(bytes: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let group = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        // A chunk of n bytes fills n + 1 characters; the rest of the quartet is padding.
        for i in 0..4 {
            if i <= chunk.len() {
                let index = (group >> (18 - 6 * i)) & 0x3f;
                out.push(char::from(alphabet[index as usize]));
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// The base64 characters that depend only on `value` when it starts at byte `offset` (mod 3)
/// of a longer encoded input: drop the leading characters that mix in the preceding bytes and
/// the trailing one that mixes in the following bytes.
fn base64_core(value: &[u8], offset: usize, alphabet: &[u8; 64]) -> String {
    let mut shifted = vec![0u8; offset];
    shifted.extend_from_slice(value);
    let encoded = base64(&shifted, alphabet, false);
    let first = (8 * offset).div_ceil(6);
    let end = 8 * shifted.len() / 6;
    encoded.get(first..end).unwrap_or_default().to_owned()
}

/// How one percent-encoder spells bytes.
#[derive(Debug, Clone, Copy)]
struct PercentStyle {
    /// Bytes left as they are besides the RFC 3986 unreserved set (`A-Z a-z 0-9 - . _ ~`).
    also_keep: &'static [u8],
    /// Space as `+` (HTML form encoding) rather than `%20`.
    space_as_plus: bool,
    /// Uppercase hex digits, as RFC 3986 recommends.
    upper: bool,
}

#[rustfmt::skip]
const PERCENT_STYLES: [PercentStyle; 5] = [
    // RFC 3986, Go's url.PathEscape-like strictness, Python's quote(safe="").
    PercentStyle { also_keep: b"", space_as_plus: false, upper: true },
    PercentStyle { also_keep: b"", space_as_plus: false, upper: false },
    // application/x-www-form-urlencoded: Python's quote_plus, Go's url.QueryEscape.
    PercentStyle { also_keep: b"", space_as_plus: true, upper: true },
    // Python's quote() with its default safe="/".
    PercentStyle { also_keep: b"/", space_as_plus: false, upper: true },
    // JavaScript's encodeURIComponent.
    PercentStyle { also_keep: b"!'()*", space_as_plus: false, upper: true },
];

fn percent_encode(bytes: &[u8], style: PercentStyle) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || style.also_keep.contains(&b) {
            out.push(char::from(b));
        } else if b == b' ' && style.space_as_plus {
            out.push('+');
        } else if style.upper {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        // RFC 4648 section 10.
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str)] = &[
            ("", "", ""),
            ("f", "Zg==", "Zg"),
            ("fo", "Zm8=", "Zm8"),
            ("foo", "Zm9v", "Zm9v"),
            ("foob", "Zm9vYg==", "Zm9vYg"),
            ("fooba", "Zm9vYmE=", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy", "Zm9vYmFy"),
        ];
        for &(input, padded, unpadded) in cases {
            assert_eq!(
                base64(input.as_bytes(), BASE64_STANDARD, true),
                padded,
                "{input:?}"
            );
            assert_eq!(
                base64(input.as_bytes(), BASE64_STANDARD, false),
                unpadded,
                "{input:?}"
            );
        }
        assert_eq!(base64(&[0xfb, 0xff], BASE64_STANDARD, true), "+/8=");
        assert_eq!(base64(&[0xfb, 0xff], BASE64_URL_SAFE, true), "-_8=");
    }

    #[test]
    fn alignment_cores_occur_in_the_encoding_of_any_surrounding() {
        let value = b"s3cr3t-value-0123";
        for prefix_len in 0..6 {
            for suffix_len in 0..4 {
                let mut blob = vec![b'x'; prefix_len];
                blob.extend_from_slice(value);
                blob.extend(std::iter::repeat_n(b'y', suffix_len));
                let encoded = base64(&blob, BASE64_STANDARD, true);
                let core = base64_core(value, prefix_len % 3, BASE64_STANDARD);
                assert!(core.len() >= 8, "{core}");
                assert!(
                    encoded.contains(&core),
                    "prefix {prefix_len}, suffix {suffix_len}: {core} not in {encoded}"
                );
            }
        }
    }

    #[test]
    fn json_dialects() {
        let value = "a\"b\\c/d<é>\u{1F600}\n";
        let all: Vec<String> = JsonDialect::ALL
            .iter()
            .map(|d| json_escape(value, *d))
            .collect();
        for expected in [
            r#"a\"b\\c/d<é>😀\n"#,
            r#"a\"b\\c/d<\u00e9>\ud83d\ude00\n"#,
            r#"a\"b\\c/d\u003cé\u003e😀\n"#,
            r#"a\"b\\c\/d<é>😀\n"#,
            r#"a\"b\\c\/d\u003c\u00e9\u003e\ud83d\ude00\n"#,
        ] {
            assert!(
                all.iter().any(|s| s == expected),
                "{expected} not in {all:?}"
            );
        }
        // The minimal dialect is what serde_json writes.
        let serde = serde_json::to_string(value).expect("serialise");
        assert_eq!(
            format!("\"{}\"", json_escape(value, JsonDialect::MINIMAL)),
            serde
        );
    }

    #[test]
    fn percent_styles() {
        let spellings = spellings("a b/c!é".as_bytes());
        for expected in [
            "a%20b%2Fc%21%C3%A9",
            "a%20b%2fc%21%c3%a9",
            "a+b%2Fc%21%C3%A9",
            "a%20b/c%21%C3%A9",
            "a%20b%2Fc!%C3%A9",
        ] {
            assert!(
                spellings.iter().any(|s| s == expected),
                "{expected} not in {spellings:?}"
            );
        }
    }

    #[test]
    fn plain_values_have_no_duplicate_spellings() {
        let spellings = spellings(b"AlphaNumeric0123");
        let mut sorted = spellings.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), spellings.len());
        assert_eq!(spellings[0], "AlphaNumeric0123");
        assert!(spellings.len() <= 16, "{}", spellings.len());
    }

    #[test]
    fn binary_values_have_no_raw_spelling() {
        let spellings = spellings(&[0xff, 0xfe, 0x00, 0x80, 0x01, 0x02, 0x03, 0x04]);
        assert!(
            spellings.contains(&"//4AgAECAwQ=".to_owned()),
            "{spellings:?}"
        );
        assert!(spellings.contains(&"fffe008001020304".to_owned()));
        assert!(spellings.iter().all(|s| s.is_ascii()));
    }
}
