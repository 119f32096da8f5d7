//! The tools' inputs ([`Fetch`], [`FetchText`]) and their validation into a [`Request`].
//!
//! Everything an agent can get wrong is refused here, before any I/O, as `invalid-input`
//! naming the field: a bad URL (see [`crate::url`]), a method that is not an HTTP token, a
//! header name or value that would not survive the trip (control characters could smuggle a
//! second header), headers the HTTP client owns (`Host`, `Content-Length`, hop-by-hop), a body
//! over 1 MiB.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use stockade_plugin_sdk::ToolError;

use crate::url::{self, Url};

/// `fetch` returns at most this many body bytes unless `max_bytes` says otherwise.
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024;
/// The most body bytes `fetch` returns, whatever `max_bytes` says.
pub const MAX_BYTES_CAP: u64 = 1024 * 1024;
/// The largest request body `fetch` sends.
pub const MAX_REQUEST_BODY: usize = 1024 * 1024;
/// `fetch_text` returns at most this many characters unless `max_chars` says otherwise.
pub const DEFAULT_MAX_CHARS: u64 = 64 * 1024;
/// The most characters `fetch_text` returns, whatever `max_chars` says.
pub const MAX_CHARS_CAP: u64 = 256 * 1024;

const MAX_HEADERS: usize = 100;
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Headers the HTTP client sets itself, from the URL and the body, or that only make sense
/// for one connection hop. `Host` in particular must come from the URL: it is what the
/// host's egress policy checked.
const CLIENT_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "upgrade",
    "te",
    "trailer",
    "http2-settings",
];

/// Sent when the caller sets no `User-Agent`: some sites refuse requests without one.
pub const USER_AGENT: &str = concat!("stockade-plugin-http/", env!("CARGO_PKG_VERSION"));

/// Input of `fetch`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fetch {
    /// Absolute `http://` or `https://` URL. The fragment (`#...`) is not sent.
    pub url: String,
    /// HTTP method, e.g. `GET`, `POST`, `PUT`, `DELETE`, `HEAD` (default `GET`).
    #[serde(default)]
    pub method: Option<String>,
    /// Request headers: an object `{"Accept": "application/json"}`, or a list of
    /// `["name", "value"]` pairs to repeat a name. `Host`, `Content-Length` and hop-by-hop
    /// headers are set by the client.
    #[serde(default)]
    pub headers: Option<HeaderList>,
    /// Request body as text (at most 1 MiB), sent with a `Content-Length`.
    #[serde(default)]
    pub body: Option<String>,
    /// Most bytes of the response body to return (default 262144 = 256 KiB; values above
    /// 1048576 = 1 MiB are lowered to it).
    #[serde(default)]
    pub max_bytes: Option<u64>,
}

/// Input of `fetch_text`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FetchText {
    /// Absolute `http://` or `https://` URL of a web page or text file.
    pub url: String,
    /// Most characters of text to return (default 65536; values above 262144 are lowered to
    /// it).
    #[serde(default)]
    pub max_chars: Option<u64>,
}

/// Request headers as given, in order: from an object or from a list of pairs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeaderList(pub Vec<(String, String)>);

// The schema of `HeaderList`: the two shapes its deserializer accepts. (A doc comment here
// would become the schema's description, which the agent reads; the field's is enough.)
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Only its schema is used.
enum HeaderListSchema {
    /// Header names to values.
    Object(BTreeMap<String, String>),
    /// `[name, value]` pairs, for repeated names.
    Pairs(Vec<(String, String)>),
}

impl JsonSchema for HeaderList {
    fn schema_name() -> Cow<'static, str> {
        "HeaderList".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        HeaderListSchema::json_schema(generator)
    }
}

impl<'de> Deserialize<'de> for HeaderList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HeaderListVisitor;

        impl<'de> Visitor<'de> for HeaderListVisitor {
            type Value = HeaderList;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of header names to values, or a list of [name, value] pairs")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HeaderList, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry::<String, String>()? {
                    pairs.push(pair);
                }
                Ok(HeaderList(pairs))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<HeaderList, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = seq.next_element::<(String, String)>()? {
                    pairs.push(pair);
                }
                Ok(HeaderList(pairs))
            }
        }

        deserializer.deserialize_any(HeaderListVisitor)
    }
}

/// A checked request, ready for the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Uppercase method token.
    pub method: String,
    /// Where to send it.
    pub url: Url,
    /// Lowercase names, in order, including the ones the plugin adds.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body; empty for none.
    pub body: Vec<u8>,
}

impl Request {
    /// A `GET` of `url` with the plugin's `User-Agent` and `accept`.
    pub fn get(url: Url, accept: &str) -> Self {
        Request {
            method: "GET".to_owned(),
            url,
            headers: vec![
                ("accept".to_owned(), accept.as_bytes().to_vec()),
                ("user-agent".to_owned(), USER_AGENT.as_bytes().to_vec()),
            ],
            body: Vec::new(),
        }
    }
}

