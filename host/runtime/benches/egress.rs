//! What the egress policy costs a plugin's request: the `http` plugin's `fetch` through the
//! full policy versus the thinnest grant the runtime can run, against a local server, and the
//! policy's own work per request measured alone.
//!
//! `cargo bench -p stockade-runtime --bench egress`. Prints, side by side:
//!
//! - (a) `fetch` of `http://api.bench.test:PORT/` with a name rule plus the loopback address
//!   rule that opens the server's port, through a `StaticResolver`: URL parsing, rule match,
//!   name denylist, one lookup, address judging, then connect and one HTTP/1.1 exchange;
//! - (b) the same fetch of `http://127.0.0.1:PORT/` with only the address rule: no name, no
//!   lookup, one rule. The runtime has no switch that turns the policy off (and should not
//!   have one), so this is the honest floor;
//! - (c) `Destination::from_url` + `EgressPolicy::resolve` alone, in a tight loop, for both
//!   URLs: the per-request cost of the checks, which the goal compares with (a)'s median.
//!
//! Calls of (a) and (b) alternate, so drift hits both alike. Each call is a fresh instance and
//! a fresh connection to a server that keeps nothing (`connection: close`). Set
//! `STOCKADE_BENCH_CALLS` to change the number of calls per path (default 2000).

// Test code: a failed unwrap is a failed benchmark, with its location.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stockade_egress::{Destination, EgressGrant, EgressPolicy, Resolver, StaticResolver};
use stockade_runtime::{Egress, LoadedComponent, Runtime, RuntimeConfig, ToolCall, ToolGrants};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NAME: &str = "api.bench.test";
const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";

/// A loopback server on its own thread: reads one request head, answers `ok`, closes.
fn start_server() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = stream.write_all(RESPONSE).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
    });
    addr
}

/// One way of reaching the server: the grant and the URL.
struct Path {
    name: &'static str,
    policy: EgressPolicy,
    input: String,
}

async fn fetch(
    runtime: &Runtime,
    component: &LoadedComponent,
    path: &Path,
    resolver: &Arc<StaticResolver>,
) -> Duration {
    let started = Instant::now();
    let egress = Egress::new(path.policy.clone(), resolver.clone());
    let grants = ToolGrants::none().with_egress(egress);
    let call = ToolCall {
        tool: "fetch",
        input: &path.input,
        grants: &grants,
        limits: stockade_runtime::Limits::default(),
    };
    let out = runtime.call(component, call).await;
    let elapsed = started.elapsed();
    match out {
        Ok(out) if out.output.contains("\"status\":200") => elapsed,
        Ok(out) => panic!("{}: unexpected output {}", path.name, out.output),
        Err(err) => panic!("{}: {err}", path.name),
    }
}

/// Mean time of `Destination::from_url` + `EgressPolicy::resolve` for `url`: the median of
/// five batches of `n`.
async fn check_cost(policy: &EgressPolicy, resolver: &dyn Resolver, url: &str, n: u32) -> Duration {
    let mut batches = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        for _ in 0..n {
            let dest = Destination::from_url(black_box(url)).unwrap();
            let addresses = policy.resolve(&dest, resolver).await.unwrap();
            black_box(addresses);
        }
        batches.push(started.elapsed() / n);
    }
    batches.sort();
    batches[batches.len() / 2]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let calls: usize = std::env::var("STOCKADE_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let server = start_server();
    let port = server.port();
    let cache = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        ..RuntimeConfig::default()
    })
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let wasm = std::fs::read(stockade_test_artifacts::HTTP).expect("http plugin is built");
    let component = rt.block_on(runtime.load("http", wasm)).unwrap();

    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let resolver = Arc::new(StaticResolver::new().with(NAME, [loopback]));
    let full_url = format!("http://{NAME}:{port}/");
    let thin_url = format!("http://127.0.0.1:{port}/");
    let full_rules = [
        format!("http://{NAME}:{port}"),
        format!("http://127.0.0.1/32:{port}"),
    ];
    let thin_rules = [format!("http://127.0.0.1/32:{port}")];
    let paths = [
        Path {
            name: "(a) full policy: name + address rule",
            policy: EgressPolicy::new(EgressGrant::parse(&full_rules).unwrap()),
            input: serde_json::json!({ "url": full_url }).to_string(),
        },
        Path {
            name: "(b) one address rule, IP literal",
            policy: EgressPolicy::new(EgressGrant::parse(&thin_rules).unwrap()),
            input: serde_json::json!({ "url": thin_url }).to_string(),
        },
    ];

    let mut samples = [Vec::with_capacity(calls), Vec::with_capacity(calls)];
    rt.block_on(async {
        for _ in 0..calls / 10 {
            for path in &paths {
                fetch(&runtime, &component, path, &resolver).await;
            }
        }
        for _ in 0..calls {
            for (path, samples) in paths.iter().zip(&mut samples) {
                samples.push(fetch(&runtime, &component, path, &resolver).await);
            }
        }
    });

    let checks = u32::try_from(calls.max(1000) * 20).unwrap_or(u32::MAX);
    let (check_full, check_thin) = rt.block_on(async {
        (
            check_cost(&paths[0].policy, resolver.as_ref(), &full_url, checks).await,
            check_cost(&paths[1].policy, resolver.as_ref(), &thin_url, checks).await,
        )
    });

    println!(
        "Stockade egress benchmark: http plugin `fetch` from a local server, {calls} calls per path"
    );
    println!(
        "{:<42}{:>11}{:>11}{:>12}",
        "fetch (fresh instance + connection)", "median", "p99", "calls/s"
    );
    let mut medians = Vec::new();
    for (path, samples) in paths.iter().zip(&mut samples) {
        samples.sort();
        let median = samples[samples.len() / 2];
        let p99 = samples[samples.len() * 99 / 100];
        let total: Duration = samples.iter().sum();
        let rate = samples.len() as f64 / total.as_secs_f64();
        println!(
            "{:<42}{:>8.1} us{:>8.1} us{:>10.0} /s",
            path.name,
            us(median),
            us(p99),
            rate
        );
        medians.push(median);
    }
    let (full, thin) = (us(medians[0]), us(medians[1]));
    println!(
        "{:<42}{:>8.1} us   ({:+.1} % of (b))",
        "difference (a) - (b)",
        full - thin,
        (full - thin) / thin * 100.0
    );
    println!();
    println!(
        "{:<42}{:>11}",
        "(c) policy alone: from_url + resolve", "per check"
    );
    println!(
        "{:<42}{:>8.2} us",
        "name + lookup + address (as in a)",
        us(check_full)
    );
    println!("{:<42}{:>8.2} us", "IP literal (as in b)", us(check_thin));
    let share = us(check_full) / full * 100.0;
    println!();
    println!(
        "goal: policy checks <= 5% of request time: {} ({:.2} us of {:.1} us median = {:.2} %)",
        if share <= 5.0 { "met" } else { "NOT met" },
        us(check_full),
        full,
        share
    );
}
