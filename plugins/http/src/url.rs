//! [`Url`]: the `url` input, checked and split into the parts a wasi:http request takes, and
//! [`resolve_link`], which turns a link found in a page into an absolute URL.
//!
//! The host checks every request against its egress policy whatever the guest sends, so this
//! parser is about giving the agent an `invalid-input` that names the field, not about
//! security. It is still strict where leniency would only make requests ambiguous: no
//! credentials in the authority, no percent-encoded or non-ASCII host names, no unbracketed
//! IPv6, no control characters. The path and query are made valid RFC 3986 by percent-encoding
//! anything else (spaces, non-ASCII), the way a browser's address bar does.

use std::fmt;
use std::net::Ipv6Addr;

use stockade_plugin_sdk::ToolError;

/// A URL longer than this (after encoding) is refused.
pub const MAX_URL_LEN: usize = 8 * 1024;

/// The schemes this plugin speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `http://`
    Http,
    /// `https://`
    Https,
}

impl Scheme {
    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// An absolute `http` or `https` URL without fragment, ready for a wasi:http request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// The scheme.
    pub scheme: Scheme,
    /// The host, lowercased: a DNS name, an IPv4 address, or an IPv6 address in brackets.
    pub host: String,
    /// The port, when the URL names one.
    pub port: Option<u16>,
    /// Path and query, starting with `/`, percent-encoded ASCII.
    pub path_and_query: String,
}

impl Url {
    /// `host[:port]`, what wasi:http calls the authority.
    pub fn authority(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }

    /// The path without the query.
    fn path(&self) -> &str {
        match self.path_and_query.split_once('?') {
            Some((path, _)) => path,
            None => &self.path_and_query,
        }
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}{}",
            self.scheme.as_str(),
            self.authority(),
            self.path_and_query
        )
    }
}

/// Parses `value`, the input field `field`, as an absolute http(s) URL.
///
/// Surrounding whitespace and the fragment (`#...`) are dropped; an empty path becomes `/`.
pub fn parse(field: &str, value: &str) -> Result<Url, ToolError> {
    let bad = |why: String| ToolError::invalid_input(format!("{field}: {why}"));
    let text = value.trim();
    if text.is_empty() {
        return Err(bad("must not be empty".into()));
    }
    if text.len() > MAX_URL_LEN {
        return Err(bad(format!("longer than {MAX_URL_LEN} bytes")));
    }
    if text.chars().any(char::is_control) {
        return Err(bad(
            "must not contain control characters (tabs, newlines, ...)".into(),
        ));
    }
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err(bad(format!(
            "must be an absolute URL like https://example.com/page, got {text:?}"
        )));
    };
    let scheme = if scheme.eq_ignore_ascii_case("https") {
        Scheme::Https
    } else if scheme.eq_ignore_ascii_case("http") {
        Scheme::Http
    } else {
        return Err(bad(format!(
            "scheme {scheme:?} is not supported; use http or https"
        )));
    };
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let (host, port) = parse_authority(authority).map_err(bad)?;
    let path_and_query = match tail.strip_prefix('?') {
        Some(_) => format!("/{}", encode(tail)),
        None if tail.is_empty() => "/".to_owned(),
        None => encode(tail),
    };
    let url = Url {
        scheme,
        host,
        port,
        path_and_query,
    };
    if url.to_string().len() > MAX_URL_LEN {
        return Err(bad(format!("longer than {MAX_URL_LEN} bytes once encoded")));
    }
    Ok(url)
}

/// Splits and checks `host[:port]`.
fn parse_authority(authority: &str) -> Result<(String, Option<u16>), String> {
    if authority.is_empty() {
        return Err("has no host".into());
    }
    if authority.contains('@') {
        return Err(
            "must not contain credentials (user@host); send them in an Authorization header".into(),
        );
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let Some((inside, after)) = bracketed.split_once(']') else {
            return Err(format!("unclosed `[` in host {authority:?}"));
        };
        let address: Ipv6Addr = inside
            .parse()
            .map_err(|_| format!("{inside:?} is not an IPv6 address"))?;
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => return Err(format!("unexpected {after:?} after the IPv6 address")),
            },
        };
        (format!("[{address}]"), port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        if port.is_some_and(|port| port.contains(':')) {
            return Err(format!(
                "IPv6 addresses must be in brackets, like http://[::1]:8080/, got {authority:?}"
            ));
        }
        check_host(host)?;
        (host.to_ascii_lowercase(), port)
    };
    let port = match port {
        None | Some("") => None,
        Some(digits) => match digits.parse::<u16>() {
            Ok(port) if port > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => Some(port),
            _ => return Err(format!("port {digits:?} is not a number from 1 to 65535")),
        },
    };
    Ok((host, port))
}

fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("has no host".into());
    }
    if !host.is_ascii() {
        return Err(format!(
            "host {host:?} is not ASCII; write internationalized names in punycode (xn--...)"
        ));
    }
    match host
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
    {
        Some(c) => Err(format!("host {host:?} must not contain {c:?}")),
        None => Ok(()),
    }
}

/// Percent-encodes every byte RFC 3986 does not allow in a path or query (spaces, quotes,
/// `<>`, `\`, non-ASCII, ...). Existing `%XX` escapes are kept as they are.
fn encode(text: &str) -> String {
    const ALLOWED: &[u8] = b"-._~!$&'()*+,;=:@/?%";
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || ALLOWED.contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Resolves `href`, a link in the page at `base`, to the URL to show the agent.
///
/// `None` for links that lead nowhere an agent can fetch or follow: empty, fragment-only
/// (`#top`), `javascript:`, `data:` and `vbscript:`. Other schemes (`mailto:`, `ftp:`) are
/// returned as written.
pub fn resolve_link(base: &Url, href: &str) -> Option<String> {
    let href = href.trim();
    if href.is_empty() || href.starts_with('#') {
        return None;
    }
    if let Some(scheme) = scheme_of(href) {
        let ignored = ["javascript", "data", "vbscript"];
        return match ignored.iter().any(|s| scheme.eq_ignore_ascii_case(s)) {
            true => None,
            false => Some(href.to_owned()),
        };
    }
    let origin = format!("{}://{}", base.scheme.as_str(), base.authority());
    let joined = if href.starts_with("//") {
        format!("{}:{href}", base.scheme.as_str())
    } else if href.starts_with('/') {
        format!("{origin}{}", remove_dot_segments(href))
    } else if href.starts_with('?') {
        format!("{origin}{}{href}", base.path())
    } else {
        let path = base.path();
        let directory = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        format!(
            "{origin}{}",
            remove_dot_segments(&format!("{directory}{href}"))
        )
    };
    Some(joined)
}

/// The scheme of an absolute URL (`mailto:x` → `mailto`), or `None` for a relative reference.
fn scheme_of(href: &str) -> Option<&str> {
    let (scheme, _) = href.split_once(':')?;
    let mut chars = scheme.chars();
    let first_is_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (first_is_letter && rest_ok).then_some(scheme)
}

/// RFC 3986 section 5.2.4 on the path part of `reference` (query and fragment kept as they
/// are): `/a/b/../c/./d` → `/a/c/d`. Never climbs above the root.
fn remove_dot_segments(reference: &str) -> String {
    let split = reference.find(['?', '#']).unwrap_or(reference.len());
    let (path, suffix) = reference.split_at(split);
    let mut segments: Vec<&str> = Vec::new();
    let mut parts = path.split('/').peekable();
    while let Some(segment) = parts.next() {
        let last = parts.peek().is_none();
        match segment {
            "." | ".." => {
                if segment == ".." && segments.len() > 1 {
                    segments.pop();
                }
                // A trailing `.` or `..` still names a directory.
                if last {
                    segments.push("");
                }
            }
            _ => segments.push(segment),
        }
    }
    let mut out = segments.join("/");
    if !out.starts_with('/') {
        out.insert(0, '/');
    }
    out.push_str(suffix);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        match parse("url", text) {
            Ok(url) => url,
            Err(err) => panic!("{text}: {err}"),
        }
    }

    #[test]
    fn accepted_urls_normalize() {
        let cases = [
            ("plain", "https://example.com", "https://example.com/"),
            (
                "case and whitespace",
                "  HTTP://Example.COM:8080/A?b=C  ",
                "http://example.com:8080/A?b=C",
            ),
            (
                "fragment dropped",
                "https://a.example/p#section",
                "https://a.example/p",
            ),
            (
                "query only",
                "https://a.example?q=1",
                "https://a.example/?q=1",
            ),
            ("empty port", "http://a.example:/x", "http://a.example/x"),
            ("ipv4", "http://192.0.2.1:81/", "http://192.0.2.1:81/"),
            (
                "ipv6 canonical",
                "http://[0:0::1]:8080/x",
                "http://[::1]:8080/x",
            ),
            (
                "space and unicode encoded",
                "https://en.example/wiki/Café au lait",
                "https://en.example/wiki/Caf%C3%A9%20au%20lait",
            ),
            (
                "escapes kept, specials encoded",
                "https://a.example/%41\"<>\\^`{|}",
                "https://a.example/%41%22%3C%3E%5C%5E%60%7B%7C%7D",
            ),
        ];
        for (name, input, expected) in cases {
            assert_eq!(url(input).to_string(), expected, "{name}");
        }
        let parts = url("https://[::1]:8443/a?b");
        assert_eq!(parts.scheme, Scheme::Https);
        assert_eq!(parts.authority(), "[::1]:8443");
        assert_eq!(parts.path_and_query, "/a?b");
    }

    #[test]
    fn refused_urls_name_the_field_and_the_problem() {
        let cases = [
            ("empty", "  ", "must not be empty"),
            ("relative", "/etc/passwd", "must be an absolute URL"),
            ("no slashes", "http:example.com", "must be an absolute URL"),
            (
                "file scheme",
                "file:///etc/passwd",
                "scheme \"file\" is not supported",
            ),
            (
                "ftp scheme",
                "ftp://example.com/",
                "scheme \"ftp\" is not supported",
            ),
            ("no host", "http:///x", "has no host"),
            ("port only", "http://:80/", "has no host"),
            (
                "credentials",
                "https://user:pw@example.com/",
                "must not contain credentials",
            ),
            (
                "at sign hides host",
                "http://example.com@10.0.0.1/",
                "must not contain credentials",
            ),
            (
                "newline",
                "http://example.com/\r\nX: y",
                "control characters",
            ),
            ("tab", "http://exa\tmple.com/", "control characters"),
            (
                "port too big",
                "http://example.com:65536/",
                "port \"65536\"",
            ),
            ("port zero", "http://example.com:0/", "port \"0\""),
            ("port sign", "http://example.com:+80/", "port \"+80\""),
            (
                "unbracketed ipv6",
                "http://::1/",
                "IPv6 addresses must be in brackets",
            ),
            ("bad ipv6", "http://[::g]/", "is not an IPv6 address"),
            (
                "ipv6 zone",
                "http://[fe80::1%25eth0]/",
                "is not an IPv6 address",
            ),
            ("unclosed bracket", "http://[::1/", "unclosed `[`"),
            ("junk after ipv6", "http://[::1]x/", "unexpected \"x\""),
            (
                "percent host",
                "http://%31%32%37.0.0.1/",
                "must not contain '%'",
            ),
            (
                "backslash host",
                "http://evil.example\\.good.example/",
                "must not contain '\\\\'",
            ),
            ("unicode host", "https://bücher.example/", "punycode"),
            (
                "too long",
                &format!("https://a.example/{}", "a".repeat(MAX_URL_LEN)),
                "longer than",
            ),
        ];
        for (name, input, needle) in cases {
            match parse("url", input) {
                Err(ToolError::InvalidInput(message)) => {
                    assert!(message.starts_with("url: "), "{name}: {message}");
                    assert!(message.contains(needle), "{name}: {message}");
                }
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn links_resolve_against_the_page() {
        let base = url("https://docs.example/guide/intro/page.html?x=1");
        let cases = [
            (
                "absolute",
                "https://other.example/a",
                Some("https://other.example/a"),
            ),
            (
                "protocol relative",
                "//cdn.example/x.js",
                Some("https://cdn.example/x.js"),
            ),
            (
                "root relative",
                "/api/v1",
                Some("https://docs.example/api/v1"),
            ),
            (
                "sibling",
                "next.html",
                Some("https://docs.example/guide/intro/next.html"),
            ),
            (
                "dot",
                "./next.html#top",
                Some("https://docs.example/guide/intro/next.html#top"),
            ),
            (
                "parent",
                "../other/",
                Some("https://docs.example/guide/other/"),
            ),
            (
                "above root",
                "../../../../x",
                Some("https://docs.example/x"),
            ),
            ("trailing dots", "..", Some("https://docs.example/guide/")),
            (
                "query only",
                "?page=2",
                Some("https://docs.example/guide/intro/page.html?page=2"),
            ),
            (
                "mailto kept",
                "mailto:a@b.example",
                Some("mailto:a@b.example"),
            ),
            ("fragment only", "#install", None),
            ("javascript", "JavaScript:void(0)", None),
            ("data", "data:text/html,x", None),
            ("empty", "  ", None),
        ];
        for (name, href, expected) in cases {
            assert_eq!(resolve_link(&base, href).as_deref(), expected, "{name}");
        }
    }
}
