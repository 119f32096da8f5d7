//! Installing a ~10 MB bundle from the registry, next to the floor it cannot beat: hashing the
//! component once (`sha256sum`) and compiling it once (`Engine::precompile_component`).
//!
//! `cargo bench -p stockade-registry --bench install` (or `cargo xtask bench-install`).
//!
//! At start it generates a plugin component of about `STOCKADE_BENCH_MB` MiB (default 10): a
//! core module of many small functions (loops, integer arithmetic, loads and stores, calls), so
//! the compile time is that of code rather than of a data segment, wrapped as a component that
//! exports the plugin world's `tools` interface (`describe` offers one tool, `noop`), so the
//! host's `Bundle::open` accepts it. It packs it as a bundle, serves a registry on loopback,
//! publishes and approves it. Then, `STOCKADE_BENCH_ITERATIONS` times (default 5), one after
//! the other in each iteration so that every row sees the same machine state:
//!
//! - `sha256sum <component>`, a subprocess, the file in the page cache;
//! - `Engine::precompile_component` on the runtime's engine (its exact configuration);
//! - the host's install: `RegistryClient::fetch_verified` into a new directory (version listing,
//!   manifest, config and layer over HTTP; every digest, the publisher signature and the
//!   operator approval checked; files fsynced), then `Bundle::open` on that directory with a
//!   runtime whose compiled-component cache is empty (read, compile, write the cache file,
//!   pre-instantiate, `describe`).
//!
//! It prints p50 and min of each, the install's two parts, and install / (sha256sum +
//! precompile).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use stockade_bundle::{
    Digest, KeyRing, PackedBundle, RegistryClient, SecretKey, SignedApproval, TrustPolicy, pack,
    sign_manifest,
};
use stockade_registry::config::Token;
use stockade_registry::store::Store;
use stockade_registry::{AppState, Config, app};
use stockade_runtime::{Bundle, CacheOutcome, Runtime, RuntimeConfig};

const PUBLISH_TOKEN: &str = "bench-publish-token-0123456789";
const ADMIN_TOKEN: &str = "bench-admin-token-0123456789";
const WASM_FILE: &str = "bench_install.wasm";
const TOOL: &str = "noop";
const BUNDLE_TOML: &str = r#"[bundle]
name = "bench-install"
version = "0.1.0"
description = "A generated component of about 10 MB, for the install benchmark."

[components.main]
wasm = "bench_install.wasm"

[tools.noop]
component = "main"
"#;

