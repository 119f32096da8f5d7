//! `cargo xtask bench-http`: tool calls per second and latency over HTTP with the event log on,
//! measured with a real load generator (wrk), next to the in-process call rate of the runtime.
//!
//! Steps: release build; start `stockade serve` on a fresh data directory with the rate limit
//! raised; create a project, install the `trivial` guest, allow `trivial.noop`; run wrk at full
//! load (closed loop), then paced at about half the measured rate; print both with the
//! in-process figure from `cargo bench -p stockade-runtime --bench calls`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::{cargo, status};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Load {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    failures: u64,
}

pub fn run(root: &Path) -> Result<()> {
    if Command::new("wrk").arg("--version").output().is_err() {
        status(Command::new("apt-get").args(["install", "-y", "-q", "wrk"]))
            .context("wrk (Debian package) is needed for the HTTP benchmark")?;
    }
    eprintln!("bench-http: in-process runtime benchmark (step 1)");
    let in_process = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["bench", "-q", "-p", "stockade-runtime", "--bench", "calls"])
        .env("STOCKADE_BENCH_CALLS", "20000")
        .stderr(Stdio::inherit())
        .output()?;
    let in_process = String::from_utf8_lossy(&in_process.stdout).into_owned();
    print!("{in_process}");
    let in_process_2t = in_process
        .lines()
        .find(|l| l.starts_with("stockade runtime"))
        .and_then(|l| {
            l.split_whitespace()
                .rev()
                .nth(1)
                .and_then(|v| v.parse::<f64>().ok())
        })
        .unwrap_or(f64::NAN);

    eprintln!("bench-http: release build of stockade");
    cargo(&["build", "--release", "-q", "-p", "stockade-cli"])?;
    cargo(&[
        "build",
        "-q",
        "--profile",
        "guest",
        "--target",
        "wasm32-wasip2",
        "-p",
        "stockade-guest-trivial",
    ])?;
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), Into::into);
    let stockade = target.join("release").join("stockade");

    let mut rows = Vec::new();
    for fsync in [true, false] {
        rows.push((fsync, measure(root, &stockade, fsync)?));
    }
    println!();
    println!("HTTP tool calls (trivial.noop, event log on), wrk on the same 2 cores");
    println!(
        "{:<40}{:>12}{:>12}{:>12}{:>10}",
        "", "calls/s", "p50", "p99", "failed"
    );
    for (fsync, (full, half)) in &rows {
        let mode = if *fsync { "fsync" } else { "no fsync" };
        for (name, load) in [("full load (64 conns)", full), ("half load (paced)", half)] {
            println!(
                "{:<40}{:>12.0}{:>9.2} ms{:>9.2} ms{:>10}",
                format!("{name}, {mode}"),
                load.rps,
                load.p50_us / 1e3,
                load.p99_us / 1e3,
                load.failures
            );
        }
    }
    println!(
        "{:<40}{:>12.0}",
        "in-process runtime, 2 threads", in_process_2t
    );
    for (fsync, (full, half)) in &rows {
        let met = full.rps >= 15_000.0 && half.p50_us <= 1000.0;
        println!(
            "goal (fsync={fsync}): >= 15000 calls/s and p50 <= 1 ms at half load: {} ({:.0}/s, {:.2} ms)",
            if met { "met" } else { "NOT met" },
            full.rps,
            half.p50_us / 1e3
        );
    }
    Ok(())
}

