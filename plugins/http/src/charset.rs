//! Turning a response body into text: UTF-8, or windows-1252 when the server says Latin-1.
//!
//! Only the two encodings that cover nearly all text on the web are handled. WHATWG maps
//! every Latin-1 label (`iso-8859-1`, `latin1`, `us-ascii`, ...) to windows-1252, which differs
//! from ISO 8859-1 only in 0x80-0x9F (curly quotes, dashes, the euro sign). Everything else
//! is read as UTF-8, with invalid bytes replaced by U+FFFD.

/// Decodes `bytes` in `charset` (the `charset` parameter of the content type, if any).
/// `truncated` says the body was cut at a byte limit, so an incomplete UTF-8 sequence at the
/// very end is the cut's fault and is dropped rather than replaced.
pub fn decode(bytes: &[u8], charset: Option<&str>, truncated: bool) -> String {
    if charset.is_some_and(is_windows_1252) {
        return bytes.iter().map(|&byte| windows_1252(byte)).collect();
    }
    // A byte-order mark says "UTF-8"; it is not part of the text.
    utf8_lossy(
        bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes),
        truncated,
    )
}

/// UTF-8 with replacement characters; see [`decode`] for `truncated`.
pub fn utf8_lossy(bytes: &[u8], truncated: bool) -> String {
    let bytes = match std::str::from_utf8(bytes) {
        Err(err) if truncated && err.error_len().is_none() => &bytes[..err.valid_up_to()],
        _ => bytes,
    };
    String::from_utf8_lossy(bytes).into_owned()
}

/// The labels WHATWG's Encoding Standard maps to windows-1252.
fn is_windows_1252(label: &str) -> bool {
    const LABELS: &[&str] = &[
        "ansi_x3.4-1968",
        "ascii",
        "cp1252",
        "cp819",
        "csisolatin1",
        "ibm819",
        "iso-8859-1",
        "iso-ir-100",
        "iso8859-1",
        "iso88591",
        "iso_8859-1",
        "iso_8859-1:1987",
        "l1",
        "latin1",
        "us-ascii",
        "windows-1252",
        "x-cp1252",
    ];
    let label = label.trim().trim_matches(['"', '\'']);
    LABELS.iter().any(|known| known.eq_ignore_ascii_case(label))
}

/// One windows-1252 byte as a character. Also what HTML makes of `&#128;` to `&#159;`.
pub fn windows_1252(byte: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    match byte {
        0x80..=0x9f => HIGH[usize::from(byte - 0x80)],
        _ => char::from(byte),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Name, bytes, charset label, truncated, expected text.
    type Case = (
        &'static str,
        &'static [u8],
        Option<&'static str>,
        bool,
        &'static str,
    );

    #[test]
    fn decodes_by_charset() {
        let cases: &[Case] = &[
            ("utf-8", "café".as_bytes(), None, false, "café"),
            (
                "byte-order mark dropped",
                b"\xef\xbb\xbfhi",
                None,
                false,
                "hi",
            ),
            (
                "latin1 label",
                b"caf\xe9",
                Some("ISO-8859-1"),
                false,
                "café",
            ),
            (
                "quoted label",
                b"\x93hi\x94",
                Some("\"windows-1252\""),
                false,
                "“hi”",
            ),
            (
                "invalid utf-8 replaced",
                b"a\xffb",
                Some("utf-8"),
                false,
                "a\u{fffd}b",
            ),
            ("cut sequence dropped", b"ab\xc3", None, true, "ab"),
            (
                "cut sequence kept if whole",
                b"ab\xc3",
                None,
                false,
                "ab\u{fffd}",
            ),
            (
                "unknown label is utf-8",
                "ü".as_bytes(),
                Some("shift_jis"),
                false,
                "ü",
            ),
        ];
        for (name, bytes, charset, truncated, expected) in cases {
            assert_eq!(decode(bytes, *charset, *truncated), *expected, "{name}");
        }
    }
}