fn main() -> Result<()> {
    let iterations = env_number("STOCKADE_BENCH_ITERATIONS", 5)?.max(1);
    let mib = env_number("STOCKADE_BENCH_MB", 10)?.max(1);
    let work = tempfile::tempdir().context("temporary directory")?;

    let started = Instant::now();
    let (wasm, functions) = plugin_component(mib << 20)?;
    eprintln!(
        "generated a {} byte component ({functions} functions) in {}",
        wasm.len(),
        ms(started.elapsed())
    );
    let bundle_dir = work.path().join("bundle");
    std::fs::create_dir(&bundle_dir)?;
    std::fs::write(bundle_dir.join("bundle.toml"), BUNDLE_TOML)?;
    let wasm_path = bundle_dir.join(WASM_FILE);
    std::fs::write(&wasm_path, &wasm)?;
    let packed = pack(&bundle_dir).context("packing the bundle")?;

    let publisher = SecretKey::generate()?;
    let operator = SecretKey::generate()?;
    let registry = TestRegistry::start(work.path().join("registry"), &operator)?;
    publish_and_approve(&registry.url, &packed, &publisher, &operator)?;
    let policy = TrustPolicy {
        publisher_keys: KeyRing::new([publisher.public()]),
        operator_keys: KeyRing::new([operator.public()]),
        ..TrustPolicy::default()
    };
    let client = RegistryClient::new(&registry.url)?;
    let name = packed.bundle.bundle.name.as_str();
    let version = &packed.bundle.bundle.version;
    let digest = Digest::of(&wasm);
    let executor = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let floor_runtime = Runtime::new(RuntimeConfig::default())?;

    let mut sha256sum = Vec::new();
    let mut precompile = Vec::new();
    let mut download = Vec::new();
    let mut compile = Vec::new();
    let mut install = Vec::new();
    let mut compiled_bytes = 0;
    for i in 1..=iterations {
        let started = Instant::now();
        let output = Command::new("sha256sum")
            .arg(&wasm_path)
            .output()
            .context("running sha256sum (coreutils)")?;
        sha256sum.push(started.elapsed());
        ensure!(
            output.status.success(),
            "sha256sum failed: {}",
            output.status
        );
        ensure!(
            output.stdout.starts_with(digest.hex().as_bytes()),
            "sha256sum disagrees with the layer digest"
        );

        let started = Instant::now();
        let compiled = floor_runtime
            .engine()
            .precompile_component(&wasm)
            .map_err(|err| anyhow!("precompiling: {err:#}"))?;
        precompile.push(started.elapsed());
        compiled_bytes = compiled.len();
        drop(compiled);

        // A host with an empty compiled-component cache, so `Bundle::open` really compiles.
        let scratch = tempfile::tempdir_in(work.path())?;
        let host = Runtime::new(RuntimeConfig {
            cache_dir: Some(scratch.path().join("cache")),
            ..RuntimeConfig::default()
        })?;
        let dest = scratch.path().join("installed");
        let started = Instant::now();
        let verified = client
            .fetch_verified(name, version, &policy, &dest, &mut |_| {})
            .context("fetch_verified")?;
        let fetched = started.elapsed();
        let bundle = executor
            .block_on(Bundle::open(&host, &verified.dir))
            .context("Bundle::open on the installed directory")?;
        let total = started.elapsed();
        let tool = bundle
            .tools()
            .get(TOOL)
            .context("the tool was not loaded")?;
        let outcome = tool.component().cache_outcome();
        ensure!(
            *outcome == CacheOutcome::Miss,
            "expected a cache miss, got {outcome:?}"
        );
        download.push(fetched);
        compile.push(total - fetched);
        install.push(total);
        eprintln!(
            "iteration {i}/{iterations}: sha256sum {}, precompile {}, install {} ({} + {})",
            ms(sha256sum[i - 1]),
            ms(precompile[i - 1]),
            ms(total),
            ms(fetched),
            ms(total - fetched)
        );
    }

    let (sha, pre, ins) = (stats(&sha256sum), stats(&precompile), stats(&install));
    println!();
    println!(
        "install benchmark: one bundle, one component of {:.1} MiB ({} bytes, {functions} \
         functions, {:.1} MiB compiled), {iterations} iterations, {} cores",
        wasm.len() as f64 / f64::from(1 << 20),
        wasm.len(),
        compiled_bytes as f64 / f64::from(1 << 20),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("{:<62} {:>10} {:>10}", "", "p50", "min");
    let row = |label: &str, (p50, min): (Duration, Duration)| {
        println!("{label:<62} {:>10} {:>10}", ms(p50), ms(min));
    };
    row("sha256sum of the component (coreutils, subprocess)", sha);
    row(
        "precompile (Engine::precompile_component, runtime engine)",
        pre,
    );
    row("install, total", ins);
    row(
        "  download + verify (RegistryClient::fetch_verified)",
        stats(&download),
    );
    row(
        "  compile (Bundle::open, empty cache; cache write, describe)",
        stats(&compile),
    );
    println!(
        "install / (sha256sum + precompile): {:.2} at p50, {:.2} at min",
        ins.0.as_secs_f64() / (sha.0 + pre.0).as_secs_f64(),
        ins.1.as_secs_f64() / (sha.1 + pre.1).as_secs_f64()
    );
    Ok(())
}

/// (p50, min) of the samples.
fn stats(samples: &[Duration]) -> (Duration, Duration) {
    let mut sorted = samples.to_vec();
    sorted.sort();
    (sorted[sorted.len() / 2], sorted[0])
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1e3)
}

