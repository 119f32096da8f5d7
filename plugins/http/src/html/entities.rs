//! Character references: `&amp;`, `&eacute;`, `&#8212;`, `&#x1F600;`.
//!
//! The named table is the HTML 4 set minus Greek and rare math: the Latin-1 block (whose
//! names are in code-point order, so one array covers U+00A0 to U+00FF) plus the markup,
//! punctuation, currency and arrow names pages actually use. An unknown name is left as
//! written, which is what a browser shows too.

use std::borrow::Cow;

use crate::charset;

/// HTML 4 names of U+00A0 to U+00FF, in order.
const LATIN1: [&str; 96] = [
    "nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect", "uml", "copy", "ordf",
    "laquo", "not", "shy", "reg", "macr", "deg", "plusmn", "sup2", "sup3", "acute", "micro",
    "para", "middot", "cedil", "sup1", "ordm", "raquo", "frac14", "frac12", "frac34", "iquest",
    "Agrave", "Aacute", "Acirc", "Atilde", "Auml", "Aring", "AElig", "Ccedil", "Egrave", "Eacute",
    "Ecirc", "Euml", "Igrave", "Iacute", "Icirc", "Iuml", "ETH", "Ntilde", "Ograve", "Oacute",
    "Ocirc", "Otilde", "Ouml", "times", "Oslash", "Ugrave", "Uacute", "Ucirc", "Uuml", "Yacute",
    "THORN", "szlig", "agrave", "aacute", "acirc", "atilde", "auml", "aring", "aelig", "ccedil",
    "egrave", "eacute", "ecirc", "euml", "igrave", "iacute", "icirc", "iuml", "eth", "ntilde",
    "ograve", "oacute", "ocirc", "otilde", "ouml", "divide", "oslash", "ugrave", "uacute", "ucirc",
    "uuml", "yacute", "thorn", "yuml",
];

/// Other names, outside the Latin-1 block.
const OTHER: &[(&str, char)] = &[
    ("amp", '&'),
    ("lt", '<'),
    ("gt", '>'),
    ("quot", '"'),
    ("apos", '\''),
    ("ensp", '\u{2002}'),
    ("emsp", '\u{2003}'),
    ("thinsp", '\u{2009}'),
    ("zwnj", '\u{200c}'),
    ("zwj", '\u{200d}'),
    ("lrm", '\u{200e}'),
    ("rlm", '\u{200f}'),
    ("ndash", '–'),
    ("mdash", '—'),
    ("lsquo", '‘'),
    ("rsquo", '’'),
    ("sbquo", '‚'),
    ("ldquo", '“'),
    ("rdquo", '”'),
    ("bdquo", '„'),
    ("lsaquo", '‹'),
    ("rsaquo", '›'),
    ("hellip", '…'),
    ("bull", '•'),
    ("prime", '′'),
    ("Prime", '″'),
    ("dagger", '†'),
    ("Dagger", '‡'),
    ("permil", '‰'),
    ("trade", '™'),
    ("euro", '€'),
    ("minus", '−'),
    ("le", '≤'),
    ("ge", '≥'),
    ("ne", '≠'),
    ("asymp", '≈'),
    ("infin", '∞'),
    ("larr", '←'),
    ("rarr", '→'),
    ("uarr", '↑'),
    ("darr", '↓'),
    ("harr", '↔'),
    ("lArr", '⇐'),
    ("rArr", '⇒'),
    ("hArr", '⇔'),
    ("loz", '◊'),
    ("hearts", '♥'),
    ("OElig", 'Œ'),
    ("oelig", 'œ'),
    ("Scaron", 'Š'),
    ("scaron", 'š'),
    ("Yuml", 'Ÿ'),
    ("fnof", 'ƒ'),
    ("circ", 'ˆ'),
    ("tilde", '˜'),
];

/// Names a browser also decodes without the `;` (the common subset of the legacy list).
const WITHOUT_SEMICOLON: &[&str] = &["amp", "lt", "gt", "quot", "nbsp", "copy", "reg"];

