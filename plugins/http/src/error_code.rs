//! [`to_tool_error`]: a wasi:http `error-code` as the [`ToolError`] the agent sees.
//!
//! The host answers every outgoing request it refuses with an `error-code`, from
//! `outgoing-handler.handle` or from the response future, and so does the network when it
//! fails. The agent needs to tell three situations apart:
//!
//! | `error-code` | tool error | message |
//! |---|---|---|
//! | `HTTP-request-denied`, `destination-IP-prohibited`, `destination-IP-unroutable` | `denied` | `egress denied: <case>` |
//! | `internal-error(r)`, `r` starting with `egress denied` (any case) | `denied` | `r`, verbatim |
//! | `HTTP-request-method-invalid` | `invalid-input` | `method: the host refused it (<case>)` |
//! | `HTTP-request-URI-invalid`, `HTTP-request-URI-too-long` | `invalid-input` | `url: the host refused it (<case>)` |
//! | `HTTP-request-header-section-size`, `HTTP-request-header-size` | `invalid-input` | `headers: the host refused them (<case>)` |
//! | `HTTP-request-body-size`, `HTTP-request-length-required` | `invalid-input` | `body: the host refused it (<case>)` |
//! | anything else (DNS, connection, TLS, timeouts, protocol, other `internal-error`s) | `failed` | `network error: <case>` |
//!
//! `<case>` is the WIT case name with its payload, as [`describe`] writes it, e.g.
//! `DNS-error (rcode NXDOMAIN)` or `internal-error: connection reset`. The [`DENIAL_PREFIX`]
//! rule is the contract with the host: `error-code` has no denial case that carries a
//! reason, and hosts (wasmtime's default client among them) also use `internal-error` for
//! plain failures, so a host that wants the agent to read why a destination is refused sends
//! `internal-error(some("egress denied: <reason>"))`.

use stockade_plugin_sdk::ToolError;
use wasip2::http::types::{ErrorCode, FieldSizePayload};

/// How an `internal-error` payload that reports a refusal starts (compared without case).
pub const DENIAL_PREFIX: &str = "egress denied";

/// The [`ToolError`] for `code`, as the module table describes.
pub fn to_tool_error(code: &ErrorCode) -> ToolError {
    let case = describe(code);
    match code {
        ErrorCode::HttpRequestDenied
        | ErrorCode::DestinationIpProhibited
        | ErrorCode::DestinationIpUnroutable => ToolError::denied(format!("egress denied: {case}")),
        ErrorCode::InternalError(Some(reason)) if is_denial(reason) => {
            ToolError::denied(reason.clone())
        }
        ErrorCode::HttpRequestMethodInvalid => {
            ToolError::invalid_input(format!("method: the host refused it ({case})"))
        }
        ErrorCode::HttpRequestUriInvalid | ErrorCode::HttpRequestUriTooLong => {
            ToolError::invalid_input(format!("url: the host refused it ({case})"))
        }
        ErrorCode::HttpRequestHeaderSectionSize(_) | ErrorCode::HttpRequestHeaderSize(_) => {
            ToolError::invalid_input(format!("headers: the host refused them ({case})"))
        }
        ErrorCode::HttpRequestBodySize(_) | ErrorCode::HttpRequestLengthRequired => {
            ToolError::invalid_input(format!("body: the host refused it ({case})"))
        }
        _ => ToolError::failed(format!("network error: {case}")),
    }
}

fn is_denial(reason: &str) -> bool {
    reason
        .trim_start()
        .get(..DENIAL_PREFIX.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(DENIAL_PREFIX))
}

