//! Sending a [`Request`] and reading its [`Response`]: the [`Transport`] trait, and
//! [`WasiHttp`], which sends through the host's `wasi:http/outgoing-handler`.
//!
//! The host sees every request there and applies the operator's egress policy before any
//! byte leaves; a refusal comes back as an `error-code` ([`crate::error_code`]). One request
//! is one hop: nothing here follows redirects, so the host checks each hop the agent chooses
//! to take as a request of its own. All waiting is `pollable.block()`, since a tool call is
//! synchronous.

use stockade_plugin_sdk::ToolError;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    self as http, Fields, FutureIncomingResponse, HeaderError, IncomingResponse, Method,
    OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasip2::io::streams::StreamError;

use crate::error_code::{self, describe};
use crate::request::Request;
use crate::url;

/// How long to wait for a connection; the host's deadline for the whole call may be shorter.
const CONNECT_TIMEOUT_NS: u64 = 10_000_000_000;
/// How long to wait for the response to start, and between two chunks of the body.
const READ_TIMEOUT_NS: u64 = 30_000_000_000;
/// Bytes per `blocking-write-and-flush`, the most that call accepts.
const WRITE_CHUNK: usize = 4096;
/// Bytes per `blocking-read`.
const READ_CHUNK: u64 = 64 * 1024;

/// A response: status, headers and at most the body bytes asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Header names (lowercase, as the host reports them) and raw values, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The first `max_body` bytes of the body.
    pub body: Vec<u8>,
    /// Whether the body went on past `max_body` bytes.
    pub truncated: bool,
}

impl Response {
    /// The first value of header `name` (any case), as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
    }
}

/// Sends one request and returns its response, body capped at `max_body` bytes.
pub trait Transport {
    /// Sends `request`; reads at most `max_body` bytes of the body (plus one, to know whether
    /// it was [`Response::truncated`]). Errors are what the agent should see.
    fn send(&self, request: &Request, max_body: usize) -> Result<Response, ToolError>;
}

/// Keeps the first `max` bytes of `body` and says whether there were more.
pub fn cap(mut body: Vec<u8>, max: usize) -> (Vec<u8>, bool) {
    let truncated = body.len() > max;
    body.truncate(max);
    (body, truncated)
}

/// The real transport: the host's `wasi:http/outgoing-handler`.
#[derive(Debug, Clone, Copy, Default)]
pub struct WasiHttp;

impl Transport for WasiHttp {
    fn send(&self, request: &Request, max_body: usize) -> Result<Response, ToolError> {
        let outgoing = outgoing_request(request)?;
        let body = outgoing
            .body()
            .map_err(|()| ToolError::failed("network error: the request body was already taken"))?;
        let future = outgoing_handler::handle(outgoing, Some(options()))
            .map_err(|code| error_code::to_tool_error(&code))?;
        // The body goes out after `handle`: the host may only start draining it once it has
        // the request, and a refused request makes the write fail, not hang.
        let written = write_body(body, &request.body);
        let response = wait(&future)?;
        written?;
        read_response(response, max_body)
    }
}

fn outgoing_request(request: &Request) -> Result<OutgoingRequest, ToolError> {
    let headers = Fields::from_list(&request.headers).map_err(|err| match err {
        HeaderError::Forbidden => {
            ToolError::invalid_input("headers: the host forbids one of these header names")
        }
        HeaderError::InvalidSyntax | HeaderError::Immutable => {
            ToolError::invalid_input("headers: the host refused a header name or value")
        }
    })?;
    let outgoing = OutgoingRequest::new(headers);
    let method = match request.method.as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "PATCH" => Method::Patch,
        other => Method::Other(other.to_owned()),
    };
    let refused = |field: &str| ToolError::invalid_input(format!("{field}: the host refused it"));
    outgoing
        .set_method(&method)
        .map_err(|()| refused("method"))?;
    let scheme = match request.url.scheme {
        url::Scheme::Http => Scheme::Http,
        url::Scheme::Https => Scheme::Https,
    };
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|()| refused("url"))?;
    outgoing
        .set_authority(Some(&request.url.authority()))
        .map_err(|()| refused("url"))?;
    outgoing
        .set_path_with_query(Some(&request.url.path_and_query))
        .map_err(|()| refused("url"))?;
    Ok(outgoing)
}

