//! The tools a plugin would use to get data out past the host's egress policy: a raw
//! wasi:http request (`http_get`), a DNS lookup (`resolve`, which can leak data in the name
//! and reveal internal addresses) and a UDP datagram (`udp_send`). `connect` (TCP) lives in
//! the crate root with the older tools.
//!
//! Nothing is checked or normalized here: URLs, names and addresses go to the host exactly
//! as given, so the host's tests see what a malicious plugin could send. Refusals come back
//! with the host's error code verbatim in the message, so tests can assert on it:
//!
//! - `http_get`: the wasi:http `error-code` as the bindings print it (`{:?}`), e.g.
//!   `ErrorCode::HttpRequestDenied` or `ErrorCode::InternalError(Some("egress denied: ..."))`;
//!   kind `denied` for `HTTP-request-denied`, `destination-IP-prohibited` and
//!   `destination-IP-unroutable`, `failed` for the rest;
//! - `resolve`: `resolve <name>: <wasi:sockets error-code name>`, e.g. `access-denied`
//!   (kind `denied`) or `name-unresolvable` (kind `failed`);
//! - `udp_send`: the `std::io` error, mapped by [`ToolError::from_io`] (a sandbox refusal is
//!   `permission denied`, kind `denied`).
//!
//! `resolve` uses the raw `wasi:sockets/ip-name-lookup` binding because std's resolver hides
//! the error code behind a `getaddrinfo` message; `udp_send` and `connect` use `std::net`,
//! which is wasi:sockets underneath on `wasm32-wasip2`.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs as _, UdpSocket};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use stockade_plugin_sdk::{IoResultExt, ToolError};
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingResponse, Method, OutgoingBody, OutgoingRequest, Scheme,
};
use wasip2::io::streams::StreamError;
use wasip2::sockets::instance_network::instance_network;
use wasip2::sockets::ip_name_lookup::resolve_addresses;
use wasip2::sockets::network::{self, IpAddress};

/// `http_get` returns at most this many body bytes.
pub const HTTP_BODY_LIMIT: usize = 64 * 1024;

/// Input of `http_get`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct HttpGetInput {
    /// `scheme://authority/path?query`, sent unparsed: the scheme, the authority (everything
    /// up to the first `/`) and the rest are handed to wasi:http as written.
    pub url: String,
    /// Request headers as `[name, value]` pairs, e.g. `["Host", "internal"]`.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
}

/// Output of `http_get`.
#[derive(Debug, Serialize)]
pub struct HttpGot {
    /// HTTP status code.
    pub status: u16,
    /// The first 64 KiB of the body, UTF-8 lossy.
    pub body: String,
    /// The `location` header, for a redirect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// Input of `resolve`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ResolveInput {
    /// The name to look up.
    pub name: String,
}

/// Output of `resolve`.
#[derive(Debug, Serialize)]
pub struct Resolved {
    /// The addresses, in the order the host gave them.
    pub addresses: Vec<String>,
}

/// Input of `udp_send`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct UdpSendInput {
    /// `ip:port` or `host:port` to send the datagram to.
    pub addr: String,
    /// The datagram's content.
    pub payload: String,
}

/// Output of `udp_send`.
#[derive(Debug, Serialize)]
pub struct UdpSent {
    /// The address the datagram went to.
    pub to: String,
    /// Bytes sent.
    pub bytes: usize,
}

/// Splits `scheme://authority/rest` without validating any part.
fn split_url(url: &str) -> Result<(Scheme, &str, &str), ToolError> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| ToolError::invalid_input("url: needs scheme://authority"))?;
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => Scheme::Other(other.to_owned()),
    };
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, "/"),
    };
    Ok((scheme, authority, path))
}

fn http_error(code: &ErrorCode) -> ToolError {
    let message = format!("{code:?}");
    match code {
        ErrorCode::HttpRequestDenied
        | ErrorCode::DestinationIpProhibited
        | ErrorCode::DestinationIpUnroutable => ToolError::denied(message),
        _ => ToolError::failed(message),
    }
}

