//! Tokenizing: [`parse_tag`] reads one start or end tag with its attributes, and
//! [`raw_content`] finds where a raw-text element (`script`, `style`, `title`, ...) ends.
//!
//! Both only ever slice the input right after an ASCII byte (`<`, `>`, a quote, whitespace,
//! a name character), so every slice is on a character boundary, and both return how many
//! bytes they consumed, so the caller always advances: one pass, no backtracking.

use super::entities;

/// A start or end tag, with the attributes the reducer reads.
#[derive(Debug)]
pub(super) struct Tag<'a> {
    /// Lowercased.
    pub(super) name: String,
    pub(super) end: bool,
    pub(super) self_closing: bool,
    /// Lowercased names, raw (undecoded) values.
    attrs: Vec<(String, &'a str)>,
}

impl Tag<'_> {
    pub(super) fn attr(&self, name: &str) -> Option<String> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| entities::decode(value).into_owned())
    }
}

/// Parses the tag at the start of `markup` (which starts with `<` and a letter, or `</` and a
/// letter). Returns it and the bytes it spans, through its `>` (or to the end of the input
/// for an unterminated tag). Every index it slices at follows an ASCII byte, so it is a
/// character boundary.
pub(super) fn parse_tag(markup: &str) -> (Tag<'_>, usize) {
    let bytes = markup.as_bytes();
    let end = bytes.get(1) == Some(&b'/');
    let mut i = if end { 2 } else { 1 };
    let name_start = i;
    while bytes
        .get(i)
        .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b':' | b'_'))
    {
        i += 1;
    }
    let mut tag = Tag {
        name: markup[name_start..i].to_ascii_lowercase(),
        end,
        self_closing: false,
        attrs: Vec::new(),
    };
    loop {
        while bytes
            .get(i)
            .is_some_and(|b| b.is_ascii_whitespace() || *b == b'/')
        {
            tag.self_closing = bytes[i] == b'/';
            i += 1;
        }
        match bytes.get(i) {
            None => return (tag, markup.len()),
            Some(b'>') => return (tag, i + 1),
            Some(_) => {}
        }
        tag.self_closing = false;
        let attr_start = i;
        while bytes
            .get(i)
            .is_some_and(|b| !b.is_ascii_whitespace() && !matches!(b, b'=' | b'>' | b'/'))
        {
            i += 1;
        }
        if i == attr_start {
            // A stray `=`: step over it so the loop always advances.
            i += 1;
            continue;
        }
        let attr = markup[attr_start..i].to_ascii_lowercase();
        while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        let mut value = "";
        if bytes.get(i) == Some(&b'=') {
            i += 1;
            while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
                i += 1;
            }
            match bytes.get(i) {
                Some(&quote @ (b'"' | b'\'')) => {
                    let start = i + 1;
                    let len = bytes[start..].iter().position(|b| *b == quote);
                    let stop = len.map_or(markup.len(), |len| start + len);
                    value = &markup[start..stop];
                    i = (stop + 1).min(markup.len());
                }
                _ => {
                    let start = i;
                    while bytes
                        .get(i)
                        .is_some_and(|b| !b.is_ascii_whitespace() && *b != b'>')
                    {
                        i += 1;
                    }
                    value = &markup[start..i];
                }
            }
        }
        tag.attrs.push((attr, value));
    }
}

/// The content of a raw-text element named `name` that starts at `after`, and the bytes it
/// spans through its end tag (or to the end of the input when the end tag is missing).
pub(super) fn raw_content<'a>(after: &'a str, name: &str) -> (&'a str, usize) {
    for (at, _) in after.match_indices("</") {
        let candidate = &after.as_bytes()[at + 2..];
        let matches_name = candidate
            .get(..name.len())
            .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()));
        let terminated = candidate
            .get(name.len())
            .is_none_or(|b| b.is_ascii_whitespace() || matches!(b, b'>' | b'/'));
        if matches_name && terminated {
            let close = after[at..]
                .find('>')
                .map_or(after.len(), |end| at + end + 1);
            return (&after[..at], close);
        }
    }
    (after, after.len())
}
