//! Workspace latency through this crate next to the Docker CLI on the same image, in one run:
//! `cargo bench -p stockade-workspace --bench workspaces` (needs `.ci/dockerd.sh`).
//!
//! - create → first exec finished (cold), through the crate
//! - `docker run --rm --runtime=runsc IMAGE true`
//! - exec round trip (`true`), through the crate
//! - `docker exec ID true`
//! - warm pool acquisition (a started workspace handed out) and acquisition → first exec

use std::process::Command;
use std::time::{Duration, Instant};

use stockade_workspace::{
    DockerBackend, ExecRequest, ImageProfile, ManagerConfig, RuntimeChoice, TEST_IMAGE, WarmPool,
    WorkspaceManager, WorkspaceSpec, docker_host,
};

const ROUNDS: usize = 15;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let host = docker_host();
    let backend = DockerBackend::connect(&host, RuntimeChoice::default()).await?;
    let state = tempfile::Builder::new().prefix("swb").tempdir_in("/tmp")?;
    let project = tempfile::tempdir()?;
    std::os::unix::fs::chown(project.path(), Some(65534), Some(65534))?;
    let mut config = ManagerConfig::new(format!("bench-{}", std::process::id()), state.path());
    config.max_per_project = 8;
    let manager = WorkspaceManager::start(backend, config).await?;
    let spec = WorkspaceSpec::new(
        "bench",
        "bench",
        project.path(),
        ImageProfile::new(TEST_IMAGE),
    );
    let true_exec = || ExecRequest::new(["true"]).timeout(Duration::from_secs(30));

    let mut cold = Vec::new();
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let id = manager.create(&spec).await?;
        manager.exec(&id, true_exec()).await?.collect().await;
        cold.push(start.elapsed());
        manager.destroy(&id).await?;
    }

    let docker_env = |cmd: &mut Command| {
        cmd.env("DOCKER_HOST", &host);
    };
    let mut cli_run = Vec::new();
    for _ in 0..ROUNDS {
        let mut cmd = Command::new("docker");
        cmd.args([
            "run",
            "--rm",
            "--runtime=runsc",
            "--network=none",
            TEST_IMAGE,
            "true",
        ]);
        docker_env(&mut cmd);
        let start = Instant::now();
        let status = cmd.status()?;
        cli_run.push(start.elapsed());
        assert!(status.success(), "docker run failed");
    }

    let id = manager.create(&spec).await?;
    let mut exec = Vec::new();
    for _ in 0..ROUNDS * 2 {
        let start = Instant::now();
        manager.exec(&id, true_exec()).await?.collect().await;
        exec.push(start.elapsed());
    }
    let mut cli_exec = Vec::new();
    for _ in 0..ROUNDS * 2 {
        let mut cmd = Command::new("docker");
        cmd.args(["exec", &id.0, "true"]);
        docker_env(&mut cmd);
        let start = Instant::now();
        let status = cmd.status()?;
        cli_exec.push(start.elapsed());
        assert!(status.success(), "docker exec failed");
    }
    manager.destroy(&id).await?;

    let pool = WarmPool::new(manager.clone(), spec.clone(), 2);
    let mut acquire = Vec::new();
    let mut acquire_exec = Vec::new();
    for _ in 0..ROUNDS {
        pool.fill().await?;
        let start = Instant::now();
        let id = pool.acquire().await?;
        acquire.push(start.elapsed());
        manager.exec(&id, true_exec()).await?.collect().await;
        acquire_exec.push(start.elapsed());
        manager.destroy(&id).await?;
        // Let the background refill finish before the next round.
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    pool.drain().await;
    for info in manager.list().await? {
        let _ = manager.destroy(&info.id).await;
    }

    println!(
        "\nworkspace latency, runsc (ptrace), image {TEST_IMAGE}, {ROUNDS} rounds (exec: {})",
        ROUNDS * 2
    );
    println!("{:<44} {:>10} {:>10}", "", "p50", "p95");
    row("create -> first exec done (crate, cold)", &mut cold);
    row("docker run --rm --runtime=runsc IMAGE true", &mut cli_run);
    row("warm pool acquire (crate)", &mut acquire);
    row("warm pool acquire -> first exec done", &mut acquire_exec);
    row("exec round trip `true` (crate)", &mut exec);
    row("docker exec ID true (CLI)", &mut cli_exec);
    Ok(())
}

fn row(name: &str, samples: &mut [Duration]) {
    samples.sort();
    let pick = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[i.min(samples.len() - 1)]
    };
    println!(
        "{name:<44} {:>8.1}ms {:>8.1}ms",
        pick(0.5).as_secs_f64() * 1e3,
        pick(0.95).as_secs_f64() * 1e3
    );
}