impl Fetch {
    /// Validates the input: the request to send, and how many body bytes to return.
    pub fn into_request(self) -> Result<(Request, usize), ToolError> {
        let url = url::parse("url", &self.url)?;
        let method = method(self.method.as_deref())?;
        let mut headers = headers(self.headers.unwrap_or_default())?;
        if !headers.iter().any(|(name, _)| name == "user-agent") {
            headers.push(("user-agent".to_owned(), USER_AGENT.as_bytes().to_vec()));
        }
        let body = self.body.map(String::into_bytes);
        if let Some(body) = &body {
            if body.len() > MAX_REQUEST_BODY {
                return Err(ToolError::invalid_input(format!(
                    "body: {} bytes is over the 1 MiB limit",
                    body.len()
                )));
            }
            headers.push((
                "content-length".to_owned(),
                body.len().to_string().into_bytes(),
            ));
        }
        let max_bytes = self
            .max_bytes
            .unwrap_or(DEFAULT_MAX_BYTES)
            .min(MAX_BYTES_CAP);
        let request = Request {
            method,
            url,
            headers,
            body: body.unwrap_or_default(),
        };
        Ok((request, usize::try_from(max_bytes).unwrap_or(usize::MAX)))
    }
}

fn method(value: Option<&str>) -> Result<String, ToolError> {
    let method = value.map_or("GET", str::trim);
    if method.is_empty() || method.len() > 32 || !method.bytes().all(is_token) {
        return Err(ToolError::invalid_input(format!(
            "method: {method:?} is not an HTTP method (letters, e.g. GET or POST)"
        )));
    }
    let method = method.to_ascii_uppercase();
    if method == "CONNECT" {
        return Err(ToolError::invalid_input(
            "method: CONNECT (tunnelling) is not supported",
        ));
    }
    Ok(method)
}

