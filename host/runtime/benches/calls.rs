//! Fresh-instance call cost through the Stockade runtime versus bare wasmtime, side by side.
//!
//! `cargo bench -p stockade-runtime --bench calls` (or `cargo xtask bench`). Prints compile
//! time, cached load time, and per-call latency (median, p99) and throughput on 1 and 2 threads
//! for the `trivial` guest's `noop` tool. Set `STOCKADE_BENCH_CALLS` to change the number of
//! calls per measurement (default 20000).

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use stockade_runtime::{Limits, LoadedComponent, Runtime, RuntimeConfig, ToolCall, ToolGrants};

#[derive(Clone, Copy, PartialEq)]
enum Path {
    Bare,
    Stockade,
}

async fn one_call(runtime: &Runtime, component: &LoadedComponent, path: Path, grants: &ToolGrants) {
    let result = match path {
        Path::Bare => runtime
            .baseline_call(component, "noop", "{}")
            .await
            .map(drop),
        Path::Stockade => runtime
            .call(
                component,
                ToolCall {
                    tool: "noop",
                    input: "{}",
                    grants,
                    limits: Limits::default(),
                },
            )
            .await
            .map(drop)
            .map_err(|err| err.to_string()),
    };
    if let Err(err) = result {
        panic!("benchmark call failed: {err}");
    }
}

/// Per-call latencies on one thread.
fn latencies(
    runtime: &Arc<Runtime>,
    component: &Arc<LoadedComponent>,
    path: Path,
    calls: usize,
) -> Vec<Duration> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let grants = ToolGrants::none();
    rt.block_on(async {
        for _ in 0..calls / 10 {
            one_call(runtime, component, path, &grants).await;
        }
        let mut samples = Vec::with_capacity(calls);
        for _ in 0..calls {
            let started = Instant::now();
            one_call(runtime, component, path, &grants).await;
            samples.push(started.elapsed());
        }
        samples.sort();
        samples
    })
}

/// Calls per second with `threads` OS threads, each driving its own current-thread executor.
fn throughput(
    runtime: &Arc<Runtime>,
    component: &Arc<LoadedComponent>,
    path: Path,
    threads: usize,
    calls: usize,
) -> f64 {
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let (runtime, component) = (runtime.clone(), component.clone());
            scope.spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let grants = ToolGrants::none();
                rt.block_on(async {
                    for _ in 0..calls {
                        one_call(&runtime, &component, path, &grants).await;
                    }
                });
            });
        }
    });
    (threads * calls) as f64 / started.elapsed().as_secs_f64()
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let calls: usize = std::env::var("STOCKADE_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let wasm = std::fs::read(stockade_test_artifacts::TRIVIAL).expect("trivial guest is built");
    let cache = tempfile::tempdir().unwrap();
    let config = RuntimeConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        ..RuntimeConfig::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // Compile: a fresh cache directory each time, so every load compiles.
    let mut compile = Vec::new();
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let runtime = Runtime::new(RuntimeConfig {
            cache_dir: Some(dir.path().to_path_buf()),
            ..config.clone()
        })
        .unwrap();
        let started = Instant::now();
        let component = rt.block_on(runtime.load("trivial", wasm.clone())).unwrap();
        compile.push(started.elapsed());
        assert_eq!(
            *component.cache_outcome(),
            stockade_runtime::CacheOutcome::Miss
        );
    }

    // The bare compile: wasmtime alone, no hashing, cache write, pre-instantiation or describe.
    let mut bare_compile = Vec::new();
    for _ in 0..5 {
        let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
        let started = Instant::now();
        wasmtime::component::Component::from_binary(runtime.engine(), &wasm).unwrap();
        bare_compile.push(started.elapsed());
    }

    // Cached load: what a restarted server pays per component.
    let runtime = Arc::new(Runtime::new(config.clone()).unwrap());
    rt.block_on(runtime.load("trivial", wasm.clone())).unwrap();
    let mut cached = Vec::new();
    for _ in 0..20 {
        let runtime = Runtime::new(config.clone()).unwrap();
        let started = Instant::now();
        let component = rt.block_on(runtime.load("trivial", wasm.clone())).unwrap();
        cached.push(started.elapsed());
        assert_eq!(
            *component.cache_outcome(),
            stockade_runtime::CacheOutcome::Hit
        );
    }
    let component = Arc::new(rt.block_on(runtime.load("trivial", wasm.clone())).unwrap());
    drop(rt);

    println!(
        "Stockade runtime benchmark: trivial component ({} KiB), tool `noop`, {calls} calls per figure",
        wasm.len() / 1024
    );
    let (bare_ms, ours_ms) = (ms(median(&mut bare_compile)), ms(median(&mut compile)));
    println!(
        "{:<28}{:>11}{:>14}{:>10}",
        "load", "bare", "stockade", "ratio"
    );
    println!(
        "{:<28}{bare_ms:>8.1} ms{ours_ms:>11.1} ms{:>9.2}x   (stockade: + sha256, cache write, pre-instantiate, describe)",
        "compile",
        ours_ms / bare_ms
    );
    println!(
        "{:<28}{:>11}{:>11.2} ms   (HMAC check + deserialize + pre-instantiate + describe)",
        "cached load",
        "-",
        ms(median(&mut cached))
    );
    println!();
    println!(
        "{:<28}{:>11}{:>11}{:>14}{:>14}",
        "fresh instance per call", "median", "p99", "1 thread", "2 threads"
    );
    let mut rows = Vec::new();
    for (name, path) in [
        ("bare wasmtime (baseline)", Path::Bare),
        ("stockade runtime", Path::Stockade),
    ] {
        let samples = latencies(&runtime, &component, path, calls);
        let med = samples[samples.len() / 2];
        let p99 = samples[samples.len() * 99 / 100];
        let one = throughput(&runtime, &component, path, 1, calls);
        let two = throughput(&runtime, &component, path, 2, calls);
        println!(
            "{name:<28}{:>8.1} us{:>8.1} us{:>10.0} /s{:>10.0} /s",
            us(med),
            us(p99),
            one,
            two
        );
        rows.push((med, p99, one, two));
    }
    let (bare, ours) = (rows[0], rows[1]);
    println!(
        "{:<28}{:>10.2}x{:>10.2}x{:>13.2}x{:>13.2}x",
        "ratio stockade / bare",
        us(ours.0) / us(bare.0),
        us(ours.1) / us(bare.1),
        bare.2 / ours.2,
        bare.3 / ours.3
    );
    let met = us(ours.0) <= 25.0 && us(ours.0) / us(bare.0) <= 1.25;
    println!();
    println!(
        "goal: stockade median <= 25 us and <= 1.25x bare: {} ({:.1} us, {:.2}x)",
        if met { "met" } else { "NOT met" },
        us(ours.0),
        us(ours.0) / us(bare.0)
    );
}
