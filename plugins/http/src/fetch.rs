//! The tools, [`fetch`] and [`fetch_text`], as functions of a [`Transport`], so unit tests run
//! them natively against a fake one.

use serde::Serialize;
use stockade_plugin_sdk::ToolError;

use crate::request::{DEFAULT_MAX_CHARS, Fetch, FetchText, MAX_CHARS_CAP, Request};
use crate::transport::Transport;
use crate::{charset, html, url};

/// `fetch_text` downloads at most this much; HTML is mostly markup, so it is larger than the
/// text it returns.
pub const TEXT_DOWNLOAD_LIMIT: usize = 1024 * 1024;

/// What `fetch_text` asks for.
const TEXT_ACCEPT: &str = "text/html, application/xhtml+xml, text/plain;q=0.9, */*;q=0.1";

/// Output of `fetch`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Fetched {
    /// HTTP status code; a 3xx is returned as is (redirects are not followed).
    pub status: u16,
    /// Response headers as `[name, value]` pairs, in order.
    pub headers: Vec<(String, String)>,
    /// The body as UTF-8 (invalid bytes replaced), at most `max_bytes` bytes of it.
    pub body: String,
    /// Whether the body went on past `max_bytes`.
    pub truncated: bool,
    /// The URL requested, normalized.
    pub url: String,
}

/// Output of `fetch_text`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct FetchedText {
    /// HTTP status code; a 3xx is returned as is, with `location`.
    pub status: u16,
    /// The page's `<title>`, for HTML that has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The readable text.
    pub text: String,
    /// Whether the page or the text was cut short.
    pub truncated: bool,
    /// The URL requested, normalized.
    pub url: String,
    /// For a redirect, where it points, resolved against `url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// `fetch`: one request, the response as it came.
pub fn fetch(transport: &impl Transport, input: Fetch) -> Result<Fetched, ToolError> {
    let (request, max_bytes) = input.into_request()?;
    let response = transport.send(&request, max_bytes)?;
    let headers = response
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), String::from_utf8_lossy(value).into_owned()))
        .collect();
    Ok(Fetched {
        status: response.status,
        headers,
        body: charset::utf8_lossy(&response.body, response.truncated),
        truncated: response.truncated,
        url: request.url.to_string(),
    })
}

/// `fetch_text`: a GET, reduced to readable text.
pub fn fetch_text(transport: &impl Transport, input: FetchText) -> Result<FetchedText, ToolError> {
    let url = url::parse("url", &input.url)?;
    let max_chars = input
        .max_chars
        .unwrap_or(DEFAULT_MAX_CHARS)
        .min(MAX_CHARS_CAP);
    let max_chars = usize::try_from(max_chars).unwrap_or(usize::MAX);
    let request = Request::get(url, TEXT_ACCEPT);
    let response = transport.send(&request, TEXT_DOWNLOAD_LIMIT)?;
    let url = request.url;
    let content_type = response.header("content-type");
    let kind = classify(content_type.as_deref(), &response.body).map_err(|media_type| {
        ToolError::failed(format!(
            "{url} is {media_type}, not text; fetch_text reads HTML and plain text only \
             (fetch returns any body)"
        ))
    })?;
    let charset = content_type.as_deref().and_then(charset_param);
    let body = charset::decode(&response.body, charset, response.truncated);
    let (title, text) = match kind {
        Kind::Html => {
            let page = html::to_text(&body, &url);
            (page.title, page.text)
        }
        Kind::Text => (None, body),
    };
    let (text, cut) = truncate_chars(text, max_chars);
    let location = match response.status {
        300..=399 => response
            .header("location")
            .and_then(|location| url::resolve_link(&url, &location)),
        _ => None,
    };
    Ok(FetchedText {
        status: response.status,
        title,
        text,
        truncated: response.truncated || cut,
        url: url.to_string(),
        location,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Html,
    Text,
}

/// Media types other than `text/*` that are text.
const TEXTUAL: &[&str] = &[
    "application/json",
    "application/xml",
    "application/javascript",
    "application/x-javascript",
    "application/ecmascript",
    "application/x-ndjson",
    "application/yaml",
    "application/x-yaml",
    "application/toml",
    "application/x-sh",
    "application/sql",
    "application/graphql",
];

/// Whether a body is HTML, other text, or (the error) some other media type, named.
/// A missing or `application/octet-stream` type is sniffed from the body.
fn classify(content_type: Option<&str>, body: &[u8]) -> Result<Kind, String> {
    let essence = content_type
        .and_then(|ct| ct.split(';').next())
        .map(|essence| essence.trim().to_ascii_lowercase())
        .filter(|essence| !essence.is_empty());
    match essence.as_deref() {
        _ if body.is_empty() => Ok(Kind::Text),
        Some("text/html" | "application/xhtml+xml") => Ok(Kind::Html),
        Some(essence)
            if essence.starts_with("text/")
                || essence.ends_with("+json")
                || essence.ends_with("+xml")
                || TEXTUAL.contains(&essence) =>
        {
            Ok(Kind::Text)
        }
        None | Some("application/octet-stream") => sniff(body).ok_or_else(|| {
            essence.map_or_else(|| "binary data (no content type)".to_owned(), Into::into)
        }),
        Some(other) => Err(other.to_owned()),
    }
}

/// HTML if the body starts like an HTML document, text if its start is UTF-8 without NUL
/// bytes, otherwise `None`.
fn sniff(body: &[u8]) -> Option<Kind> {
    let start = body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body);
    let start = start.trim_ascii_start();
    let head = &start[..start.len().min(16)];
    let lower = head.to_ascii_lowercase();
    if lower.starts_with(b"<!doctype html") || lower.starts_with(b"<html") {
        return Some(Kind::Html);
    }
    let sample = &body[..body.len().min(1024)];
    let utf8 = match std::str::from_utf8(sample) {
        Ok(_) => true,
        // A sample cut inside a character is still text.
        Err(err) => err.error_len().is_none() && sample.len() == 1024,
    };
    (utf8 && !sample.contains(&0)).then_some(Kind::Text)
}

/// The `charset` parameter of a content type, without quotes.
fn charset_param(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches(['"', '\'']))
    })
}