/// Starts a server with `[events] fsync = <fsync>`, sets up the benchmark project and measures
/// full load and paced half load.
fn measure(root: &Path, stockade: &Path, fsync: bool) -> Result<(Load, Load)> {
    let work = std::env::temp_dir().join(format!("stockade-bench-{}-{fsync}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(work.join("project"))?;
    std::fs::write(
        work.join("stockade.toml"),
        format!(
            "bind = \"127.0.0.1:0\"\n[rate_limit]\napi_per_minute = 100000000\n[events]\nfsync = {fsync}\n"
        ),
    )?;
    let mut child = Command::new(stockade)
        .args(["serve", "--config"])
        .arg(work.join("stockade.toml"))
        .arg("--data-dir")
        .arg(work.join("data"))
        .env("STOCKADE_LOG", "error")
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().context("server stderr")?;
    let server = Server(child);
    let (mut addr, mut token) = (None, None);
    let mut lines = BufReader::new(stderr).lines();
    while addr.is_none() || token.is_none() {
        let line = lines.next().context("server exited during startup")??;
        if let Some(rest) = line.strip_prefix("stockade listening on http://") {
            addr = Some(rest.trim().to_owned());
        } else if let Some(pos) = line.find("stk_") {
            token = Some(line[pos..].trim().to_owned());
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let (addr, token) = (addr.unwrap_or_default(), token.unwrap_or_default());

    let api = |method: &str, path: &str, body: &str| -> Result<()> {
        let out = Command::new("curl")
            .args([
                "-sf",
                "-X",
                method,
                "-H",
                "Content-Type: application/json",
                "-H",
            ])
            .arg(format!("Authorization: Bearer {token}"))
            .args(["-d", body])
            .arg(format!("http://{addr}{path}"))
            .output()?;
        if !out.status.success() {
            bail!(
                "{method} {path} failed: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        Ok(())
    };
    let project = work.join("project");
    api(
        "POST",
        "/v1/projects",
        &format!(r#"{{"name":"bench","root":"{}"}}"#, project.display()),
    )?;
    let trivial = root.join("tests/guests/trivial");
    api(
        "POST",
        "/v1/projects/bench/bundles",
        &format!(r#"{{"dir":"{}","dev":true}}"#, trivial.display()),
    )?;
    api(
        "POST",
        "/v1/projects/bench/agents",
        r#"{"name":"bench","tools":{"allow":["trivial.noop"]}}"#,
    )?;

    let script = root.join("xtask/bench/tool-call.lua");
    let wrk = |connections: u32, delay_ms: u32, seconds: u32| -> Result<Load> {
        let out = Command::new("wrk")
            .args([
                "-t2",
                &format!("-c{connections}"),
                &format!("-d{seconds}s"),
                "-s",
            ])
            .arg(&script)
            .arg(format!("http://{addr}"))
            .env("STOCKADE_TOKEN", &token)
            .env("STOCKADE_DELAY_MS", delay_ms.to_string())
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find(|l| l.starts_with("STOCKADE "))
            .context("wrk printed no summary")?;
        let field = |name: &str| -> f64 {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                .and_then(|v| v.parse().ok())
                .unwrap_or(f64::NAN)
        };
        Ok(Load {
            rps: field("rps"),
            p50_us: field("p50_us"),
            p99_us: field("p99_us"),
            failures: (field("errors") + field("non2xx")) as u64,
        })
    };
    eprintln!("bench-http: warm-up");
    wrk(16, 0, 3)?;
    eprintln!("bench-http: fsync={fsync}: full load (64 connections, closed loop, 15 s)");
    let full = wrk(64, 0, 15)?;
    // Paced: each connection waits a random pause (exponential, mean `delay`; see the script)
    // after every response, so the rate is about
    // connections / (delay + latency). A 5 s probe measures the latency under pacing, and the
    // delay is corrected once to land near half the full-load rate.
    let connections = 64u32;
    let target = full.rps / 2.0;
    let period_ms = f64::from(connections) * 1000.0 / target;
    let mut delay_ms = period_ms.round().max(1.0) as u32;
    let probe = wrk(connections, delay_ms, 5)?;
    let latency_ms = (f64::from(connections) * 1000.0 / probe.rps - f64::from(delay_ms)).max(0.0);
    delay_ms = (period_ms - latency_ms).round().max(1.0) as u32;
    eprintln!(
        "bench-http: fsync={fsync}: half load ({connections} connections, {delay_ms} ms pause, 15 s, target {target:.0}/s)"
    );
    let half = wrk(connections, delay_ms, 15)?;
    drop(server);
    std::thread::sleep(Duration::from_millis(200));
    let _ = std::fs::remove_dir_all(&work);

    Ok((full, half))
}
