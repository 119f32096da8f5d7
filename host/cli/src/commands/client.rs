//! The API client behind every operator command: where the server is, which credentials to send,
//! and how a reply becomes output or an [`CliError`] with an exit code.
//!
//! Transport is `ureq` built without TLS, with proxies and redirects switched off in code: the
//! bearer token must reach the `--server` it was meant for and nothing else, so neither
//! `HTTP(S)_PROXY` from the environment nor a `Location` header may reroute it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The connection options shared by every operator command.
///
/// There is deliberately no `--token VALUE` flag: a secret on the command line lands in shell
/// history and is visible to every local user in `ps`. The token comes from `STOCKADE_TOKEN` or
/// from a file.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Server connection")]
pub struct ApiArgs {
    /// The server's base URL. Plain HTTP only: reach a remote server through an SSH tunnel to
    /// its loopback port.
    #[arg(
        long,
        global = true,
        env = "STOCKADE_SERVER",
        value_name = "URL",
        default_value = "http://127.0.0.1:7878"
    )]
    pub server: String,
    /// File holding the API token (the bootstrap admin token printed on the server's first
    /// start, or one from `stockade token create`). Without it, `STOCKADE_TOKEN` is used. There
    /// is no `--token` flag: it would end up in shell history and `ps`.
    #[arg(long, global = true, env = "STOCKADE_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// File holding the server's write token, sent as `X-Stockade-Write-Token`. Needed for
    /// changes (POST, PUT, DELETE) when this machine is not on the server's loopback.
    #[arg(
        long,
        global = true,
        env = "STOCKADE_WRITE_TOKEN_FILE",
        value_name = "FILE"
    )]
    pub write_token_file: Option<PathBuf>,
    /// Print the server's JSON response as is, instead of a human summary.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Requests give up after this long. Generous: installing a bundle compiles its components, and
/// a tool call runs up to its deadline.
const TIMEOUT: Duration = Duration::from_secs(600);
/// Connecting gives up after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest response read.
const MAX_RESPONSE: u64 = 64 << 20;

/// A failed operator command and how it exits.
#[derive(Debug)]
pub enum CliError {
    /// The server refused the request with a JSON error (exit 1).
    Api {
        /// The stable machine code, e.g. `unauthorized`.
        code: String,
        /// The server's explanation.
        message: String,
        /// What to do about it, when the client can tell.
        hint: Option<String>,
    },
    /// The command line or a file it names is unusable (exit 2).
    Usage(String),
    /// The server could not be reached (exit 2).
    Connect {
        /// The `--server` URL.
        server: String,
        /// What went wrong.
        detail: String,
    },
    /// Something answered, but not the way a Stockade server does (exit 2).
    Unexpected(String),
}

impl CliError {
    /// Prints the error to stderr and returns the exit code.
    pub fn report(&self) -> ExitCode {
        eprintln!("{self}");
        match self {
            Self::Api { .. } => ExitCode::from(1),
            Self::Usage(_) | Self::Connect { .. } | Self::Unexpected(_) => ExitCode::from(2),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Api {
                code,
                message,
                hint,
                ..
            } => {
                write!(f, "error[{code}]: {message}")?;
                if let Some(hint) = hint {
                    write!(f, "\nhint: {hint}")?;
                }
                Ok(())
            }
            Self::Usage(message) => write!(f, "error: {message}"),
            Self::Connect { server, detail } => write!(
                f,
                "error: cannot reach the server at {server}: {detail}\n\
                 hint: is `stockade serve` running at {server}? (set --server or STOCKADE_SERVER)"
            ),
            Self::Unexpected(message) => write!(f, "error: {message}"),
        }
    }
}

/// A secret read from the environment or a file; never printed.
#[derive(Clone)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Where the API token came from, for hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenSource {
    None,
    Env,
    File,
}

/// A connection to one server with one set of credentials.
#[derive(Debug)]
pub struct Client {
    base: String,
    token: Option<Secret>,
    token_source: TokenSource,
    write_token: Option<Secret>,
    json: bool,
    agent: ureq::Agent,
}

impl Client {
    /// Builds a client from the shared options and `STOCKADE_TOKEN`.
    pub fn new(args: &ApiArgs) -> Result<Self, CliError> {
        let env_token = std::env::var("STOCKADE_TOKEN").ok();
        Self::with_env_token(args, env_token)
    }

