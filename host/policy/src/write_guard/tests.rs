use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use http::header::{AUTHORIZATION, HeaderName, HeaderValue};

use super::*;

const TOKEN: &str = "s3cret-write-token-0123456789";
const LOOPBACK4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const LOOPBACK6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
const REMOTE: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));

fn mapped(v4: Ipv4Addr) -> IpAddr {
    IpAddr::V6(v4.to_ipv6_mapped())
}

/// Header name/value pairs of a table row.
type Headers<'a> = Vec<(&'a str, &'a [u8])>;

fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_bytes(value).expect("header value"),
        );
    }
    map
}

fn guard(with_token: bool) -> WriteGuard {
    WriteGuard::new(with_token.then(|| WriteToken::new(TOKEN).expect("valid token")))
}

/// A short label for an outcome, so table rows stay on one line.
fn label(outcome: &GuardOutcome) -> String {
    match outcome {
        GuardOutcome::Allowed { reason } => format!("allowed:{reason:?}"),
        GuardOutcome::Webhook => "webhook".into(),
        GuardOutcome::Denied(err) => format!("{}:{}", err.status(), err.code()),
    }
}

#[test]
fn write_token_header_name() {
    assert_eq!(WRITE_TOKEN_HEADER, "x-stockade-write-token");
    // `from_static` panics unless the name is valid and lowercase.
    assert_eq!(
        HeaderName::from_static(WRITE_TOKEN_HEADER),
        "X-Stockade-Write-Token"
    );
}

