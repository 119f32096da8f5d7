//! Host-side secret injection: a plugin writes `{{secret:NAME}}` in a request header value and
//! the host puts the secret's value there on the way out, so the plugin never holds it.
//!
//! A [`SecretInjection`] is one secret the operator granted to a tool: its name, its value
//! (wiped from memory when the last reference is dropped) and the destinations it may be sent
//! to, as egress rules. [`inject`] runs for each wasi:http request after the destination passed
//! the call's egress policy and before any connection:
//!
//! - only header **values** are scanned. A placeholder in the URL or the body is sent as
//!   written: the plugin chooses the URL and body freely, so substituting there would let it
//!   reflect the value into a path or a form of its choosing;
//! - every placeholder must name a secret of this call whose destinations match the request's
//!   [`Destination`] (scheme, host, port: [`EgressPolicy::check`] on the same parsed value the
//!   call's policy judged; an address host is judged as an address too, so loopback or a
//!   private address needs its CIDR rule here as in the grant). One that does not refuses the
//!   whole request with [`codes::SECRET_NOT_GRANTED`](super::codes::SECRET_NOT_GRANTED);
//!   nothing is sent;
//! - the header with the value must still be a valid HTTP header value, or the request is
//!   refused with [`codes::SECRET_INVALID_HEADER`](super::codes::SECRET_INVALID_HEADER); it is
//!   marked sensitive (hidden from `Debug`, never indexed by HPACK);
//! - a placeholder is exactly `{{secret:NAME}}` with NAME of 1 to 128 of `A-Z a-z 0-9 _ . -`;
//!   anything else (`{{secret:}}`, a space in the name, no closing braces) is plain text. Names
//!   match case-sensitively; the value put in is not scanned again.
//!
//! Reasons and records name the secret and the destination, never the value. Redirects are not
//! followed, so a 3xx cannot carry the header elsewhere: the next hop is a new request, checked
//! again. What this cannot prevent: a granted destination that echoes request headers back (an
//! API's debug endpoint, say) hands the value to the plugin. Grant injection only to
//! destinations trusted not to echo; the server's output redaction is the second line.
//!
//! The copies of the value inside the outgoing request (the header value, hyper's write
//! buffer) are ordinary memory and are not wiped.

use std::fmt;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue};
use stockade_egress::{Destination, EgressGrant, EgressPolicy};
use zeroize::Zeroizing;

use super::codes;

const OPEN: &[u8] = b"{{secret:";
const CLOSE: &[u8] = b"}}";
/// The longest secret name a placeholder can hold.
pub const MAX_SECRET_NAME: usize = 128;

/// One secret granted to a tool for host-side injection: `{{secret:NAME}}` in a request header
/// value becomes the value, for requests to `destinations` only. `Debug` shows the name and
/// the destinations, never the value.
#[derive(Clone)]
pub struct SecretInjection {
    name: String,
    value: Arc<Zeroizing<String>>,
    destinations: Arc<EgressPolicy>,
}

impl SecretInjection {
    /// `name` (what placeholders say; a name outside `[A-Za-z0-9_.-]{1,128}` can never be
    /// named by one) with `value`, injected only into requests to `destinations`. A request
    /// must pass the call's own egress policy too: these rules narrow it, never widen it.
    pub fn new(name: impl Into<String>, value: String, destinations: EgressGrant) -> Self {
        Self {
            name: name.into(),
            value: Arc::new(Zeroizing::new(value)),
            destinations: Arc::new(EgressPolicy::new(destinations)),
        }
    }

    /// The name placeholders use.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the value may be sent.
    pub fn destinations(&self) -> &EgressGrant {
        self.destinations.grant()
    }

    fn allows(&self, dest: &Destination) -> bool {
        self.destinations.check(dest).is_ok()
    }
}

impl fmt::Debug for SecretInjection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretInjection")
            .field("name", &self.name)
            .field("destinations", &self.destinations.grant().to_string())
            .field("value", &"<redacted>")
            .finish()
    }
}

impl PartialEq for SecretInjection {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.destinations.grant() == other.destinations.grant()
            && self.value == other.value
    }
}

