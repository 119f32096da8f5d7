//! A deliberately hostile test plugin: it tries everything a malicious plugin would, so the
//! host's tests can prove the sandbox holds.
//!
//! It does no path checking of its own (unlike `plugins/fs`): every path goes to `std::fs`
//! exactly as given, so `/etc/passwd`, `/project/../etc/passwd` or a symlink pointing out of
//! the project test the host's confinement, not this crate's manners. Other tools exhaust
//! resources (`spin`, `alloc`, `recurse`, `big_output`), probe for ambient authority (`env`,
//! `connect`) or for state leaking between calls (`stash`, then `peek`), and the tools in
//! [`egress`] try to get data out past the egress policy (`http_get`, `resolve`, `udp_send`), and
//! `read_secret` reads a secret and then tries to leak it through the log and its output.
//!
//! Expected failures come back as [`ToolError`]s mapped with [`ToolError::from_io`], so a
//! sandbox refusal is usually `denied` or `not-found`; limit hits are the host's business.

#![forbid(unsafe_code)]

use std::hint::black_box;
use std::sync::Mutex;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use stockade_plugin_sdk::{IoResultExt, ToolError, Tools, log, secrets};

pub mod egress;

/// Input of the tools that take only a path: `read`, `read_other`, `list`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct PathInput {
    /// Any path; passed to `std::fs` unchanged.
    pub path: String,
}

/// Input of `write`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct WriteInput {
    /// Any path; passed to `std::fs` unchanged.
    pub path: String,
    /// What to write.
    pub content: String,
}

/// Input of the tools that take nothing.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Nothing {}

/// Input of `alloc` and `try_alloc`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AllocInput {
    /// Mebibytes to allocate and touch.
    pub mib: u64,
}

/// Input of `recurse`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RecurseInput {
    /// How many nested calls to make.
    pub depth: u64,
}

/// Input of `big_output`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct BigOutputInput {
    /// Length of the returned string in bytes.
    pub bytes: u64,
}

/// Input of `stash`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct StashInput {
    /// Value to keep in a static for a later `peek`.
    pub value: String,
}

/// Input of `connect`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ConnectInput {
    /// `host:port` or `ip:port` to open a TCP connection to.
    pub addr: String,
}

/// Input of `log`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct LogInput {
    /// Message to send to the host's log.
    pub message: String,
}

/// Input of `read_secret`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SecretInput {
    /// Name of the secret to read through `stockade:plugin/secrets`.
    pub name: String,
}

/// Output of `env`.
#[derive(Debug, Serialize)]
pub struct Environment {
    /// Every environment variable the guest can see, as `[name, value]` pairs.
    pub vars: Vec<(String, String)>,
    /// The guest's command-line arguments.
    pub args: Vec<String>,
}

/// Survives between calls only if the host reuses an instance, which it must not.
static STASH: Mutex<Option<String>> = Mutex::new(None);

fn read(input: PathInput) -> Result<Value, ToolError> {
    let bytes = std::fs::read(&input.path).tool_context(|| format!("read {}", input.path))?;
    Ok(json!({ "content": String::from_utf8_lossy(&bytes) }))
}

fn write(input: WriteInput) -> Result<Value, ToolError> {
    std::fs::write(&input.path, input.content.as_bytes())
        .tool_context(|| format!("write {}", input.path))?;
    Ok(json!({ "bytes": input.content.len() }))
}

fn list(input: PathInput) -> Result<Value, ToolError> {
    let context = || format!("list {}", input.path);
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(&input.path).tool_context(context)? {
        let entry = entry.tool_context(context)?;
        entries.push(entry.file_name().to_string_lossy().into_owned());
    }
    entries.sort();
    Ok(json!({ "entries": entries }))
}

fn env(_: Nothing) -> Result<Environment, ToolError> {
    let vars = std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect();
    let args = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    Ok(Environment { vars, args })
}

fn spin(_: Nothing) -> Result<Value, ToolError> {
    let mut counter: u64 = 0;
    loop {
        // `black_box` keeps the optimiser from proving the loop has no effect and deleting it.
        counter = black_box(counter.wrapping_add(1));
    }
}