#[test]
fn write_guard_table() {
    const WT: &str = WRITE_TOKEN_HEADER;
    const AUTH: &str = "authorization";
    let token = TOKEN.as_bytes();
    let garbage = format!("{TOKEN}x");
    let trailing_word = format!("{TOKEN} extra");
    let prefix = &TOKEN[..TOKEN.len() - 1];
    let inner_space = format!("{} {}", &TOKEN[..8], &TOKEN[8..]);
    let inner_tab = format!("{}\t{}", &TOKEN[..8], &TOKEN[8..]);
    let padded = format!(" {TOKEN}\t");
    let with_scheme = format!("Bearer {TOKEN}");
    // The write token sent the old way, in `Authorization`: none of these count.
    let bearer = format!("Bearer {TOKEN}");
    let lower = format!("bearer {TOKEN}");
    let upper = format!("BEARER {TOKEN}");
    let two_spaces = format!("Bearer  {TOKEN}");
    let basic = format!("Basic {TOKEN}");
    let no_space = format!("Bearer{TOKEN}");
    let user_api: &[u8] = b"Bearer user-api-token";
    let post = Method::POST;
    // (case, token configured, method, peer, headers, expected)
    #[rustfmt::skip]
    let cases: Vec<(&str, bool, Method, IpAddr, Headers, &str)> = vec![
        // Row 1: loopback, no forwarding headers.
        ("loopback v4, no token configured", false, post.clone(), LOOPBACK4, vec![], "allowed:Loopback"),
        ("loopback 127.5.6.7", false, post.clone(), IpAddr::V4(Ipv4Addr::new(127, 5, 6, 7)), vec![], "allowed:Loopback"),
        ("loopback v6 ::1", false, post.clone(), LOOPBACK6, vec![], "allowed:Loopback"),
        ("loopback mapped ::ffff:127.0.0.1", false, post.clone(), mapped(Ipv4Addr::LOCALHOST), vec![], "allowed:Loopback"),
        ("loopback with token configured, no write token header", true, post.clone(), LOOPBACK4, vec![], "allowed:Loopback"),
        ("loopback with unrelated Authorization (user API token)", true, post.clone(), LOOPBACK4, vec![(AUTH, user_api)], "allowed:Loopback"),
        ("loopback with a wrong write token header", true, post.clone(), LOOPBACK4, vec![(WT, b"wrong-token-0123456789")], "allowed:Loopback"),
        // Row 2: non-loopback, no write token configured.
        ("remote v4, no token", false, post.clone(), REMOTE, vec![], "403:write_forbidden"),
        ("remote v4 with a write token header, no token", false, post.clone(), REMOTE, vec![(WT, token)], "403:write_forbidden"),
        ("remote v6, no token", false, post.clone(), "2001:db8::1".parse().expect("ip"), vec![], "403:write_forbidden"),
        ("mapped remote, no token", false, post.clone(), mapped(Ipv4Addr::new(203, 0, 113, 7)), vec![], "403:write_forbidden"),
        ("ipv4-compatible ::127.0.0.1 is not loopback", false, post.clone(), "::127.0.0.1".parse().expect("ip"), vec![], "403:write_forbidden"),
        ("unspecified 0.0.0.0 is not loopback", false, post.clone(), IpAddr::V4(Ipv4Addr::UNSPECIFIED), vec![], "403:write_forbidden"),
        ("unspecified :: is not loopback", false, post.clone(), IpAddr::V6(Ipv6Addr::UNSPECIFIED), vec![], "403:write_forbidden"),
        ("private 10.0.0.1 is not loopback", false, post.clone(), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), vec![], "403:write_forbidden"),
        // Row 3: token configured, valid X-Stockade-Write-Token.
        ("remote, valid write token", true, post.clone(), REMOTE, vec![(WT, token)], "allowed:WriteToken"),
        ("remote, valid write token, header name in mixed case", true, post.clone(), REMOTE, vec![("X-Stockade-Write-Token", token)], "allowed:WriteToken"),
        ("remote, valid write token and a user API bearer", true, post.clone(), REMOTE, vec![(AUTH, user_api), (WT, token)], "allowed:WriteToken"),
        ("remote, valid write token and two junk Authorization headers", true, post.clone(), REMOTE, vec![(AUTH, b"Basic x"), (AUTH, b"Bearer"), (WT, token)], "allowed:WriteToken"),
        ("remote, valid write token with surrounding space/tab", true, post.clone(), REMOTE, vec![(WT, padded.as_bytes())], "allowed:WriteToken"),
        ("forwarded loopback, valid write token", true, post.clone(), LOOPBACK4, vec![("x-forwarded-for", b"198.51.100.1"), (WT, token)], "allowed:WriteToken"),
        ("remote v6, valid write token", true, Method::DELETE, "2001:db8::1".parse().expect("ip"), vec![(WT, token)], "allowed:WriteToken"),
        // Row 4: token configured, missing or invalid X-Stockade-Write-Token.
        ("remote, no write token header", true, post.clone(), REMOTE, vec![], "401:write_unauthorized"),
        ("remote, wrong token", true, post.clone(), REMOTE, vec![(WT, b"wrong-token-0123456789")], "401:write_unauthorized"),
        ("remote, token with trailing garbage", true, post.clone(), REMOTE, vec![(WT, garbage.as_bytes())], "401:write_unauthorized"),
        ("remote, token then another word", true, post.clone(), REMOTE, vec![(WT, trailing_word.as_bytes())], "401:write_unauthorized"),
        ("remote, token prefix", true, post.clone(), REMOTE, vec![(WT, prefix.as_bytes())], "401:write_unauthorized"),
        ("remote, empty write token header", true, post.clone(), REMOTE, vec![(WT, b"")], "401:write_unauthorized"),
        ("remote, write token header of only spaces and tabs", true, post.clone(), REMOTE, vec![(WT, b" \t ")], "401:write_unauthorized"),
        ("remote, space inside the token", true, post.clone(), REMOTE, vec![(WT, inner_space.as_bytes())], "401:write_unauthorized"),
        ("remote, tab inside the token", true, post.clone(), REMOTE, vec![(WT, inner_tab.as_bytes())], "401:write_unauthorized"),
        ("remote, non-ascii bytes", true, post.clone(), REMOTE, vec![(WT, b"\xff\xfe")], "401:write_unauthorized"),
        ("remote, write token header with a Bearer scheme", true, post.clone(), REMOTE, vec![(WT, with_scheme.as_bytes())], "401:write_unauthorized"),
        ("remote, two write token headers (valid first)", true, post.clone(), REMOTE, vec![(WT, token), (WT, b"nope")], "401:write_unauthorized"),
        ("remote, two write token headers (both valid)", true, post.clone(), REMOTE, vec![(WT, token), (WT, token)], "401:write_unauthorized"),
        ("remote, token in another header", true, post.clone(), REMOTE, vec![("x-write-token", token)], "401:write_unauthorized"),
        // The write token in `Authorization` does not count, in any form.
        ("remote, write token as Authorization: Bearer", true, post.clone(), REMOTE, vec![(AUTH, bearer.as_bytes())], "401:write_unauthorized"),
        ("remote, write token in Authorization, lowercase scheme", true, post.clone(), REMOTE, vec![(AUTH, lower.as_bytes())], "401:write_unauthorized"),
        ("remote, write token in Authorization, uppercase scheme", true, post.clone(), REMOTE, vec![(AUTH, upper.as_bytes())], "401:write_unauthorized"),
        ("remote, write token in Authorization, two spaces after scheme", true, post.clone(), REMOTE, vec![(AUTH, two_spaces.as_bytes())], "401:write_unauthorized"),
        ("remote, write token in Authorization, basic scheme", true, post.clone(), REMOTE, vec![(AUTH, basic.as_bytes())], "401:write_unauthorized"),
        ("remote, write token in Authorization, no space after scheme", true, post.clone(), REMOTE, vec![(AUTH, no_space.as_bytes())], "401:write_unauthorized"),
        ("remote, write token in Authorization, no scheme", true, post.clone(), REMOTE, vec![(AUTH, token)], "401:write_unauthorized"),
        ("remote, user API bearer only", true, post.clone(), REMOTE, vec![(AUTH, user_api)], "401:write_unauthorized"),
        ("remote, user API bearer and wrong write token", true, post.clone(), REMOTE, vec![(AUTH, user_api), (WT, b"wrong-token-0123456789")], "401:write_unauthorized"),
        // Methods.
        ("GET remote is exempt", false, Method::GET, REMOTE, vec![], "allowed:SafeMethod"),
        ("HEAD remote is exempt", false, Method::HEAD, REMOTE, vec![], "allowed:SafeMethod"),
        ("OPTIONS remote is exempt", false, Method::OPTIONS, REMOTE, vec![], "allowed:SafeMethod"),
        ("PUT remote", false, Method::PUT, REMOTE, vec![], "403:write_forbidden"),
        ("PATCH remote", false, Method::PATCH, REMOTE, vec![], "403:write_forbidden"),
        ("DELETE remote", false, Method::DELETE, REMOTE, vec![], "403:write_forbidden"),
        ("TRACE remote fails closed", false, Method::TRACE, REMOTE, vec![], "403:write_forbidden"),
        ("CONNECT remote fails closed", false, Method::CONNECT, REMOTE, vec![], "403:write_forbidden"),
        ("extension method fails closed", false, Method::from_bytes(b"PURGE").expect("method"), REMOTE, vec![], "403:write_forbidden"),
        ("PUT remote needs token", true, Method::PUT, REMOTE, vec![], "401:write_unauthorized"),
        // Webhooks are handed over, not decided.
        ("webhook POST remote", false, post.clone(), REMOTE, vec![], "webhook"),
        ("webhook POST forwarded", true, post.clone(), LOOPBACK4, vec![("x-forwarded-for", b"1.2.3.4")], "webhook"),
        ("webhook GET is just a safe method", false, Method::GET, REMOTE, vec![], "allowed:SafeMethod"),
    ];
    for (case, with_token, method, peer, pairs, expected) in cases {
        let path = if case.starts_with("webhook") {
            "/webhooks/github"
        } else {
            "/v1/projects"
        };
        let got = guard(with_token).check(&method, path, peer, &headers(&pairs));
        assert_eq!(label(&got), expected, "{case}");
    }
}