/// The longest name worth looking up; anything longer is not a reference.
const MAX_NAME: usize = 32;

/// Replaces the character references in `text`.
pub fn decode(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        match reference(after) {
            Some((c, used)) => {
                out.push(c);
                rest = &after[used..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The character `text` (what follows an `&`) refers to, and how many bytes of it the
/// reference used.
fn reference(text: &str) -> Option<(char, usize)> {
    if let Some(number) = text.strip_prefix('#') {
        let (radix, digits_at) = match number.as_bytes().first() {
            Some(b'x' | b'X') => (16, 2),
            _ => (10, 1),
        };
        let digits = &text[digits_at..];
        let len = digits
            .bytes()
            .take_while(|b| char::from(*b).is_digit(radix))
            .count();
        if len == 0 {
            return None;
        }
        let value = u32::from_str_radix(&digits[..len], radix).unwrap_or(u32::MAX);
        let semicolon = usize::from(digits[len..].starts_with(';'));
        return Some((numeric(value), digits_at + len + semicolon));
    }
    let len = text
        .bytes()
        .take(MAX_NAME + 1)
        .take_while(u8::is_ascii_alphanumeric)
        .count();
    let name = &text[..len];
    if text[len..].starts_with(';') {
        return named(name).map(|c| (c, len + 1));
    }
    // `&copy=2` in a query string is a parameter, not a reference.
    if WITHOUT_SEMICOLON.contains(&name) && !text[len..].starts_with('=') {
        return named(name).map(|c| (c, len));
    }
    None
}

fn named(name: &str) -> Option<char> {
    if let Some(index) = LATIN1.iter().position(|n| *n == name) {
        return u32::try_from(index)
            .ok()
            .and_then(|i| char::from_u32(0xa0 + i));
    }
    OTHER.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}

/// HTML's rules for numeric references: NUL, surrogates and values past Unicode become
/// U+FFFD; 128-159 are read as windows-1252, as every browser does.
fn numeric(value: u32) -> char {
    match value {
        0 => char::REPLACEMENT_CHARACTER,
        0x80..=0x9f => charset::windows_1252(u8::try_from(value).unwrap_or(b'?')),
        _ => char::from_u32(value).unwrap_or(char::REPLACEMENT_CHARACTER),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_decode_like_a_browser() {
        let cases = [
            ("no references", "plain text", "plain text"),
            (
                "markup",
                "&lt;b&gt; &amp; &quot;x&quot; &apos;y&apos;",
                "<b> & \"x\" 'y'",
            ),
            (
                "latin-1 block",
                "caf&eacute; &copy; &yuml; &nbsp;",
                "café © ÿ \u{a0}",
            ),
            (
                "punctuation",
                "a&mdash;b &hellip; &ldquo;q&rdquo;",
                "a—b … “q”",
            ),
            ("decimal", "&#65;&#8212;", "A—"),
            ("hex", "&#x1F600; &#X41;", "😀 A"),
            ("numeric without semicolon", "&#65B", "AB"),
            ("windows-1252 numeric", "&#150;&#128;", "–€"),
            ("nul", "&#0;", "\u{fffd}"),
            ("surrogate", "&#xD800;", "\u{fffd}"),
            ("past unicode", "&#x110000;", "\u{fffd}"),
            ("overflow", "&#99999999999999999999;", "\u{fffd}"),
            ("unknown name kept", "&bogus; &", "&bogus; &"),
            ("bare ampersand", "AT&T R&D", "AT&T R&D"),
            ("legacy without semicolon", "a &amp b &lt c", "a & b < c"),
            (
                "query parameter kept",
                "?a=1&copy=2&lang=en",
                "?a=1&copy=2&lang=en",
            ),
            ("case matters", "&Eacute;&eacute;&AMP;", "Éé&AMP;"),
            ("empty numeric", "&#; &#x;", "&#; &#x;"),
        ];
        for (name, input, expected) in cases {
            assert_eq!(decode(input), expected, "{name}");
        }
    }
}