/// Allocates `mib` MiB and writes every page, so the memory is really used, not just reserved.
fn alloc(input: AllocInput) -> Result<Value, ToolError> {
    let bytes = mib_to_bytes(input.mib)?;
    let mut buffer = vec![0u8; 0];
    buffer.resize(bytes, 0xA5);
    touch(&mut buffer);
    Ok(json!({ "len": black_box(&buffer).len() }))
}

/// Like `alloc`, but asks for the memory fallibly, so a refused `memory.grow` is a `failed`
/// result rather than an abort.
fn try_alloc(input: AllocInput) -> Result<Value, ToolError> {
    let bytes = mib_to_bytes(input.mib)?;
    let mut buffer: Vec<u8> = Vec::new();
    buffer
        .try_reserve_exact(bytes)
        .map_err(|err| ToolError::failed(format!("try_alloc {} MiB: {err}", input.mib)))?;
    buffer.resize(bytes, 0xA5);
    touch(&mut buffer);
    Ok(json!({ "len": black_box(&buffer).len() }))
}

fn mib_to_bytes(mib: u64) -> Result<usize, ToolError> {
    mib.checked_mul(1024 * 1024)
        .and_then(|bytes| usize::try_from(bytes).ok())
        .ok_or_else(|| ToolError::invalid_input(format!("mib: {mib} MiB does not fit in memory")))
}

fn touch(buffer: &mut [u8]) {
    for page in buffer.chunks_mut(4096) {
        page[0] = black_box(page[0].wrapping_add(1));
    }
}

fn recurse(input: RecurseInput) -> Result<Value, ToolError> {
    Ok(json!({ "depth": descend(black_box(input.depth)) }))
}

/// Not a tail call: the frame holds a buffer that is used after the recursive call returns,
/// and `black_box` hides the values from the optimiser, so every level costs real stack.
#[inline(never)]
fn descend(depth: u64) -> u64 {
    if depth == 0 {
        return 0;
    }
    let mut frame = [0u8; 64];
    frame[(depth % 64) as usize] = depth as u8;
    let below = descend(black_box(depth - 1));
    black_box(&frame);
    below + 1
}

fn big_output(input: BigOutputInput) -> Result<String, ToolError> {
    let bytes = usize::try_from(input.bytes)
        .map_err(|_| ToolError::invalid_input("bytes: too large for this platform"))?;
    Ok("x".repeat(bytes))
}

fn stash(input: StashInput) -> Result<Value, ToolError> {
    let mut slot = STASH
        .lock()
        .map_err(|_| ToolError::failed("stash: lock poisoned"))?;
    let previous = slot.replace(input.value);
    Ok(json!({ "previous": previous }))
}

fn peek(_: Nothing) -> Result<Value, ToolError> {
    let slot = STASH
        .lock()
        .map_err(|_| ToolError::failed("peek: lock poisoned"))?;
    Ok(json!({ "value": *slot }))
}

fn connect(input: ConnectInput) -> Result<Value, ToolError> {
    std::net::TcpStream::connect(input.addr.as_str())
        .tool_context(|| format!("connect {}", input.addr))?;
    Ok(json!({ "connected": true }))
}

fn log_message(input: LogInput) -> Result<Value, ToolError> {
    log::log(log::Level::Info, &input.message, &[("source", "hostile")]);
    Ok(json!({}))
}

/// Reads a secret and tries to get it out every way a tool can: the host's log (message and
/// field) and the output.
fn read_secret(input: SecretInput) -> Result<Value, ToolError> {
    let value = secrets::get(&input.name).map_err(|err| ToolError::denied(err.to_string()))?;
    log::log(
        log::Level::Warn,
        &format!("read {}: {value}", input.name),
        &[("value", &value)],
    );
    Ok(json!({ "value": value }))
}

fn noop(_: Nothing) -> Result<Value, ToolError> {
    Ok(json!({}))
}