#[test]
fn every_forwarding_header_makes_loopback_remote() {
    let names = [
        "forwarded",
        "Forwarded",
        "x-forwarded-for",
        "X-Forwarded-For",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-forwarded-port",
        "x-forwarded-prefix",
        "x-forwarded-server",
        "x-forwarded-anything-new",
        "x-forwarded",
        "x-real-ip",
        "X-Real-IP",
        "via",
        "x-client-ip",
        "true-client-ip",
        "cf-connecting-ip",
        "fastly-client-ip",
        "x-cluster-client-ip",
        "x-original-forwarded-for",
        "client-ip",
    ];
    for peer in [LOOPBACK4, LOOPBACK6, mapped(Ipv4Addr::LOCALHOST)] {
        for name in names {
            // Even an empty value counts: the header's presence is the signal.
            for value in [&b"127.0.0.1"[..], b""] {
                let h = headers(&[(name, value)]);
                let got = guard(false).check(&Method::POST, "/v1/projects", peer, &h);
                assert_eq!(label(&got), "403:write_forbidden", "{name} from {peer}");
                assert_eq!(
                    got,
                    GuardOutcome::Denied(GuardError::Forbidden { forwarded: true })
                );
                let got = guard(true).check(&Method::POST, "/v1/projects", peer, &h);
                assert_eq!(label(&got), "401:write_unauthorized", "{name} from {peer}");
            }
        }
    }
}