fn options() -> RequestOptions {
    let options = RequestOptions::new();
    // A host that does not support a timeout says so with an error; its defaults then apply.
    let _ = options.set_connect_timeout(Some(CONNECT_TIMEOUT_NS));
    let _ = options.set_first_byte_timeout(Some(READ_TIMEOUT_NS));
    let _ = options.set_between_bytes_timeout(Some(READ_TIMEOUT_NS));
    options
}

/// Writes the whole body and finishes it (an unfinished body would cancel the request).
fn write_body(body: OutgoingBody, bytes: &[u8]) -> Result<(), ToolError> {
    {
        // The stream is a child of the body and must be gone before `finish`.
        let stream = body
            .write()
            .map_err(|()| ToolError::failed("network error: the request body was already taken"))?;
        for chunk in bytes.chunks(WRITE_CHUNK) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|err| stream_error("sending the request body", err))?;
        }
    }
    OutgoingBody::finish(body, None).map_err(|code| error_code::to_tool_error(&code))
}

fn wait(future: &FutureIncomingResponse) -> Result<IncomingResponse, ToolError> {
    loop {
        match future.get() {
            Some(Ok(Ok(response))) => return Ok(response),
            Some(Ok(Err(code))) => return Err(error_code::to_tool_error(&code)),
            Some(Err(())) => {
                return Err(ToolError::failed(
                    "network error: the response was already taken",
                ));
            }
            None => future.subscribe().block(),
        }
    }
}

fn read_response(response: IncomingResponse, max_body: usize) -> Result<Response, ToolError> {
    let status = response.status();
    let headers = response.headers().entries();
    let body = response
        .consume()
        .map_err(|()| ToolError::failed("network error: the response body was already taken"))?;
    let stream = body
        .stream()
        .map_err(|()| ToolError::failed("network error: the response body was already taken"))?;
    let limit = max_body.saturating_add(1);
    let mut bytes = Vec::new();
    while bytes.len() < limit {
        let want = u64::try_from(limit - bytes.len()).map_or(READ_CHUNK, |n| n.min(READ_CHUNK));
        match stream.blocking_read(want) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(err) => return Err(stream_error("reading the response body", err)),
        }
    }
    // Children before parents: the stream, then the body (unfinished when truncated, which
    // tells the host to stop receiving), then the response.
    drop(stream);
    drop(body);
    drop(response);
    let (body, truncated) = cap(bytes, max_body);
    Ok(Response {
        status,
        headers,
        body,
        truncated,
    })
}

/// A failed stream operation, with the `error-code` behind it when the host gives one.
fn stream_error(doing: &str, err: StreamError) -> ToolError {
    match err {
        StreamError::Closed => ToolError::failed(format!("network error: {doing}: stream closed")),
        StreamError::LastOperationFailed(io) => match http::http_error_code(&io) {
            Some(code) => match error_code::to_tool_error(&code) {
                ToolError::Failed(_) => {
                    ToolError::failed(format!("network error: {doing}: {}", describe(&code)))
                }
                refused => refused,
            },
            None => ToolError::failed(format!("network error: {doing}: {}", io.to_debug_string())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_keeps_the_limit_and_reports_more() {
        assert_eq!(cap(b"abc".to_vec(), 3), (b"abc".to_vec(), false));
        assert_eq!(cap(b"abcd".to_vec(), 3), (b"abc".to_vec(), true));
        assert_eq!(cap(b"a".to_vec(), 0), (Vec::new(), true));
        assert_eq!(cap(Vec::new(), 0), (Vec::new(), false));
    }

    #[test]
    fn header_lookup_ignores_case() {
        let response = Response {
            status: 200,
            headers: vec![
                ("Content-Type".into(), b"text/html".to_vec()),
                ("content-type".into(), b"text/plain".to_vec()),
            ],
            body: Vec::new(),
            truncated: false,
        };
        assert_eq!(
            response.header("content-type").as_deref(),
            Some("text/html")
        );
        assert_eq!(response.header("location"), None);
    }
}