/// The tools of this plugin.
pub fn tools() -> Tools {
    Tools::new()
        .tool("read", "Reads any path with std::fs, unchecked.", read)
        .tool("write", "Writes any path with std::fs, unchecked.", write)
        .tool("list", "Lists any directory with std::fs, unchecked.", list)
        .tool(
            "env",
            "Returns the environment variables and arguments.",
            env,
        )
        .tool(
            "read_other",
            "Like read; its bundle grants /other only.",
            read,
        )
        .tool("spin", "Loops forever.", spin)
        .tool("alloc", "Allocates and touches `mib` MiB.", alloc)
        .tool("try_alloc", "Allocates `mib` MiB fallibly.", try_alloc)
        .tool("recurse", "Recurses `depth` levels deep.", recurse)
        .tool(
            "big_output",
            "Returns a string of `bytes` bytes.",
            big_output,
        )
        .tool("stash", "Stores `value` in a static.", stash)
        .tool(
            "peek",
            "Returns what `stash` stored in this instance.",
            peek,
        )
        .tool("connect", "Opens a TCP connection to `addr`.", connect)
        .tool(
            "http_get",
            "Sends a raw wasi:http GET to `url`, unvalidated.",
            egress::http_get,
        )
        .tool(
            "resolve",
            "Looks `name` up with wasi:sockets ip-name-lookup.",
            egress::resolve,
        )
        .tool(
            "udp_send",
            "Sends `payload` in a UDP datagram to `addr`.",
            egress::udp_send,
        )
        .tool("log", "Sends `message` to the host's log.", log_message)
        .tool(
            "read_secret",
            "Reads secret `name`, logs it and returns it.",
            read_secret,
        )
        .tool("noop", "Does nothing.", noop)
}

stockade_plugin_sdk::export_plugin!(tools);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pure_tools_behave_natively() {
        let tools = tools();
        assert_eq!(tools.validate(), Ok(()));
        assert_eq!(tools.call("noop", "{}"), Ok("{}".to_owned()));
        assert_eq!(
            tools.call("recurse", r#"{"depth": 1000}"#),
            Ok(r#"{"depth":1000}"#.to_owned())
        );
        assert_eq!(
            tools.call("alloc", r#"{"mib": 2}"#),
            Ok(r#"{"len":2097152}"#.to_owned())
        );
        assert_eq!(
            tools.call("big_output", r#"{"bytes": 3}"#),
            Ok(r#""xxx""#.to_owned())
        );
        assert_eq!(tools.call("peek", "{}"), Ok(r#"{"value":null}"#.to_owned()));
        assert_eq!(
            tools.call("stash", r#"{"value": "s"}"#),
            Ok(r#"{"previous":null}"#.to_owned())
        );
        assert_eq!(tools.call("peek", "{}"), Ok(r#"{"value":"s"}"#.to_owned()));
    }

    #[test]
    fn bundle_declares_exactly_the_registered_tools() {
        let manifest = match stockade_registry_types::BundleManifest::from_toml(include_str!(
            "../bundle.toml"
        )) {
            Ok(manifest) => manifest,
            Err(err) => panic!("bundle.toml: {err}"),
        };
        let mut declared: Vec<&str> = manifest.tools.keys().map(|n| n.as_str()).collect();
        let tools = tools();
        let mut registered: Vec<&str> = tools.names().collect();
        declared.sort_unstable();
        registered.sort_unstable();
        assert_eq!(declared, registered);
        let other = &manifest.tools["read_other"].dirs;
        assert_eq!(other.len(), 1);
        assert_eq!(other[0].mount.as_str(), "/other");
        // The network tools ask for everything their transport can reach, so a test that
        // grants less proves the grant, not the request, is what the host enforces.
        let egress = |tool: &str| manifest.tools[tool].egress.clone();
        assert_eq!(egress("http_get"), ["http://*:*", "https://*:*"]);
        assert_eq!(egress("connect"), ["tcp://*:*"]);
        assert_eq!(egress("resolve"), ["tcp://*:*"]);
        assert_eq!(egress("udp_send"), ["udp://*:*"]);
        assert!(egress("read").is_empty());
    }
}
