//! The agent's web tool: fetch a URL, or read a page as text.
//!
//! Every request leaves through the host's `wasi:http/outgoing-handler`, never a socket of
//! the plugin's own, so the host checks each one against the egress rules the operator
//! granted to the tool (the bundle asks for `http://*` and `https://*`; a grant narrows it).
//! Redirects are not followed: a 3xx comes back to the agent, which decides whether to make
//! the next hop, and the host checks that hop as a new request.
//!
//! | tool | input | output |
//! |---|---|---|
//! | `fetch` | `url`, `method?` (GET), `headers?` (object or `[name, value]` pairs), `body?` (≤ 1 MiB), `max_bytes?` (256 KiB, ≤ 1 MiB) | `status`, `headers` (`[name, value]` pairs), `body` (UTF-8, lossy), `truncated`, `url` |
//! | `fetch_text` | `url`, `max_chars?` (64 Ki, ≤ 256 Ki) | `status`, `title?`, `text`, `truncated`, `url`, `location?` |
//!
//! The modules, in the order a call goes through them:
//!
//! - [`request`]: the inputs and their validation ([`url`] parses URLs) into a
//!   [`request::Request`]; bad input is `invalid-input` naming the field, before any I/O;
//! - [`transport`]: [`transport::WasiHttp`] sends it through wasi:http and reads the body up
//!   to the byte limit; [`error_code`] turns a refusal into `denied` (`egress denied: ...`) and
//!   a network failure into `failed` (`network error: ...`);
//! - [`fetch`]: the two tools, over any [`transport::Transport`] so unit tests fake the
//!   network; `fetch_text` decodes the body ([`charset`]) and reduces HTML to text ([`html`]).

#![forbid(unsafe_code)]

use stockade_plugin_sdk::Tools;

pub mod charset;
pub mod error_code;
pub mod fetch;
pub mod html;
pub mod request;
pub mod transport;
pub mod url;

use transport::WasiHttp;

/// The tools of this plugin.
pub fn tools() -> Tools {
    Tools::new()
        .tool(
            "fetch",
            "Sends one HTTP(S) request and returns the status, headers and body (as UTF-8 \
             text; the first `max_bytes`, default 256 KiB, at most 1 MiB; `truncated` says if \
             there was more). Redirects are not followed: a 3xx comes back with its `location` \
             header. Only destinations the operator allowed are reachable.",
            |input| fetch::fetch(&WasiHttp, input),
        )
        .tool(
            "fetch_text",
            "Fetches a web page or text file (GET) and returns its readable text: HTML becomes \
             the title plus headings, paragraphs, list items and links as `text (url)`; plain \
             text and JSON pass through. At most `max_chars` characters (default 65536). \
             Fails for images and other binary content. Redirects are not followed (see \
             `location`).",
            |input| fetch::fetch_text(&WasiHttp, input),
        )
}

stockade_plugin_sdk::export_plugin!(tools);

#[cfg(test)]
mod tests {
    use stockade_registry_types::BundleManifest;

    use super::*;

    fn manifest() -> BundleManifest {
        match BundleManifest::from_toml(include_str!("../bundle.toml")) {
            Ok(manifest) => manifest,
            Err(err) => panic!("bundle.toml: {err}"),
        }
    }

    /// The manifest and the plugin must agree on the tool list: the host refuses a bundle whose
    /// component describes tools its manifest does not declare, and the other way round.
    #[test]
    fn bundle_declares_exactly_the_registered_tools() {
        let manifest = manifest();
        let mut declared: Vec<&str> = manifest.tools.keys().map(|name| name.as_str()).collect();
        let tools = tools();
        let mut registered: Vec<&str> = tools.names().collect();
        declared.sort_unstable();
        registered.sort_unstable();
        assert_eq!(declared, registered);
        assert_eq!(tools.validate(), Ok(()));
    }

    /// Each tool asks for web egress and nothing else: no directories, no raw sockets.
    #[test]
    fn bundle_requests_web_egress_only() {
        let manifest = manifest();
        assert_eq!(manifest.bundle.name.as_str(), "http");
        for (name, spec) in &manifest.tools {
            assert!(spec.dirs.is_empty(), "{name}");
            assert!(!spec.egress.is_empty(), "{name}");
            for rule in &spec.egress {
                assert!(
                    rule.starts_with("http://") || rule.starts_with("https://"),
                    "{name}: {rule} is not a web rule"
                );
            }
        }
        let wasm: Vec<&str> = manifest
            .components
            .values()
            .map(|c| c.wasm.as_str())
            .collect();
        assert_eq!(wasm, ["stockade_plugin_http.wasm"]);
    }

    #[test]
    fn describes_object_schemas_without_unknown_fields() {
        for tool in tools().describe() {
            let schema: serde_json::Value = match serde_json::from_str(&tool.input_schema) {
                Ok(schema) => schema,
                Err(err) => panic!("{}: {err}", tool.name),
            };
            assert_eq!(schema["type"], "object", "{}", tool.name);
            assert_eq!(schema["additionalProperties"], false, "{}", tool.name);
            assert_eq!(
                schema["required"],
                serde_json::json!(["url"]),
                "{}",
                tool.name
            );
        }
    }

    /// `headers` is described inline as either shape, so an agent sees both without `$ref`s.
    #[test]
    fn headers_schema_offers_object_and_pairs() {
        let fetch = tools()
            .describe()
            .into_iter()
            .find(|tool| tool.name == "fetch")
            .map(|tool| tool.input_schema);
        let schema: serde_json::Value =
            serde_json::from_str(&fetch.unwrap_or_default()).unwrap_or_default();
        let headers = &schema["properties"]["headers"];
        let text = headers.to_string();
        assert!(
            text.contains("\"object\"") && text.contains("\"array\""),
            "{headers}"
        );
        assert!(!text.contains("$ref"), "{headers}");
    }

    /// Through the full dispatch: `fetch_text` input errors name the field.
    #[test]
    fn fetch_text_rejects_bad_input() {
        let cases = [
            (r#"{}"#, "missing field `url`"),
            (
                r#"{"url": "ftp://x.example/"}"#,
                "url: scheme \"ftp\" is not supported",
            ),
            (
                r#"{"url": "http://x.example/", "max_chars": "10"}"#,
                "max_chars: invalid type",
            ),
            (
                r#"{"url": "http://x.example/", "method": "POST"}"#,
                "method: unknown field",
            ),
        ];
        for (input, needle) in cases {
            match tools().call("fetch_text", input) {
                Err(stockade_plugin_sdk::ToolError::InvalidInput(message)) => {
                    assert!(message.starts_with(needle), "{input}: {message}");
                }
                other => panic!("{input}: {other:?}"),
            }
        }
    }
}