/// Keeps the first `max` characters; says whether any were dropped.
fn truncate_chars(mut text: String, max: usize) -> (String, bool) {
    match text.char_indices().nth(max) {
        Some((cut, _)) => {
            text.truncate(cut);
            (text, true)
        }
        None => (text, false),
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use crate::transport::{Response, cap};

    use super::*;

    /// Answers with a canned response, capped like the real transport, and records what it
    /// was asked to send.
    struct Fake {
        status: u16,
        headers: Vec<(&'static str, &'static str)>,
        body: Vec<u8>,
        sent: RefCell<Vec<(Request, usize)>>,
    }

    impl Fake {
        fn new(status: u16, headers: &[(&'static str, &'static str)], body: &[u8]) -> Self {
            Fake {
                status,
                headers: headers.to_vec(),
                body: body.to_vec(),
                sent: RefCell::new(Vec::new()),
            }
        }
    }

    impl Transport for Fake {
        fn send(&self, request: &Request, max_body: usize) -> Result<Response, ToolError> {
            self.sent.borrow_mut().push((request.clone(), max_body));
            let (body, truncated) = cap(self.body.clone(), max_body);
            Ok(Response {
                status: self.status,
                headers: self
                    .headers
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), v.as_bytes().to_vec()))
                    .collect(),
                body,
                truncated,
            })
        }
    }

    /// Fails like a host that refuses the destination.
    struct Refusing;

    impl Transport for Refusing {
        fn send(&self, _: &Request, _: usize) -> Result<Response, ToolError> {
            Err(ToolError::denied("egress denied: HTTP-request-denied"))
        }
    }

    fn fetch_input(json: serde_json::Value) -> Fetch {
        serde_json::from_value(json).unwrap()
    }

    fn text_input(url: &str, max_chars: Option<u64>) -> FetchText {
        FetchText {
            url: url.to_owned(),
            max_chars,
        }
    }

    #[test]
    fn fetch_returns_the_response_as_is_and_caps_the_body() {
        let fake = Fake::new(
            302,
            &[("location", "/next"), ("content-type", "text/plain")],
            "héllo".as_bytes(),
        );
        let input =
            fetch_input(serde_json::json!({"url": "HTTPS://A.example/x#f", "max_bytes": 2}));
        let fetched = fetch(&fake, input).unwrap();
        assert_eq!(
            fetched,
            Fetched {
                status: 302,
                headers: vec![
                    ("location".into(), "/next".into()),
                    ("content-type".into(), "text/plain".into()),
                ],
                // The cut splits `é`: the half character is dropped, not replaced.
                body: "h".into(),
                truncated: true,
                url: "https://a.example/x".into(),
            }
        );
        assert_eq!(fake.sent.borrow()[0].1, 2);
        let whole = fetch(
            &fake,
            fetch_input(serde_json::json!({"url": "http://a.example/"})),
        )
        .unwrap();
        assert_eq!((whole.body.as_str(), whole.truncated), ("héllo", false));
    }

    #[test]
    fn refusals_pass_through_unchanged() {
        let input = fetch_input(serde_json::json!({"url": "http://10.0.0.1/"}));
        assert_eq!(
            fetch(&Refusing, input),
            Err(ToolError::denied("egress denied: HTTP-request-denied"))
        );
        assert_eq!(
            fetch_text(&Refusing, text_input("http://10.0.0.1/", None)),
            Err(ToolError::denied("egress denied: HTTP-request-denied"))
        );
    }

    #[test]
    fn fetch_text_reduces_html_and_sends_a_plain_get() {
        let html = b"<html><head><title>Docs</title><script>x()</script></head>\
                     <body><h1>Intro</h1><p>Read <a href=\"guide\">the guide</a>.</p></body></html>";
        let fake = Fake::new(200, &[("Content-Type", "text/html; charset=utf-8")], html);
        let fetched = fetch_text(&fake, text_input("https://d.example/en/", None)).unwrap();
        assert_eq!(
            fetched,
            FetchedText {
                status: 200,
                title: Some("Docs".into()),
                text: "# Intro\n\nRead the guide (https://d.example/en/guide).".into(),
                truncated: false,
                url: "https://d.example/en/".into(),
                location: None,
            }
        );
        let sent = fake.sent.borrow();
        let (request, limit) = &sent[0];
        assert_eq!(request.method, "GET");
        assert!(request.body.is_empty());
        assert_eq!(*limit, TEXT_DOWNLOAD_LIMIT);
    }

    /// Name, content type, body, the text or a needle of the error message.
    type Case = (
        &'static str,
        Option<&'static str>,
        &'static [u8],
        Result<&'static str, &'static str>,
    );

    #[test]
    fn fetch_text_by_content_type() {
        let latin1: &[u8] = b"caf\xe9";
        let cases: &[Case] = &[
            (
                "plain text passes through",
                Some("text/plain"),
                b"  a  <b>\n",
                Ok("  a  <b>\n"),
            ),
            (
                "json is text",
                Some("application/json"),
                b"{\"a\": 1}",
                Ok("{\"a\": 1}"),
            ),
            (
                "problem+json is text",
                Some("application/problem+json"),
                b"{}",
                Ok("{}"),
            ),
            (
                "xhtml is html",
                Some("application/xhtml+xml"),
                b"<p>x</p>",
                Ok("x"),
            ),
            (
                "latin-1 charset",
                Some("text/plain; charset=ISO-8859-1"),
                latin1,
                Ok("café"),
            ),
            (
                "sniffed html",
                None,
                b"\xef\xbb\xbf <!DOCTYPE html><p>hi",
                Ok("hi"),
            ),
            (
                "sniffed text",
                Some("application/octet-stream"),
                b"just text",
                Ok("just text"),
            ),
            ("empty body of any type", Some("image/png"), b"", Ok("")),
            (
                "image refused",
                Some("image/png"),
                b"\x89PNG\r\n",
                Err("https://x.example/ is image/png, not text"),
            ),
            (
                "pdf refused",
                Some("Application/PDF"),
                b"%PDF-1.7",
                Err("is application/pdf, not text"),
            ),
            (
                "binary sniffed",
                None,
                b"\x00\x01\x02",
                Err("is binary data (no content type), not text"),
            ),
            (
                "octet-stream binary",
                Some("application/octet-stream"),
                b"\xff\xfe\x00",
                Err("is application/octet-stream, not text"),
            ),
        ];
        for (name, content_type, body, expected) in cases {
            let headers: Vec<(&'static str, &'static str)> = content_type
                .map(|ct| vec![("content-type", ct)])
                .unwrap_or_default();
            let fake = Fake::new(200, &headers, body);
            let result = fetch_text(&fake, text_input("https://x.example/", None));
            match (result, expected) {
                (Ok(fetched), Ok(text)) => assert_eq!(fetched.text, *text, "{name}"),
                (Err(ToolError::Failed(message)), Err(needle)) => {
                    assert!(message.contains(needle), "{name}: {message}");
                }
                (other, _) => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn fetch_text_truncates_by_characters_and_reports_cut_downloads() {
        let fake = Fake::new(200, &[("content-type", "text/plain")], "äöü-abc".as_bytes());
        let fetched = fetch_text(&fake, text_input("http://t.example/", Some(3))).unwrap();
        assert_eq!((fetched.text.as_str(), fetched.truncated), ("äöü", true));
        let exact = fetch_text(&fake, text_input("http://t.example/", Some(7))).unwrap();
        assert_eq!((exact.text.as_str(), exact.truncated), ("äöü-abc", false));

        let huge = vec![b'a'; TEXT_DOWNLOAD_LIMIT + 10];
        let fake = Fake::new(200, &[("content-type", "text/plain")], &huge);
        let fetched = fetch_text(&fake, text_input("http://t.example/", Some(u64::MAX))).unwrap();
        assert!(fetched.truncated);
        assert_eq!(
            fetched.text.len(),
            MAX_CHARS_CAP as usize,
            "max_chars is capped"
        );
    }

    #[test]
    fn fetch_text_reports_redirect_targets() {
        let fake = Fake::new(301, &[("Location", "../moved?x=1")], b"");
        let fetched = fetch_text(&fake, text_input("https://r.example/a/b/c", None)).unwrap();
        assert_eq!(fetched.status, 301);
        assert_eq!(
            fetched.location.as_deref(),
            Some("https://r.example/a/moved?x=1")
        );
        assert_eq!(fetched.text, "");
        let json = serde_json::to_value(&fetched).unwrap();
        assert!(
            json.get("title").is_none(),
            "absent fields are omitted: {json}"
        );
    }

    #[test]
    fn charset_parameter_is_found_in_any_case_and_quoting() {
        let cases = [
            ("text/html; charset=utf-8", Some("utf-8")),
            ("text/html;Charset=\"ISO-8859-1\"", Some("ISO-8859-1")),
            (
                "text/plain; format=flowed; charset='latin1'",
                Some("latin1"),
            ),
            ("text/plain", None),
        ];
        for (content_type, expected) in cases {
            assert_eq!(charset_param(content_type), expected, "{content_type}");
        }
    }
}