/// The WIT case name of `code` with its payload, for a human.
pub fn describe(code: &ErrorCode) -> String {
    let size = |bytes: &Option<u64>| bytes.map(|b| format!(" ({b} bytes)")).unwrap_or_default();
    let size32 = |bytes: &Option<u32>| bytes.map(|b| format!(" ({b} bytes)")).unwrap_or_default();
    let text = |text: &Option<String>| text.as_ref().map(|t| format!(" ({t})")).unwrap_or_default();
    match code {
        ErrorCode::DnsTimeout => "DNS-timeout".into(),
        ErrorCode::DnsError(payload) => {
            let mut details = Vec::new();
            if let Some(rcode) = &payload.rcode {
                details.push(format!("rcode {rcode}"));
            }
            if let Some(info) = payload.info_code {
                details.push(format!("info-code {info}"));
            }
            match details.is_empty() {
                true => "DNS-error".into(),
                false => format!("DNS-error ({})", details.join(", ")),
            }
        }
        ErrorCode::DestinationNotFound => "destination-not-found".into(),
        ErrorCode::DestinationUnavailable => "destination-unavailable".into(),
        ErrorCode::DestinationIpProhibited => "destination-IP-prohibited".into(),
        ErrorCode::DestinationIpUnroutable => "destination-IP-unroutable".into(),
        ErrorCode::ConnectionRefused => "connection-refused".into(),
        ErrorCode::ConnectionTerminated => "connection-terminated".into(),
        ErrorCode::ConnectionTimeout => "connection-timeout".into(),
        ErrorCode::ConnectionReadTimeout => "connection-read-timeout".into(),
        ErrorCode::ConnectionWriteTimeout => "connection-write-timeout".into(),
        ErrorCode::ConnectionLimitReached => "connection-limit-reached".into(),
        ErrorCode::TlsProtocolError => "TLS-protocol-error".into(),
        ErrorCode::TlsCertificateError => "TLS-certificate-error".into(),
        ErrorCode::TlsAlertReceived(alert) => match (alert.alert_id, &alert.alert_message) {
            (Some(id), Some(message)) => format!("TLS-alert-received ({id}: {message})"),
            (Some(id), None) => format!("TLS-alert-received ({id})"),
            (None, message) => format!("TLS-alert-received{}", text(message)),
        },
        ErrorCode::HttpRequestDenied => "HTTP-request-denied".into(),
        ErrorCode::HttpRequestLengthRequired => "HTTP-request-length-required".into(),
        ErrorCode::HttpRequestBodySize(bytes) => format!("HTTP-request-body-size{}", size(bytes)),
        ErrorCode::HttpRequestMethodInvalid => "HTTP-request-method-invalid".into(),
        ErrorCode::HttpRequestUriInvalid => "HTTP-request-URI-invalid".into(),
        ErrorCode::HttpRequestUriTooLong => "HTTP-request-URI-too-long".into(),
        ErrorCode::HttpRequestHeaderSectionSize(bytes) => {
            format!("HTTP-request-header-section-size{}", size32(bytes))
        }
        ErrorCode::HttpRequestHeaderSize(field) => format!(
            "HTTP-request-header-size{}",
            field.as_ref().map(field_size).unwrap_or_default()
        ),
        ErrorCode::HttpRequestTrailerSectionSize(bytes) => {
            format!("HTTP-request-trailer-section-size{}", size32(bytes))
        }
        ErrorCode::HttpRequestTrailerSize(field) => {
            format!("HTTP-request-trailer-size{}", field_size(field))
        }
        ErrorCode::HttpResponseIncomplete => "HTTP-response-incomplete".into(),
        ErrorCode::HttpResponseHeaderSectionSize(bytes) => {
            format!("HTTP-response-header-section-size{}", size32(bytes))
        }
        ErrorCode::HttpResponseHeaderSize(field) => {
            format!("HTTP-response-header-size{}", field_size(field))
        }
        ErrorCode::HttpResponseBodySize(bytes) => format!("HTTP-response-body-size{}", size(bytes)),
        ErrorCode::HttpResponseTrailerSectionSize(bytes) => {
            format!("HTTP-response-trailer-section-size{}", size32(bytes))
        }
        ErrorCode::HttpResponseTrailerSize(field) => {
            format!("HTTP-response-trailer-size{}", field_size(field))
        }
        ErrorCode::HttpResponseTransferCoding(coding) => {
            format!("HTTP-response-transfer-coding{}", text(coding))
        }
        ErrorCode::HttpResponseContentCoding(coding) => {
            format!("HTTP-response-content-coding{}", text(coding))
        }
        ErrorCode::HttpResponseTimeout => "HTTP-response-timeout".into(),
        ErrorCode::HttpUpgradeFailed => "HTTP-upgrade-failed".into(),
        ErrorCode::HttpProtocolError => "HTTP-protocol-error".into(),
        ErrorCode::LoopDetected => "loop-detected".into(),
        ErrorCode::ConfigurationError => "configuration-error".into(),
        ErrorCode::InternalError(Some(reason)) => format!("internal-error: {reason}"),
        ErrorCode::InternalError(None) => "internal-error".into(),
    }
}