    fn with_env_token(args: &ApiArgs, env_token: Option<String>) -> Result<Self, CliError> {
        let base = base_url(&args.server)?;
        let (token, token_source) = match (&args.token_file, env_token) {
            (Some(path), _) => (Some(read_secret(path, "API token")?), TokenSource::File),
            (None, Some(value)) if !value.trim().is_empty() => (
                Some(check_secret(value.trim(), "STOCKADE_TOKEN")?),
                TokenSource::Env,
            ),
            (None, _) => (None, TokenSource::None),
        };
        let write_token = args
            .write_token_file
            .as_deref()
            .map(|path| read_secret(path, "write token"))
            .transpose()?;
        let config = ureq::Agent::config_builder()
            // Never route through a proxy taken from the environment: the token is for --server.
            .proxy(None)
            // Never follow a redirect: it could carry the token to another host. A 3xx is
            // reported instead.
            .max_redirects(0)
            // 4xx/5xx carry the API's JSON error; decode it rather than getting a bare status.
            .http_status_as_error(false)
            .timeout_global(Some(TIMEOUT))
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .user_agent(concat!("stockade-cli/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Self {
            base,
            token,
            token_source,
            write_token,
            json: args.json,
            agent: config.into(),
        })
    }

    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        self.json
    }

    /// `GET path?query`.
    pub fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Reply, CliError> {
        let mut request = self.agent.get(self.url(path));
        for (name, value) in query {
            request = request.query(*name, value);
        }
        self.finish(self.authorize(request, false).call())
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> Result<Reply, CliError> {
        let request = self.authorize(self.agent.post(self.url(path)), true);
        self.finish(
            request
                .content_type("application/json")
                .send(body.to_string()),
        )
    }

    /// `POST path` asking for NDJSON progress (`Accept: application/x-ndjson`): every line but
    /// the last goes to `progress`; the last is `{"result": …}` (returned) or `{"error": …}`.
    /// A server that answers with a plain status and body is handled as by [`Client::post`].
    pub fn post_progress(
        &self,
        path: &str,
        body: &Value,
        mut progress: impl FnMut(&Value),
    ) -> Result<Reply, CliError> {
        use std::io::BufRead as _;
        let request = self
            .authorize(self.agent.post(self.url(path)), true)
            .header("Accept", "application/x-ndjson");
        let result = request
            .content_type("application/json")
            .send(body.to_string());
        let streaming = matches!(&result, Ok(response)
            if response.status().as_u16() == 200
                && response
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("application/x-ndjson")));
        if !streaming {
            return self.finish(result);
        }
        let response = result.map_err(|err| self.transport_error(err))?;
        let reader = std::io::BufReader::new(response.into_body().into_reader());
        for line in reader.lines() {
            let line = line.map_err(|err| CliError::Connect {
                server: self.base.clone(),
                detail: format!("the progress stream broke off: {err}"),
            })?;
            let Ok(value) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if let Some(result) = value.get("result") {
                return Ok(Reply(Some(result.clone())));
            }
            if let Some(error) = value.get("error") {
                let text = |key: &str| {
                    error
                        .get(key)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned()
                };
                return Err(CliError::Api {
                    code: text("code"),
                    message: text("message"),
                    hint: None,
                });
            }
            progress(&value);
        }
        Err(CliError::Unexpected(format!(
            "{} ended the progress stream without a result",
            self.base
        )))
    }

    /// `POST path` answered with NDJSON: every line goes to `line` as it arrives. A server
    /// that answers with a plain status and JSON error is reported as by [`Client::post`].
    pub fn post_lines(
        &self,
        path: &str,
        body: &Value,
        mut line: impl FnMut(&Value),
    ) -> Result<(), CliError> {
        use std::io::BufRead as _;
        let result = self
            .authorize(self.agent.post(self.url(path)), true)
            .header("Accept", "application/x-ndjson")
            .content_type("application/json")
            .send(body.to_string());
        let streaming = matches!(&result, Ok(response) if response.status().as_u16() == 200);
        if !streaming {
            return self.finish(result).map(|_| ());
        }
        let response = result.map_err(|err| self.transport_error(err))?;
        let reader = std::io::BufReader::new(response.into_body().into_reader());
        for text in reader.lines() {
            let text = text.map_err(|err| CliError::Connect {
                server: self.base.clone(),
                detail: format!("the stream broke off: {err}"),
            })?;
            if let Ok(value) = serde_json::from_str::<Value>(&text) {
                line(&value);
            }
        }
        Ok(())
    }

    /// `PUT path` with a JSON body.
    pub fn put(&self, path: &str, body: &Value) -> Result<Reply, CliError> {
        let request = self.authorize(self.agent.put(self.url(path)), true);
        self.finish(
            request
                .content_type("application/json")
                .send(body.to_string()),
        )
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> Result<Reply, CliError> {
        let request = self.authorize(self.agent.delete(self.url(path)), true);
        self.finish(request.call())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Adds the API token, and for changes (`write`) the write token.
    fn authorize<B>(
        &self,
        mut request: ureq::RequestBuilder<B>,
        write: bool,
    ) -> ureq::RequestBuilder<B> {
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {}", token.0));
        }
        if write && let Some(token) = &self.write_token {
            request = request.header("X-Stockade-Write-Token", token.0.as_str());
        }
        request
    }

    /// Turns a transport result into a [`Reply`] or a [`CliError`].
    fn finish(
        &self,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Reply, CliError> {
        let mut response = result.map_err(|err| self.transport_error(err))?;
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_string()
            .map_err(|err| self.transport_error(err))?;
        if (300..400).contains(&status) {
            return Err(CliError::Unexpected(format!(
                "{} answered with a redirect (HTTP {status}{}); stockade does not follow \
                 redirects: point --server at the Stockade server itself",
                self.base,
                location.map(|l| format!(" to {l}")).unwrap_or_default()
            )));
        }
        if (200..300).contains(&status) {
            if body.trim().is_empty() {
                return Ok(Reply(None));
            }
            return serde_json::from_str(&body)
                .map(|v| Reply(Some(v)))
                .map_err(|_| {
                    CliError::Unexpected(format!(
                        "{} answered HTTP {status} with a body that is not JSON: is --server a \
                     Stockade server?",
                        self.base
                    ))
                });
        }
        let decoded: Option<(String, String)> =
            serde_json::from_str::<Value>(&body).ok().and_then(|v| {
                let error = v.get("error")?;
                Some((
                    error.get("code")?.as_str()?.to_owned(),
                    error.get("message")?.as_str()?.to_owned(),
                ))
            });
        let Some((code, message)) = decoded else {
            return Err(CliError::Unexpected(format!(
                "{} answered HTTP {status} without a Stockade error body: is --server a \
                 Stockade server?",
                self.base
            )));
        };
        let hint = self.hint(&code);
        Err(CliError::Api {
            code,
            message,
            hint,
        })
    }

    /// What the operator can do about an error code, when the client knows better than the
    /// server (which cannot see how the command was run).
    fn hint(&self, code: &str) -> Option<String> {
        match code {
            "unauthorized" => Some(match self.token_source {
                TokenSource::None => "no API token was sent: set STOCKADE_TOKEN or pass \
                                      --token-file FILE"
                    .into(),
                TokenSource::Env => "the token in STOCKADE_TOKEN was refused (revoked, or for \
                                     another server?)"
                    .into(),
                TokenSource::File => "the token in --token-file was refused (revoked, or for \
                                      another server?)"
                    .into(),
            }),
            "write_unauthorized" | "write_forbidden" if self.write_token.is_none() => Some(
                "changes from a non-loopback client need the server's write token: pass \
                 --write-token-file FILE"
                    .into(),
            ),
            _ => None,
        }
    }

    fn transport_error(&self, err: ureq::Error) -> CliError {
        match err {
            ureq::Error::Io(_)
            | ureq::Error::HostNotFound
            | ureq::Error::ConnectionFailed
            | ureq::Error::Timeout(_) => CliError::Connect {
                server: self.base.clone(),
                detail: err.to_string(),
            },
            other => CliError::Unexpected(format!("request to {} failed: {other}", self.base)),
        }
    }
}

/// A successful response: JSON, or nothing (204).
#[derive(Debug)]
pub struct Reply(Option<Value>);

impl Reply {
    /// Prints the raw JSON with `--json`; otherwise decodes it as `T` and hands it to `human`.
    pub fn show<T: DeserializeOwned>(
        self,
        client: &Client,
        human: impl FnOnce(T),
    ) -> Result<(), CliError> {
        let value = self.0.unwrap_or(Value::Null);
        if client.json() {
            print_json(&value);
            return Ok(());
        }
        let decoded = serde_json::from_value(value).map_err(|err| {
            CliError::Unexpected(format!(
                "the server's response has an unexpected shape ({err}); is the CLI the same \
                 version as the server? --json shows it raw"
            ))
        })?;
        human(decoded);
        Ok(())
    }

    /// For requests answered with no body: prints `done` unless `--json` (which prints nothing,
    /// as the server sent nothing).
    pub fn done(self, client: &Client, done: &str) {
        match self.0 {
            Some(value) if client.json() => print_json(&value),
            _ if client.json() => {}
            _ => println!("{done}"),
        }
    }
}

/// Pretty JSON on stdout.
pub fn print_json(value: &Value) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(_) => println!("{value}"),
    }
}

