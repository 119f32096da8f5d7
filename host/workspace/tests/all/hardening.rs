//! Hostile cases inside one workspace: each row a command an attacker would try and what must
//! happen.

use std::time::Duration;

use bollard::query_parameters::InspectContainerOptions;
use stockade_workspace::{ExecRequest, ExecStatus, Limits, WorkspaceBackend as _, WorkspaceError};

use crate::harness::env;
use crate::test_env;

/// (name, script, expectation on stdout+stderr and exit code)
struct Case {
    name: &'static str,
    script: &'static str,
    succeeds: bool,
    output_contains: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "no effective capabilities",
        script: "grep CapEff /proc/self/status",
        succeeds: true,
        output_contains: "CapEff:\t0000000000000000",
    },
    Case {
        name: "no_new_privs is set",
        script: "/.stockade/helper probe",
        succeeds: true,
        output_contains: "no_new_privs=1",
    },
    Case {
        name: "not root",
        script: "id -u",
        succeeds: true,
        output_contains: "65534",
    },
    Case {
        name: "root filesystem is mounted read-only",
        script: "grep -E '^[^ ]+ / ' /proc/mounts",
        succeeds: true,
        output_contains: " ro,",
    },
    Case {
        name: "writing to / fails",
        script: "touch /evil",
        succeeds: false,
        output_contains: "/evil",
    },
    Case {
        name: "/etc is read-only too",
        script: "echo x >> /etc/passwd",
        succeeds: false,
        output_contains: "",
    },
    Case {
        name: "/tmp refuses to grow past its cap",
        script: "dd if=/dev/zero of=/tmp/fill bs=1M count=100",
        succeeds: false,
        output_contains: "No space left on device",
    },
    // runsc applies the profile to the container's init (the helper) and its descendants only
    // (not to `docker exec` processes): every exec is spawned by the helper, so it is filtered.
    Case {
        name: "seccomp filters the sandbox's init",
        script: "grep Seccomp /proc/1/status",
        succeeds: true,
        output_contains: "Seccomp:\t2",
    },
    Case {
        name: "seccomp filters an exec'd command",
        script: "grep Seccomp /proc/self/status",
        succeeds: true,
        output_contains: "Seccomp:\t2",
    },
    Case {
        name: "seccomp denies a listed syscall to an exec'd command",
        script: "unshare -U true",
        succeeds: false,
        output_contains: "",
    },
    Case {
        name: "no proxy listening without a grant",
        script: "nc -w 2 127.0.0.1 3128 </dev/null",
        succeeds: false,
        output_contains: "",
    },
    Case {
        name: "host paths outside the project are not visible",
        script: "ls /work /var/lib/stockade-docker /run/stockade-docker.sock /root",
        succeeds: false,
        output_contains: "No such file or directory",
    },
    Case {
        name: "the helper cannot be replaced",
        script: "echo x > /.stockade/helper",
        succeeds: false,
        output_contains: "",
    },
    Case {
        name: "project directory is writable",
        script: "echo hello > /workspace/out && cat /workspace/out",
        succeeds: true,
        output_contains: "hello",
    },
    Case {
        name: "git hooks are read-only",
        script: "echo 'rm -rf ~' > /workspace/.git/hooks/pre-commit",
        succeeds: false,
        output_contains: "Read-only file system",
    },
    Case {
        name: "git config is read-only",
        script: "echo '[core] fsmonitor = evil' >> /workspace/.git/config",
        succeeds: false,
        output_contains: "Read-only file system",
    },
];

#[tokio::test]
async fn hostile_commands_inside_a_workspace() {
    let mut env = test_env!(env());
    let mut spec = env.spec("hardening");
    std::fs::create_dir_all(spec.project_dir.join(".git/hooks")).expect("hooks dir");
    std::fs::write(spec.project_dir.join(".git/config"), "[core]\n").expect("git config");
    for p in [".git", ".git/hooks", ".git/config"] {
        std::os::unix::fs::chown(spec.project_dir.join(p), Some(65534), Some(65534))
            .expect("chown");
    }
    spec.limits = Limits {
        tmp_bytes: 8 << 20,
        ..Limits::default()
    };
    let id = env.manager.create(&spec).await.expect("create");

    let mut failures = Vec::new();
    for case in CASES {
        let out = env.sh(&id, case.script).await;
        let text = format!("{}{}", out.stdout_text(), out.stderr_text());
        let ok = out.outcome.status == ExecStatus::Exited
            && (out.outcome.exit_code == Some(0)) == case.succeeds
            && text.contains(case.output_contains);
        if !ok {
            failures.push(format!(
                "{}: {:?} {:?}: {text}",
                case.name, out.outcome.status, out.outcome.exit_code
            ));
        }
    }
    // Only loopback: the interface list is exactly "lo".
    let out = env
        .sh(&id, "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '")
        .await;
    if out.stdout_text().trim() != "lo" {
        failures.push(format!("interfaces: {:?}", out.stdout_text()));
    }
    // The kernel answering is gVisor's, not the host's.
    let host_version = std::fs::read_to_string("/proc/version").expect("host /proc/version");
    let out = env.sh(&id, "cat /proc/version").await;
    if out.stdout_text().trim().is_empty() || out.stdout_text().trim() == host_version.trim() {
        failures.push(format!(
            "kernel: workspace sees the host kernel {:?}",
            out.stdout_text()
        ));
    }
    assert!(
        spec.project_dir.join("out").is_file(),
        "the write to /workspace reached the project"
    );
    assert!(!spec.project_dir.join(".git/hooks/pre-commit").exists());
    assert!(
        failures.is_empty(),
        "hostile cases not contained:\n{}",
        failures.join("\n")
    );
    env.finish().await;
}