fn env_number(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .with_context(|| format!("{name}={text:?} is not a number")),
        Err(_) => Ok(default),
    }
}

/// A plugin component of about `target` bytes, and the number of filler functions in it.
fn plugin_component(target: usize) -> Result<(Vec<u8>, usize)> {
    // Bytes per filler function, measured on a small build, then scaled to the target.
    const PROBE: usize = 1000;
    let base = wat::parse_str(component_wat(0))?.len();
    let per_function = (wat::parse_str(component_wat(PROBE))?.len() - base) / PROBE;
    let functions = target.saturating_sub(base) / per_function.max(1);
    let wasm = wat::parse_str(component_wat(functions)).context("generated component")?;
    ensure!(
        wasm.starts_with(b"\0asm\x0d\0\x01\0"),
        "not a WebAssembly component"
    );
    Ok((wasm, functions))
}

/// The component's text: a core module with `describe`, `call`, a bump allocator and
/// `functions` fillers, lifted into a `stockade:plugin/tools` export.
fn component_wat(functions: usize) -> String {
    let description = "Does nothing; a large generated component for the install benchmark.";
    let schema = r#"{"type":"object"}"#;
    let output = "{}";
    // Static data: strings at fixed offsets, then the records the canonical ABI returns.
    let (name_at, description_at, schema_at, output_at) = (16, 32, 160, 192);
    let (record_at, describe_at, call_at) = (256, 288, 304);
    let record = words(&[
        name_at,
        TOOL.len() as u32,
        description_at,
        description.len() as u32,
        schema_at,
        schema.len() as u32,
    ]);
    let mut wat = String::with_capacity(functions * 1200 + 4096);
    let _ = write!(
        wat,
        r#"(component
  (core module $m
    (memory (export "memory") 1)
    (global $heap (mut i32) (i32.const 1024))
    (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (local i32)
      global.get $heap local.get 2 i32.add i32.const 1 i32.sub
      i32.const 0 local.get 2 i32.sub i32.and
      local.tee 4 local.get 3 i32.add global.set $heap
      block loop
        global.get $heap memory.size i32.const 16 i32.shl i32.le_u br_if 1
        i32.const 1 memory.grow i32.const -1 i32.eq if unreachable end
        br 0
      end end
      local.get 4)
    (data (i32.const {name_at}) "{TOOL}")
    (data (i32.const {description_at}) "{description}")
    (data (i32.const {schema_at}) "{schema}")
    (data (i32.const {output_at}) "{output}")
    (data (i32.const {record_at}) "{record}")
    (data (i32.const {describe_at}) "{list}")
    (data (i32.const {call_at}) "{ok}")
    (func (export "describe") (result i32) i32.const {describe_at})
    (func (export "call") (param i32 i32 i32 i32) (result i32) i32.const {call_at})
"#,
        schema = schema.replace('"', "\\\""),
        list = words(&[record_at, 1]),
        ok = words(&[0, output_at, output.len() as u32]),
    );
    for k in 0..functions {
        filler(k, &mut wat);
    }
    wat.push_str(
        r#"  )
  (core instance $i (instantiate $m))
  (type $tool-descriptor (record
    (field "name" string) (field "description" string) (field "input-schema" string)))
  (type $tool-error (variant
    (case "invalid-input" string) (case "not-found" string)
    (case "denied" string) (case "failed" string)))
  (func $describe (result (list $tool-descriptor))
    (canon lift (core func $i "describe") (memory (core memory $i "memory"))))
  (func $call (param "tool" string) (param "input" string)
    (result (result string (error $tool-error)))
    (canon lift (core func $i "call") (memory (core memory $i "memory"))
      (realloc (core func $i "cabi_realloc"))))
  (instance $tools
    (export "tool-descriptor" (type $tool-descriptor))
    (export "tool-error" (type $tool-error))
    (export "describe" (func $describe))
    (export "call" (func $call)))
  (export "stockade:plugin/tools@0.1.1" (instance $tools))
)
"#,
    );
    wat
}