/// One URL path segment, percent-encoded so a name can never add a path component or a query.
pub fn segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    // `.` and `..` are unreserved but still mean "this/parent directory" to a URL resolver.
    match out.as_str() {
        "." => "%2E".into(),
        ".." => "%2E%2E".into(),
        _ => out,
    }
}

/// Checks `--server` and strips a trailing slash.
fn base_url(server: &str) -> Result<String, CliError> {
    let server = server.trim().trim_end_matches('/');
    if server.starts_with("https://") {
        return Err(CliError::Usage(format!(
            "--server {server}: this build of the CLI speaks plain HTTP only; reach a remote \
             server through an SSH tunnel (ssh -L 7878:127.0.0.1:7878 HOST) and use \
             http://127.0.0.1:7878"
        )));
    }
    let Some(rest) = server.strip_prefix("http://") else {
        return Err(CliError::Usage(format!(
            "--server {server:?} must be an http:// URL, e.g. http://127.0.0.1:7878"
        )));
    };
    if rest.is_empty() || rest.starts_with('/') || rest.contains(['?', '#', '@']) {
        return Err(CliError::Usage(format!(
            "--server {server:?} must be http://HOST[:PORT][/PATH], without credentials, query \
             or fragment"
        )));
    }
    Ok(server.to_owned())
}