/// RFC 9110 `tchar`: what a method or header name may contain.
fn is_token(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

fn headers(list: HeaderList) -> Result<Vec<(String, Vec<u8>)>, ToolError> {
    let bad = |why: String| ToolError::invalid_input(format!("headers: {why}"));
    if list.0.len() > MAX_HEADERS {
        return Err(bad(format!("more than {MAX_HEADERS} headers")));
    }
    let total: usize = list.0.iter().map(|(n, v)| n.len() + v.len()).sum();
    if total > MAX_HEADER_BYTES {
        return Err(bad(format!("more than {MAX_HEADER_BYTES} bytes in all")));
    }
    let mut checked = Vec::with_capacity(list.0.len() + 2);
    for (name, value) in list.0 {
        if name.is_empty() || !name.bytes().all(is_token) {
            return Err(bad(format!("{name:?} is not a valid header name")));
        }
        let name = name.to_ascii_lowercase();
        if CLIENT_HEADERS.contains(&name.as_str()) {
            return Err(bad(format!(
                "`{name}` is set by the HTTP client (from the URL and body); remove it"
            )));
        }
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return Err(bad(format!(
                "the value of `{name}` contains a control character (newline, NUL, ...)"
            )));
        }
        checked.push((name, value.trim().as_bytes().to_vec()));
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fetch(input: serde_json::Value) -> Result<(Request, usize), ToolError> {
        match serde_json::from_value::<Fetch>(input.clone()) {
            Ok(fetch) => fetch.into_request(),
            Err(err) => panic!("{input}: {err}"),
        }
    }

    fn header_names(request: &Request) -> Vec<(&str, &str)> {
        request
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), std::str::from_utf8(v).unwrap_or("<bytes>")))
            .collect()
    }

    #[test]
    fn defaults_are_get_with_user_agent_and_256_kib() {
        let (request, max_bytes) = fetch(json!({"url": "https://example.com"})).unwrap();
        assert_eq!(request.method, "GET");
        assert_eq!(request.url.to_string(), "https://example.com/");
        assert_eq!(header_names(&request), [("user-agent", USER_AGENT)]);
        assert!(request.body.is_empty());
        assert_eq!(max_bytes, 256 * 1024);
    }

    #[test]
    fn headers_come_as_object_or_pairs_in_order() {
        let cases = [
            ("object", json!({"Accept": "text/plain", "X-A": " 1 "})),
            ("pairs", json!([["Accept", "text/plain"], ["x-a", "1"]])),
        ];
        for (name, headers) in cases {
            let input = json!({"url": "http://a.example/", "headers": headers});
            let (request, _) = fetch(input).unwrap();
            assert_eq!(
                header_names(&request),
                [
                    ("accept", "text/plain"),
                    ("x-a", "1"),
                    ("user-agent", USER_AGENT)
                ],
                "{name}"
            );
        }
        let repeated = json!({"url": "http://a.example/", "headers": [["a", "1"], ["a", "2"]],
                              "method": "post", "body": "hi", "max_bytes": 5_000_000});
        let (request, max_bytes) = fetch(repeated).unwrap();
        assert_eq!(request.method, "POST");
        assert_eq!(request.body, b"hi");
        assert_eq!(
            header_names(&request),
            [
                ("a", "1"),
                ("a", "2"),
                ("user-agent", USER_AGENT),
                ("content-length", "2")
            ]
        );
        assert_eq!(max_bytes, 1024 * 1024, "max_bytes is capped");
        let custom_agent = json!({"url": "http://a.example/", "headers": {"User-Agent": "me"}});
        assert_eq!(
            header_names(&fetch(custom_agent).unwrap().0),
            [("user-agent", "me")]
        );
    }

    /// Through the tool's full dispatch, so serde's messages count too.
    #[test]
    fn bad_input_names_the_field() {
        let long_body = "x".repeat(MAX_REQUEST_BODY + 1);
        let many: Vec<(String, String)> = (0..=MAX_HEADERS)
            .map(|i| (format!("x-{i}"), String::new()))
            .collect();
        let cases = [
            ("missing url", json!({}), "missing field `url`"),
            (
                "url type",
                json!({"url": 1}),
                "url: invalid type: integer `1`",
            ),
            (
                "bad url",
                json!({"url": "example.com"}),
                "url: must be an absolute URL",
            ),
            (
                "method with space",
                json!({"url": "http://a.example/", "method": "GE T"}),
                "method: \"GE T\" is not an HTTP method",
            ),
            (
                "empty method",
                json!({"url": "http://a.example/", "method": ""}),
                "method: \"\" is not",
            ),
            (
                "method with newline",
                json!({"url": "http://a.example/", "method": "GET\r\nX"}),
                "method: ",
            ),
            (
                "connect",
                json!({"url": "http://a.example/", "method": "connect"}),
                "method: CONNECT",
            ),
            (
                "headers type",
                json!({"url": "http://a.example/", "headers": "a: b"}),
                "headers: invalid type: string \"a: b\", expected an object of header names",
            ),
            (
                "header value type",
                json!({"url": "http://a.example/", "headers": {"a": 1}}),
                "headers.a: invalid type: integer `1`",
            ),
            (
                "short pair",
                json!({"url": "http://a.example/", "headers": [["a"]]}),
                "headers[0]: invalid length 1",
            ),
            (
                "header name space",
                json!({"url": "http://a.example/", "headers": {"a b": "c"}}),
                "headers: \"a b\" is not a valid header name",
            ),
            (
                "header name colon",
                json!({"url": "http://a.example/", "headers": {"a:": "c"}}),
                "headers: \"a:\" is not a valid header name",
            ),
            (
                "empty header name",
                json!({"url": "http://a.example/", "headers": {"": "c"}}),
                "headers: \"\" is not",
            ),
            (
                "header injection",
                json!({"url": "http://a.example/", "headers": {"x": "1\r\nHost: evil"}}),
                "headers: the value of `x` contains a control character",
            ),
            (
                "nul in value",
                json!({"url": "http://a.example/", "headers": {"x": "a\u{0}"}}),
                "headers: the value of `x` contains",
            ),
            (
                "host header",
                json!({"url": "http://a.example/", "headers": {"Host": "internal"}}),
                "headers: `host` is set by the HTTP client",
            ),
            (
                "content-length",
                json!({"url": "http://a.example/", "headers": [["Content-Length", "5"]]}),
                "headers: `content-length` is set",
            ),
            (
                "transfer-encoding",
                json!({"url": "http://a.example/", "headers": {"transfer-encoding": "chunked"}}),
                "headers: `transfer-encoding`",
            ),
            (
                "too many headers",
                json!({"url": "http://a.example/", "headers": many}),
                "headers: more than 100 headers",
            ),
            (
                "huge header",
                json!({"url": "http://a.example/", "headers": {"x": "v".repeat(MAX_HEADER_BYTES)}}),
                "headers: more than 65536 bytes",
            ),
            (
                "body too big",
                json!({"url": "http://a.example/", "method": "POST", "body": long_body}),
                "body: 1048577 bytes is over the 1 MiB limit",
            ),
            (
                "body type",
                json!({"url": "http://a.example/", "body": {"a": 1}}),
                "body: invalid type: map",
            ),
            (
                "negative max_bytes",
                json!({"url": "http://a.example/", "max_bytes": -1}),
                "max_bytes: invalid value: integer `-1`",
            ),
            (
                "unknown field",
                json!({"url": "http://a.example/", "follow": true}),
                "follow: unknown field `follow`",
            ),
        ];
        for (name, input, needle) in cases {
            match crate::tools().call("fetch", &input.to_string()) {
                Err(ToolError::InvalidInput(message)) => {
                    assert!(message.starts_with(needle), "{name}: {message}");
                }
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}
