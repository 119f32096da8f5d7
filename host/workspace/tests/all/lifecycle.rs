//! Exec streaming, stdin, exit codes, timeouts, OOM, image pinning, limits, idle and orphan
//! reaping.

use std::time::{Duration, Instant};

use stockade_workspace::{
    ExecEvent, ExecRequest, ExecStatus, ImageProfile, WorkspaceBackend as _, runsc_processes,
};

use crate::harness::{env, unique};
use crate::test_env;

#[tokio::test]
async fn exec_streams_output_as_produced_and_reports_the_exit_code() {
    let mut env = test_env!(env());
    let id = env.create("exec").await;
    let started = Instant::now();
    let mut execution = env
        .manager
        .exec(
            &id,
            ExecRequest::new(["sh", "-c", "echo one; sleep 2; echo two >&2; exit 7"]),
        )
        .await
        .expect("exec");
    let mut first_stdout = None;
    let mut stderr = Vec::new();
    let mut outcome = None;
    while let Some(event) = execution.events.recv().await {
        match event {
            ExecEvent::Stdout(b) => {
                first_stdout.get_or_insert((started.elapsed(), b));
            }
            ExecEvent::Stderr(b) => stderr.extend_from_slice(&b),
            ExecEvent::Finished(o) => outcome = Some(o),
        }
    }
    let outcome = outcome.expect("finished event");
    let (at, bytes) = first_stdout.expect("stdout");
    assert_eq!(&bytes[..], b"one\n");
    assert!(
        at + Duration::from_millis(1500) < outcome.duration,
        "streamed before the end: {at:?} vs {:?}",
        outcome.duration
    );
    assert_eq!(stderr, b"two\n");
    assert_eq!(
        (outcome.status, outcome.exit_code),
        (ExecStatus::Exited, Some(7))
    );

    let out = env
        .run(&id, ExecRequest::new(["cat"]).stdin("to stdin"))
        .await;
    assert_eq!(out.stdout_text(), "to stdin");
    let mut request = ExecRequest::new(["sh", "-c", "pwd; echo $GREETING"]);
    request.cwd = Some("/tmp".to_owned());
    request.env = vec![("GREETING".to_owned(), "hi".to_owned())];
    assert_eq!(env.run(&id, request).await.stdout_text(), "/tmp\nhi\n");
    let err = env
        .manager
        .exec(&id, ExecRequest::new(Vec::<String>::new()))
        .await
        .expect_err("empty argv");
    assert_eq!(err.code(), "invalid_request");
    env.finish().await;
}

#[tokio::test]
async fn an_exec_past_its_timeout_is_killed_with_its_children() {
    let mut env = test_env!(env());
    let id = env.create("timeout").await;
    let out = env
        .run(
            &id,
            ExecRequest::new(["sh", "-c", "sleep 300 & sleep 301; echo never"])
                .timeout(Duration::from_secs(1)),
        )
        .await;
    assert_eq!(out.outcome.status, ExecStatus::TimedOut, "{out:?}");
    assert!(
        out.outcome.duration < Duration::from_secs(5),
        "{:?}",
        out.outcome.duration
    );
    assert!(!out.stdout_text().contains("never"));
    let ps = env.sh(&id, "ps").await.stdout_text();
    assert!(
        !ps.contains("sleep 30"),
        "the command's processes are gone:\n{ps}"
    );
    env.finish().await;
}

#[tokio::test]
async fn running_out_of_memory_is_reported_as_oom_killed() {
    let mut env = test_env!(env());
    let mut spec = env.spec("oom");
    spec.limits.memory_bytes = 96 << 20;
    let id = env.manager.create(&spec).await.expect("create");
    let out = env
        .run(
            &id,
            ExecRequest::new(["dd", "if=/dev/zero", "of=/dev/null", "bs=400M", "count=1"])
                .timeout(Duration::from_secs(60)),
        )
        .await;
    assert_eq!(out.outcome.status, ExecStatus::OomKilled, "{out:?}");
    let err = env
        .manager
        .exec(&id, ExecRequest::new(["true"]))
        .await
        .expect_err("the sandbox is gone");
    assert_eq!(err.code(), "workspace_not_running", "{err}");
    env.finish().await;
}

#[tokio::test]
async fn images_must_exist_and_match_their_pin() {
    let mut env = test_env!(env());
    let mut spec = env.spec("images");
    spec.image = env
        .image
        .clone()
        .pinned("sha256:0000000000000000000000000000000000000000000000000000000000000000");
    let err = env.manager.create(&spec).await.expect_err("pin differs");
    assert_eq!(err.code(), "image_mismatch", "{err}");
    spec.image = ImageProfile::new("stockade/no-such-image:nope");
    let err = env.manager.create(&spec).await.expect_err("no image");
    assert_eq!(err.code(), "image_not_found", "{err}");
    spec.image = env.image.clone();
    spec.project_dir = "/nonexistent/project".into();
    let err = env.manager.create(&spec).await.expect_err("no dir");
    assert_eq!(err.code(), "project_dir_invalid", "{err}");
    assert!(
        env.manager.list().await.expect("list").is_empty(),
        "refusals leave nothing behind"
    );
    env.finish().await;
}

