//! The runtime a workspace runs under is the one asked for, or there is no workspace: a daemon
//! without the requested runtime refuses with `runtime_unavailable`, and the development
//! override really runs `runc` (and says so on every create).

use std::sync::Arc;

use stockade_workspace::{
    DockerBackend, ManagerConfig, RuntimeChoice, WorkspaceManager, WorkspaceSpec, docker_host,
};

use crate::harness::{backend, test_image, unique};

async fn manager(
    runtime: RuntimeChoice,
) -> (Arc<WorkspaceManager<DockerBackend>>, tempfile::TempDir) {
    let backend = DockerBackend::connect(&docker_host(), runtime)
        .await
        .expect("daemon");
    let state = tempfile::Builder::new()
        .prefix("sw")
        .tempdir_in("/tmp")
        .expect("state dir");
    let config = ManagerConfig::new(format!("test-{}", unique()), state.path());
    let manager = WorkspaceManager::start(backend, config)
        .await
        .expect("manager starts");
    (manager, state)
}

#[tokio::test]
async fn a_missing_runtime_is_refused_and_the_development_override_runs_runc() {
    let Some(default) = backend().await else {
        return;
    };
    let image = test_image(&default).await;
    let project = tempfile::tempdir().expect("project dir");

    let (missing, _state) = manager(RuntimeChoice::Gvisor("runsc-not-registered".into())).await;
    let spec = WorkspaceSpec::new("test-agent", "runtime", project.path(), image.clone());
    let err = missing
        .create(&spec)
        .await
        .expect_err("created without its runtime");
    assert_eq!(err.code(), "runtime_unavailable", "{err}");
    assert!(err.to_string().contains("runsc-not-registered"), "{err}");
    assert!(missing.list().await.expect("list").is_empty());

    let (runc, _state) = manager(RuntimeChoice::DevelopmentRunc).await;
    let id = runc.create(&spec).await.expect("runc workspace");
    let inspect = default
        .docker()
        .inspect_container(&id.0, None)
        .await
        .expect("inspect");
    let recorded = inspect.host_config.and_then(|h| h.runtime);
    runc.destroy(&id).await.expect("destroy");
    assert_eq!(recorded.as_deref(), Some("runc"));
}