impl Eq for SecretInjection {}

/// Replaces every placeholder in `headers`' values with the granted secret's value (see the
/// module docs). Returns the names injected, each once, in order of first use; or the code and
/// reason of the refusal, after which the request must not be sent.
pub(super) fn inject(
    secrets: &[SecretInjection],
    dest: &Destination,
    headers: &mut HeaderMap,
) -> Result<Vec<String>, (String, String)> {
    let mut injected: Vec<String> = Vec::new();
    for (header, value) in headers.iter_mut() {
        let mut here: Vec<&str> = Vec::new();
        let substituted = substitute(value.as_bytes(), |name| -> Result<_, (String, String)> {
            let secret = granted(secrets, name, dest)?;
            if !here.contains(&secret.name.as_str()) {
                here.push(&secret.name);
            }
            Ok(secret.value.as_bytes())
        })?;
        let Some(bytes) = substituted else { continue };
        let mut new = HeaderValue::from_bytes(&bytes).map_err(|_| {
            (
                codes::SECRET_INVALID_HEADER.to_owned(),
                format!(
                    "the `{header}` header for {dest} is not a valid header value with the                      secret `{}` in it (a control character or line break in the secret)",
                    here.join("`, `")
                ),
            )
        })?;
        new.set_sensitive(true);
        *value = new;
        for name in here {
            if !injected.iter().any(|n| n == name) {
                injected.push(name.to_owned());
            }
        }
    }
    Ok(injected)
}

/// The secret `name` if this call has it for `dest`, else the refusal.
fn granted<'a>(
    secrets: &'a [SecretInjection],
    name: &str,
    dest: &Destination,
) -> Result<&'a SecretInjection, (String, String)> {
    let mut named = secrets.iter().filter(|s| s.name == name).peekable();
    let reason = if named.peek().is_none() {
        format!("the secret `{name}` is not granted to this tool (requested for {dest})")
    } else if let Some(secret) = named.find(|s| s.allows(dest)) {
        return Ok(secret);
    } else {
        format!("the secret `{name}` is not granted for {dest}")
    };
    Err((codes::SECRET_NOT_GRANTED.to_owned(), reason))
}

/// `value` with each placeholder replaced by what `lookup` gives for its name; `None` when
/// there is no placeholder. The result is wiped when dropped.
fn substitute<'s, E>(
    value: &[u8],
    mut lookup: impl FnMut(&str) -> Result<&'s [u8], E>,
) -> Result<Option<Zeroizing<Vec<u8>>>, E> {
    let mut out: Option<Zeroizing<Vec<u8>>> = None;
    let mut copied = 0;
    let mut at = 0;
    while let Some(found) = find(&value[at..], OPEN) {
        let start = at + found;
        let Some((name, end)) = placeholder(&value[start..]) else {
            // Not a placeholder: keep scanning from the next byte (`{{{secret:x}}`).
            at = start + 1;
            continue;
        };
        let secret = lookup(name)?;
        let out = out.get_or_insert_with(|| Zeroizing::new(Vec::with_capacity(value.len())));
        out.extend_from_slice(&value[copied..start]);
        out.extend_from_slice(secret);
        copied = start + end;
        at = copied;
    }
    if let Some(out) = &mut out {
        out.extend_from_slice(&value[copied..]);
    }
    Ok(out)
}