#[tokio::test]
async fn a_project_cannot_exceed_its_workspace_limit() {
    let mut env = test_env!(env().max_per_project(1));
    let first = env.create("limited").await;
    let spec = env.spec("limited");
    let err = env
        .manager
        .create(&spec)
        .await
        .expect_err("second workspace");
    assert_eq!(err.code(), "workspace_limit");
    let other = env.spec("another-project");
    env.manager
        .create(&other)
        .await
        .expect("other projects are not limited by it");
    env.manager.destroy(&first).await.expect("destroy");
    env.manager
        .create(&spec)
        .await
        .expect("room again after destroy");
    env.finish().await;
}

#[tokio::test]
async fn idle_workspaces_are_reaped() {
    let mut env = test_env!(env().idle(Duration::from_secs(1), Duration::from_millis(200)));
    let id = env.create("idle").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let all = env.manager.backend().list().await.expect("list");
    assert!(
        all.iter().all(|w| w.id != id),
        "the idle workspace was removed"
    );
    let err = env
        .manager
        .exec(&id, ExecRequest::new(["true"]))
        .await
        .expect_err("gone");
    assert_eq!(err.code(), "workspace_not_found");
    env.finish().await;
}

#[tokio::test]
async fn a_restarted_server_removes_what_its_crashed_run_left() {
    let instance = format!("crashed-{}", unique());
    let mut crashed = test_env!(env().instance(&instance));
    let a = crashed.create("orphans").await;
    let b = crashed.create("orphans").await;
    // The server dies without destroying anything: its manager is simply gone.
    let projects_kept = crashed;
    let before: Vec<_> = runsc_processes()
        .into_iter()
        .filter(|(_, c)| c.contains(&a.0) || c.contains(&b.0))
        .collect();
    assert!(
        !before.is_empty(),
        "running workspaces have runsc processes"
    );

    let restarted = test_env!(env().instance(&instance));
    let all = restarted.manager.backend().list().await.expect("list");
    assert!(
        all.iter().all(|w| w.id != a && w.id != b),
        "orphans removed on start"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let left: Vec<_> = runsc_processes()
        .into_iter()
        .filter(|(_, c)| c.contains(&a.0) || c.contains(&b.0))
        .collect();
    assert!(
        left.is_empty(),
        "no runsc process survives its container: {left:?}"
    );
    drop(projects_kept);
    restarted.finish().await;
}

#[tokio::test]
async fn the_exec_channel_serves_concurrent_execs_large_io_and_survives_its_server_dying() {
    let mut env = test_env!(env());
    let id = env.create("channel").await;
    // Several at once: each takes the helper's idle connection and the helper dials the next.
    let runs = (0..6).map(|i| {
        env.run(
            &id,
            ExecRequest::new(["sh", "-c", &format!("sleep 0.5; echo run{i}")]),
        )
    });
    let started = Instant::now();
    let outs = futures_util::future::join_all(runs).await;
    for (i, out) in outs.iter().enumerate() {
        assert_eq!(out.stdout_text(), format!("run{i}\n"), "{out:?}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "they ran side by side: {:?}",
        started.elapsed()
    );

    // A megabyte through stdin and back.
    let input: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let out = env
        .run(&id, ExecRequest::new(["cat"]).stdin(input.clone()))
        .await;
    assert_eq!(out.stdout.len(), input.len());
    assert!(out.stdout == input, "stdin came back unchanged");

    // A program that does not exist: 127 and a message, like a shell.
    let out = env.run(&id, ExecRequest::new(["/no/such/program"])).await;
    assert_eq!(
        (out.outcome.status, out.outcome.exit_code),
        (ExecStatus::Exited, Some(127)),
        "{out:?}"
    );
    assert!(out.stderr_text().contains("/no/such/program"), "{out:?}");

    // The commands are children of the exec server, which runs as the workspace user and is
    // PID 1's child; killing it from inside only costs a restart.
    let out = env
        .sh(&id, "ps -o pid,ppid,user,args | grep '[h]elper serve'")
        .await;
    let text = out.stdout_text();
    let fields: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(fields.get(1), Some(&"1"), "serve is PID 1's child: {text}");
    let server_pid = fields[0].to_owned();
    let out = env.sh(&id, &format!("kill -9 {server_pid}")).await;
    assert_eq!(out.outcome.status, ExecStatus::WorkspaceDied, "{out:?}");
    let out = env.sh(&id, "echo back").await;
    assert_eq!(out.stdout_text(), "back\n", "{out:?}");
    env.finish().await;
}