pub(crate) fn http_get(input: HttpGetInput) -> Result<HttpGot, ToolError> {
    let (scheme, authority, path) = split_url(&input.url)?;
    let headers: Vec<(String, Vec<u8>)> = input
        .headers
        .into_iter()
        .map(|(name, value)| (name, value.into_bytes()))
        .collect();
    let fields = Fields::from_list(&headers)
        .map_err(|err| ToolError::invalid_input(format!("headers: {err:?}")))?;
    let request = OutgoingRequest::new(fields);
    let refused = |what: &str| ToolError::invalid_input(format!("url: set-{what} refused"));
    request
        .set_method(&Method::Get)
        .map_err(|()| refused("method"))?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| refused("scheme"))?;
    request
        .set_authority(Some(authority))
        .map_err(|()| refused("authority"))?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| refused("path-with-query"))?;
    let body = request
        .body()
        .map_err(|()| ToolError::failed("request body already taken"))?;
    let future = outgoing_handler::handle(request, None).map_err(|code| http_error(&code))?;
    OutgoingBody::finish(body, None).map_err(|code| http_error(&code))?;
    let response = loop {
        match future.get() {
            Some(Ok(Ok(response))) => break response,
            Some(Ok(Err(code))) => return Err(http_error(&code)),
            Some(Err(())) => return Err(ToolError::failed("response already taken")),
            None => future.subscribe().block(),
        }
    };
    read_response(response)
}

fn read_response(response: IncomingResponse) -> Result<HttpGot, ToolError> {
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .first()
        .map(|value| String::from_utf8_lossy(value).into_owned());
    let body = response
        .consume()
        .map_err(|()| ToolError::failed("response body already taken"))?;
    let stream = body
        .stream()
        .map_err(|()| ToolError::failed("response body stream already taken"))?;
    let mut bytes = Vec::new();
    while bytes.len() < HTTP_BODY_LIMIT {
        let want = (HTTP_BODY_LIMIT - bytes.len()) as u64;
        match stream.blocking_read(want) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(err)) => {
                return Err(match wasip2::http::types::http_error_code(&err) {
                    Some(code) => http_error(&code),
                    None => ToolError::failed(err.to_debug_string()),
                });
            }
        }
    }
    drop(stream);
    drop(body);
    Ok(HttpGot {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
        location,
    })
}

pub(crate) fn resolve(input: ResolveInput) -> Result<Resolved, ToolError> {
    let failed = |code: network::ErrorCode| {
        let message = format!("resolve {}: {}", input.name, code.name());
        match code {
            network::ErrorCode::AccessDenied => ToolError::denied(message),
            _ => ToolError::failed(message),
        }
    };
    let network = instance_network();
    let stream = resolve_addresses(&network, &input.name).map_err(failed)?;
    let mut addresses = Vec::new();
    loop {
        match stream.resolve_next_address() {
            Ok(Some(address)) => addresses.push(format_ip(address)),
            Ok(None) => break,
            Err(network::ErrorCode::WouldBlock) => stream.subscribe().block(),
            Err(code) => return Err(failed(code)),
        }
    }
    Ok(Resolved { addresses })
}

fn format_ip(address: IpAddress) -> String {
    match address {
        IpAddress::Ipv4((a, b, c, d)) => Ipv4Addr::new(a, b, c, d).to_string(),
        IpAddress::Ipv6((a, b, c, d, e, f, g, h)) => {
            Ipv6Addr::new(a, b, c, d, e, f, g, h).to_string()
        }
    }
}

pub(crate) fn udp_send(input: UdpSendInput) -> Result<UdpSent, ToolError> {
    let context = || format!("udp_send {}", input.addr);
    let to = input
        .addr
        .to_socket_addrs()
        .tool_context(context)?
        .next()
        .ok_or_else(|| ToolError::not_found(format!("udp_send {}: no address", input.addr)))?;
    let local: SocketAddr = match to {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).tool_context(context)?;
    let bytes = socket
        .send_to(input.payload.as_bytes(), to)
        .tool_context(context)?;
    Ok(UdpSent {
        to: to.to_string(),
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_without_validation() {
        let cases = [
            ("http://127.0.0.1:8080/a?b", "127.0.0.1:8080", "/a?b"),
            ("https://user@evil.example", "user@evil.example", "/"),
            ("gopher://[::1]:70/x", "[::1]:70", "/x"),
        ];
        for (url, authority, path) in cases {
            let (_, a, p) = split_url(url).unwrap();
            assert_eq!((a, p), (authority, path), "{url}");
        }
        assert!(matches!(
            split_url("not a url"),
            Err(ToolError::InvalidInput(_))
        ));
    }

    #[test]
    fn http_errors_carry_the_code_verbatim() {
        assert_eq!(
            http_error(&ErrorCode::HttpRequestDenied),
            ToolError::denied("ErrorCode::HttpRequestDenied")
        );
        assert_eq!(
            http_error(&ErrorCode::InternalError(Some("egress denied: x".into()))),
            ToolError::failed("ErrorCode::InternalError(Some(\"egress denied: x\"))")
        );
    }

    #[test]
    fn addresses_print_like_std() {
        assert_eq!(format_ip(IpAddress::Ipv4((10, 0, 0, 1))), "10.0.0.1");
        assert_eq!(format_ip(IpAddress::Ipv6((0, 0, 0, 0, 0, 0, 0, 1))), "::1");
    }
}