#[tokio::test]
async fn the_daemon_records_the_hardened_configuration() {
    let mut env = test_env!(env());
    let id = env.create("config").await;
    let inspect = env
        .manager
        .backend()
        .docker()
        .inspect_container(&id.0, None::<InspectContainerOptions>)
        .await
        .expect("inspect");
    let host = inspect.host_config.expect("host config");
    let limits = Limits::default();
    assert_eq!(host.runtime.as_deref(), Some("runsc"));
    assert_eq!(host.network_mode.as_deref(), Some("none"));
    assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
    assert_eq!(host.readonly_rootfs, Some(true));
    assert_eq!(host.memory, Some(limits.memory_bytes));
    assert_eq!(host.memory_swap, Some(limits.memory_bytes));
    assert_eq!(host.pids_limit, Some(limits.pids));
    assert_eq!(host.nano_cpus, Some(limits.nano_cpus));
    let security = host.security_opt.unwrap_or_default();
    assert!(
        security.iter().any(|o| o == "no-new-privileges:true"),
        "{security:?}"
    );
    assert!(
        security.iter().any(|o| o.starts_with("seccomp=")),
        "{security:?}"
    );
    let binds = host.binds.unwrap_or_default();
    assert_eq!(
        binds.len(),
        3,
        "only the project, the helper and the exec socket's directory: {binds:?}"
    );
    assert!(
        binds.iter().any(|b| b.ends_with(":/.stockade/exec:ro")),
        "the exec socket's directory is mounted read-only: {binds:?}"
    );
    let labels = inspect.config.and_then(|c| c.labels).unwrap_or_default();
    for label in [
        "dev.stockade.owner",
        "dev.stockade.project",
        "dev.stockade.deadline",
        "dev.stockade.instance",
    ] {
        assert!(
            labels.contains_key(label),
            "label {label} missing: {labels:?}"
        );
    }
    assert_eq!(labels["dev.stockade.instance"], env.config.instance);
    env.finish().await;
}

#[tokio::test]
async fn a_fork_bomb_is_contained_and_the_manager_keeps_answering() {
    let mut env = test_env!(env());
    let mut spec = env.spec("forkbomb");
    spec.limits.pids = 128;
    let bomb = env
        .manager
        .create(&spec)
        .await
        .expect("create bomb workspace");
    let other = env.create("bystander").await;
    let execution = env
        .manager
        .exec(
            &bomb,
            ExecRequest::new(["sh", "-c", "b() { b | b & }; b; sleep 20"])
                .timeout(Duration::from_secs(6)),
        )
        .await
        .expect("start bomb");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let out = env.sh(&other, "echo alive").await;
    assert_eq!(
        out.stdout_text(),
        "alive\n",
        "a second workspace still runs commands"
    );
    assert!(
        env.manager.list().await.expect("list").len() >= 2,
        "the manager still answers"
    );
    let outcome = execution.collect().await.outcome;
    // Under runsc, hitting pids.max ends the bomb's whole sandbox (gVisor cannot create its
    // own threads any more); the exec reports that instead of hanging.
    assert!(
        matches!(
            outcome.status,
            ExecStatus::TimedOut | ExecStatus::WorkspaceDied
        ),
        "the bomb was stopped, not finished: {outcome:?}"
    );
    let out = env.sh(&other, "echo still alive").await;
    assert_eq!(
        out.stdout_text(),
        "still alive\n",
        "the bystander outlives the bomb"
    );
    env.finish().await;
}

#[tokio::test]
async fn without_runsc_creating_fails_with_runtime_unavailable() {
    let Some(_) = crate::harness::backend().await else {
        return;
    };
    let backend = stockade_workspace::DockerBackend::connect(
        &stockade_workspace::docker_host(),
        stockade_workspace::RuntimeChoice::Gvisor("runsc-missing".to_owned()),
    )
    .await
    .expect("connect");
    let mut env = test_env!(env());
    let spec = env.spec("missing-runtime");
    let helper = stockade_workspace::install_helper(&env.config.state_dir).expect("helper");
    let err = backend
        .create(stockade_workspace::CreateRequest {
            spec: &spec,
            instance: "x",
            boot: "y",
            helper: &helper,
            egress_dir: None,
        })
        .await
        .expect_err("no such runtime");
    assert_eq!(err.code(), "runtime_unavailable", "{err}");
    assert!(matches!(err, WorkspaceError::RuntimeUnavailable { .. }));
    env.finish().await;
}