/// The name of the placeholder at the start of `text` and its length in bytes, if `text` starts
/// with one.
fn placeholder(text: &[u8]) -> Option<(&str, usize)> {
    let rest = text.strip_prefix(OPEN)?;
    let len = rest
        .iter()
        .take(MAX_SECRET_NAME + 1)
        .take_while(|b| is_name_byte(**b))
        .count();
    if len == 0 || len > MAX_SECRET_NAME || !rest[len..].starts_with(CLOSE) {
        return None;
    }
    let name = std::str::from_utf8(&rest[..len]).ok()?;
    Some((name, OPEN.len() + len + CLOSE.len()))
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUE: &str = "s3cr3t-value";

    fn secret(name: &str, rules: &[&str]) -> SecretInjection {
        let grant = EgressGrant::parse(rules).unwrap_or_else(|e| panic!("{e}"));
        SecretInjection::new(name, VALUE.to_owned(), grant)
    }

    fn dest(url: &str) -> Destination {
        Destination::from_url(url).unwrap_or_else(|d| panic!("{url}: {d}"))
    }

    fn sub(value: &str) -> Option<String> {
        let result: Result<_, ()> = substitute(value.as_bytes(), |name| {
            Ok(if name == "t" { b"V".as_slice() } else { b"?" })
        });
        result
            .ok()
            .flatten()
            .map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    #[test]
    fn placeholders_are_exact() {
        let cases = [
            ("plain", "Bearer abc", None),
            ("whole", "{{secret:t}}", Some("V")),
            ("inside", "Bearer {{secret:t}}!", Some("Bearer V!")),
            ("twice", "{{secret:t}}:{{secret:t}}", Some("V:V")),
            ("other name", "{{secret:u.v-w_1}}", Some("?")),
            ("extra brace", "{{{secret:t}}", Some("{V")),
            ("empty name", "{{secret:}}", None),
            ("space", "{{secret:a b}}", None),
            ("unclosed", "{{secret:t}", None),
            ("single braces", "{secret:t}", None),
            ("upper prefix", "{{SECRET:t}}", None),
            (
                "after a bad one",
                "{{secret:}}{{secret:t}}",
                Some("{{secret:}}V"),
            ),
        ];
        for (name, input, expected) in cases {
            assert_eq!(sub(input).as_deref(), expected, "{name}");
        }
        let longest = format!("{{{{secret:{}}}}}", "n".repeat(MAX_SECRET_NAME));
        assert_eq!(sub(&longest).as_deref(), Some("?"));
        let too_long = format!("{{{{secret:{}}}}}", "n".repeat(MAX_SECRET_NAME + 1));
        assert_eq!(sub(&too_long), None);
    }

    #[test]
    fn injects_only_for_granted_destinations() {
        let secrets = [secret("token", &["https://api.example.com"])];
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_static("Bearer {{secret:token}}"),
        );
        headers.append("x-b", HeaderValue::from_static("{{secret:token}}"));
        headers.append("x-b", HeaderValue::from_static("literal"));

        let mut refused = headers.clone();
        let other = dest("https://api.example.com:8443/");
        let (code, reason) = inject(&secrets, &other, &mut refused).unwrap_err();
        assert_eq!(code, codes::SECRET_NOT_GRANTED);
        assert_eq!(
            reason,
            "the secret `token` is not granted for https://api.example.com:8443"
        );
        let (_, reason) = inject(&[], &other, &mut refused).unwrap_err();
        assert!(reason.contains("not granted to this tool"), "{reason}");

        let granted = dest("https://api.example.com/v1?q={{secret:token}}");
        let names = inject(&secrets, &granted, &mut headers).unwrap();
        assert_eq!(names, ["token"]);
        let auth = &headers["authorization"];
        assert_eq!(auth.as_bytes(), format!("Bearer {VALUE}").as_bytes());
        assert!(auth.is_sensitive());
        let xb: Vec<_> = headers.get_all("x-b").iter().collect();
        assert_eq!(xb, [VALUE, "literal"]);
        assert!(!format!("{headers:?}").contains(VALUE));
    }

    #[test]
    fn a_value_that_breaks_the_header_is_refused() {
        let grant = EgressGrant::parse(&["https://api.example.com"]).unwrap_or_default();
        let secrets = [SecretInjection::new(
            "t",
            "a\r\nx-evil: 1".to_owned(),
            grant,
        )];
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("{{secret:t}}"));
        let (code, reason) =
            inject(&secrets, &dest("https://api.example.com"), &mut headers).unwrap_err();
        assert_eq!(code, codes::SECRET_INVALID_HEADER);
        assert!(!reason.contains("x-evil"), "{reason}");
    }

    #[test]
    fn debug_hides_the_value() {
        let shown = format!("{:?}", secret("token", &["https://api.example.com"]));
        assert!(shown.contains("token"), "{shown}");
        assert!(!shown.contains(VALUE), "{shown}");
    }
}