#[test]
fn ordinary_headers_do_not_count_as_forwarding() {
    let h = headers(&[
        ("user-agent", b"curl"),
        ("x-request-id", b"1"),
        ("accept", b"*/*"),
        ("forwarded-ish", b"x"),
    ]);
    assert!(!has_forwarding_headers(&h));
    let got = guard(false).check(&Method::POST, "/v1/projects", LOOPBACK4, &h);
    assert_eq!(label(&got), "allowed:Loopback");
}

#[test]
fn webhook_paths() {
    let cases: &[(&str, bool)] = &[
        ("/webhooks", true),
        ("/webhooks/", true),
        ("/webhooks/github", true),
        ("/webhooks/github/", true),
        ("/webhooks/p/hook-1", true),
        ("/webhooksx", false),
        ("/webhooks-evil/x", false),
        ("/v1/webhooks/x", false),
        ("webhooks/x", false),
        ("/Webhooks/x", false),
        ("//webhooks/x", false),
        ("/webhooks//", false),
        ("/webhooks//x", false),
        ("/webhooks/../v1/projects", false),
        ("/webhooks/./x", false),
        ("/webhooks/x/..", false),
        ("/webhooks/%2e%2e/v1/projects", false),
        ("/webhooks/%2Fv1", false),
        ("/webhooks\\..\\v1", false),
        ("/webhooks/x\\..", false),
        ("", false),
        ("/", false),
    ];
    for &(path, expected) in cases {
        assert_eq!(is_webhook_path(path), expected, "{path:?}");
    }
    // A path that is not a clean webhook path gets the ordinary guard.
    let got = guard(false).check(
        &Method::POST,
        "/webhooks/../v1/projects",
        REMOTE,
        &HeaderMap::new(),
    );
    assert_eq!(label(&got), "403:write_forbidden");
}

#[test]
fn loopback_judgement() {
    let cases: &[(&str, bool)] = &[
        ("127.0.0.1", true),
        ("127.255.255.254", true),
        ("::1", true),
        ("::ffff:127.0.0.1", true),
        ("::ffff:127.1.2.3", true),
        ("::127.0.0.1", false),
        ("0.0.0.1", false),
        ("::", false),
        ("0.0.0.0", false),
        ("::ffff:0.0.0.1", false),
        ("fe80::1", false),
        ("128.0.0.1", false),
        ("::2", false),
    ];
    for &(addr, expected) in cases {
        let ip: IpAddr = addr.parse().expect("ip");
        assert_eq!(is_loopback(ip), expected, "{addr}");
    }
}

#[test]
fn write_token_rules() {
    assert_eq!(
        WriteToken::new("short").map(|_| ()).map_err(|e| e.code()),
        Err("write_token_too_short")
    );
    assert_eq!(
        WriteToken::new("").map(|_| ()).map_err(|e| e.code()),
        Err("write_token_too_short")
    );
    for bad in [
        "with space 0123456789",
        "tab\t0123456789abcdef",
        "newline\n0123456789ab",
        "ünïcode-0123456789ab",
    ] {
        assert_eq!(
            WriteToken::new(bad).map(|_| ()).map_err(|e| e.code()),
            Err("write_token_invalid"),
            "{bad:?}"
        );
    }
    let token = WriteToken::new(TOKEN).expect("valid");
    assert!(token.matches(TOKEN));
    assert!(!token.matches(""));
    assert!(!token.matches(&TOKEN[1..]));
    assert!(!token.matches(&format!("{TOKEN} ")));
}

#[test]
fn secrets_never_appear_in_debug() {
    let g = guard(true);
    let debug = format!("{g:?} {:?}", WriteToken::new(TOKEN).expect("valid"));
    assert!(!debug.contains(TOKEN), "{debug}");
    assert!(!debug.contains(&TOKEN[..8]), "{debug}");
    assert!(debug.contains("redacted"), "{debug}");
}