fn field_size(field: &FieldSizePayload) -> String {
    match (&field.field_name, field.field_size) {
        (Some(name), Some(size)) => format!(" ({name}: {size} bytes)"),
        (Some(name), None) => format!(" ({name})"),
        (None, Some(size)) => format!(" ({size} bytes)"),
        (None, None) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use wasip2::http::types::{DnsErrorPayload, TlsAlertReceivedPayload};

    use super::*;

    fn internal(reason: &str) -> ErrorCode {
        ErrorCode::InternalError(Some(reason.to_owned()))
    }

    /// The exact error an agent gets for each kind of refusal or failure.
    #[test]
    fn error_codes_map_to_kind_and_message() {
        let cases = [
            (
                "request denied",
                ErrorCode::HttpRequestDenied,
                ToolError::denied("egress denied: HTTP-request-denied"),
            ),
            (
                "ip prohibited",
                ErrorCode::DestinationIpProhibited,
                ToolError::denied("egress denied: destination-IP-prohibited"),
            ),
            (
                "ip unroutable",
                ErrorCode::DestinationIpUnroutable,
                ToolError::denied("egress denied: destination-IP-unroutable"),
            ),
            (
                "host reason with prefix kept verbatim",
                internal("egress denied: 10.0.0.5 is in a private range"),
                ToolError::denied("egress denied: 10.0.0.5 is in a private range"),
            ),
            (
                "host reason with other case",
                internal("Egress denied (no rule for evil.example:443)"),
                ToolError::denied("Egress denied (no rule for evil.example:443)"),
            ),
            (
                "reason without the prefix is a failure",
                internal("denied: port 25 is not granted"),
                ToolError::failed("network error: internal-error: denied: port 25 is not granted"),
            ),
            (
                "other internal error",
                internal("connection reset by peer"),
                ToolError::failed("network error: internal-error: connection reset by peer"),
            ),
            (
                "bare internal error",
                ErrorCode::InternalError(None),
                ToolError::failed("network error: internal-error"),
            ),
            (
                "refused",
                ErrorCode::ConnectionRefused,
                ToolError::failed("network error: connection-refused"),
            ),
            (
                "timeout",
                ErrorCode::ConnectionTimeout,
                ToolError::failed("network error: connection-timeout"),
            ),
            (
                "dns",
                ErrorCode::DnsError(DnsErrorPayload {
                    rcode: Some("NXDOMAIN".into()),
                    info_code: None,
                }),
                ToolError::failed("network error: DNS-error (rcode NXDOMAIN)"),
            ),
            (
                "tls alert",
                ErrorCode::TlsAlertReceived(TlsAlertReceivedPayload {
                    alert_id: Some(42),
                    alert_message: Some("bad certificate".into()),
                }),
                ToolError::failed("network error: TLS-alert-received (42: bad certificate)"),
            ),
            (
                "tls cert",
                ErrorCode::TlsCertificateError,
                ToolError::failed("network error: TLS-certificate-error"),
            ),
            (
                "response body size",
                ErrorCode::HttpResponseBodySize(Some(9)),
                ToolError::failed("network error: HTTP-response-body-size (9 bytes)"),
            ),
            (
                "response header size",
                ErrorCode::HttpResponseHeaderSize(FieldSizePayload {
                    field_name: Some("set-cookie".into()),
                    field_size: Some(70000),
                }),
                ToolError::failed(
                    "network error: HTTP-response-header-size (set-cookie: 70000 bytes)",
                ),
            ),
            (
                "uri invalid",
                ErrorCode::HttpRequestUriInvalid,
                ToolError::invalid_input("url: the host refused it (HTTP-request-URI-invalid)"),
            ),
            (
                "method invalid",
                ErrorCode::HttpRequestMethodInvalid,
                ToolError::invalid_input(
                    "method: the host refused it (HTTP-request-method-invalid)",
                ),
            ),
            (
                "body size",
                ErrorCode::HttpRequestBodySize(None),
                ToolError::invalid_input("body: the host refused it (HTTP-request-body-size)"),
            ),
            (
                "header size",
                ErrorCode::HttpRequestHeaderSize(None),
                ToolError::invalid_input(
                    "headers: the host refused them (HTTP-request-header-size)",
                ),
            ),
        ];
        for (name, code, expected) in cases {
            assert_eq!(to_tool_error(&code), expected, "{name}");
        }
    }
}