/// Reads a token file: one line, surrounding whitespace ignored.
fn read_secret(path: &Path, what: &str) -> Result<Secret, CliError> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        CliError::Usage(format!(
            "cannot read the {what} from {}: {err}",
            path.display()
        ))
    })?;
    check_secret(text.trim(), &path.display().to_string())
}

/// A token goes into an HTTP header: it must be one printable ASCII word.
fn check_secret(value: &str, source: &str) -> Result<Secret, CliError> {
    if value.is_empty() {
        return Err(CliError::Usage(format!("{source} is empty")));
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(CliError::Usage(format!(
            "{source} must hold one token: printable ASCII without spaces"
        )));
    }
    Ok(Secret(value.to_owned()))
}

/// Makes a path absolute against the current directory (the server needs absolute paths and
/// does not share the CLI's working directory).
pub fn absolute(path: &Path) -> Result<String, CliError> {
    let absolute = std::path::absolute(path)
        .map_err(|err| CliError::Usage(format!("{}: {err}", path.display())))?;
    absolute
        .to_str()
        .map(str::to_owned)
        .ok_or_else(|| CliError::Usage(format!("{} is not valid UTF-8", absolute.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(server: &str) -> ApiArgs {
        ApiArgs {
            server: server.into(),
            token_file: None,
            write_token_file: None,
            json: false,
        }
    }

    #[test]
    fn segments_cannot_escape_their_place_in_the_path() {
        for (raw, encoded) in [
            ("demo", "demo"),
            ("../tokens", "..%2Ftokens"),
            ("..", "%2E%2E"),
            (".", "%2E"),
            ("a?b#c", "a%3Fb%23c"),
            ("a b%", "a%20b%25"),
            ("é", "%C3%A9"),
        ] {
            assert_eq!(segment(raw), encoded, "{raw}");
        }
    }

    #[test]
    fn server_urls() {
        for (name, server, ok) in [
            (
                "default",
                "http://127.0.0.1:7878",
                Some("http://127.0.0.1:7878"),
            ),
            ("trailing slash", "http://h:1/", Some("http://h:1")),
            (
                "path prefix",
                "http://h/stockade/",
                Some("http://h/stockade"),
            ),
            ("https", "https://h", None),
            ("no scheme", "127.0.0.1:7878", None),
            ("credentials", "http://u:p@h", None),
            ("query", "http://h?x=1", None),
            ("empty host", "http://", None),
        ] {
            assert_eq!(base_url(server).ok().as_deref(), ok, "{name}");
        }
    }

    #[test]
    fn token_sources_and_their_precedence() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("token");
        std::fs::write(&file, "stk_fromfile\n").unwrap_or_else(|e| panic!("{e}"));
        let mut with_file = args("http://h");
        with_file.token_file = Some(file);
        let client = Client::with_env_token(&with_file, Some("stk_fromenv".into()))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(client.token_source, TokenSource::File);
        assert_eq!(client.token.map(|t| t.0).as_deref(), Some("stk_fromfile"));

        let client = Client::with_env_token(&args("http://h"), Some(" stk_fromenv ".into()))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(client.token.map(|t| t.0).as_deref(), Some("stk_fromenv"));

        let client =
            Client::with_env_token(&args("http://h"), None).unwrap_or_else(|e| panic!("{e}"));
        assert!(client.token.is_none());

        let bad = Client::with_env_token(&args("http://h"), Some("two words".into()));
        assert!(matches!(bad, Err(CliError::Usage(_))));
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let client = Client::with_env_token(&args("http://h"), Some("stk_secret".into()))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!format!("{client:?}").contains("stk_secret"));
    }
}