#[test]
fn write_token_problems() {
    const WT: &str = WRITE_TOKEN_HEADER;
    let bearer = format!("Bearer {TOKEN}");
    let inner_space = format!("{} {}", &TOKEN[..8], &TOKEN[8..]);
    let trailing_word = format!("{TOKEN} extra");
    let padded = format!("\t{TOKEN} ");
    // (case, headers, expected problem; None = accepted)
    #[rustfmt::skip]
    let cases: Vec<(&str, Headers, Option<WriteTokenProblem>)> = vec![
        ("valid", vec![(WT, TOKEN.as_bytes())], None),
        ("valid, padded", vec![(WT, padded.as_bytes())], None),
        ("valid, user API bearer alongside", vec![(AUTHORIZATION.as_str(), b"Bearer user-api-token"), (WT, TOKEN.as_bytes())], None),
        ("no header", vec![], Some(WriteTokenProblem::Missing)),
        ("only Authorization: Bearer <write token>", vec![(AUTHORIZATION.as_str(), bearer.as_bytes())], Some(WriteTokenProblem::Missing)),
        ("two headers", vec![(WT, TOKEN.as_bytes()), (WT, TOKEN.as_bytes())], Some(WriteTokenProblem::Multiple)),
        ("two headers, both empty", vec![(WT, b""), (WT, b"")], Some(WriteTokenProblem::Multiple)),
        ("non-ascii", vec![(WT, b"\xff\xfe")], Some(WriteTokenProblem::Malformed)),
        ("space inside", vec![(WT, inner_space.as_bytes())], Some(WriteTokenProblem::Malformed)),
        ("token then another word", vec![(WT, trailing_word.as_bytes())], Some(WriteTokenProblem::Malformed)),
        ("Bearer scheme in the write token header", vec![(WT, bearer.as_bytes())], Some(WriteTokenProblem::Malformed)),
        ("empty", vec![(WT, b"")], Some(WriteTokenProblem::Empty)),
        ("only spaces and tabs", vec![(WT, b" \t ")], Some(WriteTokenProblem::Empty)),
        ("wrong", vec![(WT, b"wrong-token-0123456789")], Some(WriteTokenProblem::Mismatch)),
        ("prefix", vec![(WT, &TOKEN.as_bytes()[..TOKEN.len() - 1])], Some(WriteTokenProblem::Mismatch)),
    ];
    for (case, pairs, expected) in cases {
        let got = guard(true).check(&Method::POST, "/v1/x", REMOTE, &headers(&pairs));
        let want = match expected {
            None => GuardOutcome::Allowed {
                reason: AllowReason::WriteToken,
            },
            Some(problem) => GuardOutcome::Denied(GuardError::Unauthorized(problem)),
        };
        assert_eq!(got, want, "{case}");
    }
}

#[test]
fn denial_reasons_are_reported() {
    let h = headers(&[(WRITE_TOKEN_HEADER, b"nope")]);
    let got = guard(true).check(&Method::POST, "/v1/x", REMOTE, &h);
    assert_eq!(
        got,
        GuardOutcome::Denied(GuardError::Unauthorized(WriteTokenProblem::Mismatch))
    );
    let got = guard(true).check(&Method::POST, "/v1/x", REMOTE, &HeaderMap::new());
    assert_eq!(
        got,
        GuardOutcome::Denied(GuardError::Unauthorized(WriteTokenProblem::Missing))
    );
    let reasons = [
        (WriteTokenProblem::Missing, "missing"),
        (WriteTokenProblem::Multiple, "multiple_write_token_headers"),
        (WriteTokenProblem::Malformed, "malformed"),
        (WriteTokenProblem::Empty, "empty"),
        (WriteTokenProblem::Mismatch, "mismatch"),
    ];
    for (problem, reason) in reasons {
        assert_eq!(problem.reason(), reason);
        let text = GuardError::Unauthorized(problem).to_string();
        assert!(text.contains("X-Stockade-Write-Token"), "{text}");
        assert!(!text.contains("Authorization"), "{text}");
    }
    let forbidden = GuardError::Forbidden { forwarded: true };
    assert!(
        forbidden.to_string().contains("forwarding headers"),
        "{forbidden}"
    );
}