/// One filler function: a few rounds of a counted loop, a load, 64-bit multiply, division, a
/// store and a branch that calls the previous filler. Constants vary per function.
fn filler(k: usize, wat: &mut String) {
    let mut state = (k as u32).wrapping_mul(0x9e37_79b9) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    let _ = writeln!(
        wat,
        "    (func $f{k} (param i32 i32) (result i32) (local i32 i32 i64)\n      \
         local.get 0 i32.const {} i32.add local.set 2",
        next()
    );
    for _ in 0..3 {
        let recurse = match k {
            0 => format!("local.get 2 i32.const {} i32.mul", next() | 1),
            _ => format!("local.get 2 local.get 1 call $f{}", k - 1),
        };
        let _ = writeln!(
            wat,
            "      i32.const 0 local.set 3
      block loop
        local.get 2 local.get 1 i32.mul i32.const {} i32.xor i32.const {} i32.rotl local.set 2
        local.get 3 i32.const 1 i32.add local.tee 3 i32.const {} i32.lt_u br_if 0
      end end
      local.get 2 i32.const 65520 i32.and i32.load offset={}
      local.get 2 i64.extend_i32_u i64.const {} i64.mul local.tee 4
      i64.const 29 i64.shr_u i32.wrap_i64 i32.add
      local.get 4 i32.wrap_i64 i32.const {} i32.rem_u i32.add local.set 2
      local.get 2 i32.const 65520 i32.and local.get 2 local.get 1 i32.add i32.store offset={}
      local.get 2 i32.const {} i32.and
      if (result i32) {recurse} else local.get 1 local.get 2 i32.sub end
      local.get 2 i32.add local.set 2",
            next(),
            next() % 31 + 1,
            next() % 64 + 2,
            next() % 4 * 4,
            (u64::from(next()) << 7) | 1,
            next() | 1,
            next() % 4 * 4,
            1 << (next() % 8),
        );
    }
    wat.push_str("      local.get 2)\n");
}

/// Little-endian 32-bit words as a WAT data string.
fn words(values: &[u32]) -> String {
    values
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .fold(String::new(), |mut text, byte| {
            let _ = write!(text, "\\{byte:02x}");
            text
        })
}

fn publish_and_approve(
    url: &str,
    packed: &PackedBundle,
    publisher: &SecretKey,
    operator: &SecretKey,
) -> Result<()> {
    let client = RegistryClient::new(url)?;
    let signature = sign_manifest(publisher, &packed.manifest_digest);
    client
        .clone()
        .with_token(PUBLISH_TOKEN)
        .publish(packed, &signature)
        .context("publish")?;
    let b = &packed.bundle.bundle;
    let approval = SignedApproval::sign(
        operator,
        b.name.as_str(),
        &b.version.to_string(),
        &packed.manifest_digest,
        &packed.capabilities_digest,
    )?;
    client
        .with_token(ADMIN_TOKEN)
        .approve(&approval)
        .context("approve")?;
    Ok(())
}

/// A registry on a loopback port, served from a background thread until dropped (as in
/// `tests/all/harness.rs`).
struct TestRegistry {
    url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl TestRegistry {
    fn start(data: PathBuf, operator: &SecretKey) -> Result<Self> {
        let mut config = Config::new(data);
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.publish_token = Some(Token::new(PUBLISH_TOKEN)?);
        config.admin_token = Some(Token::new(ADMIN_TOKEN)?);
        config.operator_keys = KeyRing::new([operator.public()]);
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || -> Result<()> {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let store = Store::open(&config.data).await?;
                let listener = tokio::net::TcpListener::bind(config.listen).await?;
                let _ = addr_tx.send(listener.local_addr()?);
                axum::serve(listener, app(AppState::new(store, config)))
                    .with_graceful_shutdown(async {
                        let _ = stop.await;
                    })
                    .await?;
                Ok(())
            })
        });
        let Ok(addr) = addr_rx.recv() else {
            return match thread.join() {
                Ok(Err(err)) => Err(err.context("the registry did not start")),
                _ => bail!("the registry did not start"),
            };
        };
        Ok(TestRegistry {
            url: format!("http://{addr}"),
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
