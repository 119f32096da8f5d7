//! `TestEnv`: a manager on the real daemon with a unique instance id, the test image, and
//! project directories the workspace user owns.

use std::os::unix::fs::chown;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use stockade_egress::{Resolver, StaticResolver};
use stockade_workspace::{
    DockerBackend, ExecOutput, ExecRequest, ImageProfile, ImageRecipe, ManagerConfig,
    RuntimeChoice, TEST_IMAGE, WorkspaceBackend as _, WorkspaceId, WorkspaceManager, WorkspaceSpec,
    build_image, docker_host,
};
use tokio::sync::OnceCell;

/// The backend, or `None` (after a loud message) when no daemon answers outside CI.
pub async fn backend() -> Option<DockerBackend> {
    let host = docker_host();
    match DockerBackend::connect(&host, RuntimeChoice::default()).await {
        Ok(backend) => {
            remove_dead_test_runs(&backend).await;
            Some(backend)
        }
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("CI is set but the Docker daemon is unusable ({e}); run .ci/dockerd.sh")
        }
        Err(e) => {
            eprintln!(
                "\n!!!!! SKIPPING workspace test: no Docker daemon at {host} ({e}).\n\
                 !!!!! Run `.ci/dockerd.sh` (as root) to start one.\n"
            );
            None
        }
    }
}

/// Removes the workspaces of earlier test processes that are gone (a failed test never reaches
/// `finish`). Test instance ids are `test-PID-...` or `crashed-PID-...`.
async fn remove_dead_test_runs(backend: &DockerBackend) {
    static ONCE: OnceCell<()> = OnceCell::const_new();
    ONCE.get_or_init(|| async {
        for info in backend.list().await.unwrap_or_default() {
            let pid = info
                .instance
                .strip_prefix("test-")
                .or_else(|| info.instance.strip_prefix("crashed-"))
                .and_then(|rest| rest.split('-').next())
                .and_then(|pid| pid.parse::<u32>().ok());
            if let Some(pid) = pid
                && pid != std::process::id()
                && !std::path::Path::new(&format!("/proc/{pid}")).exists()
            {
                let _ = backend.destroy(&info.id).await;
            }
        }
    })
    .await;
}

/// The test image's id, built once per test binary if the daemon lacks it.
pub async fn test_image(backend: &DockerBackend) -> ImageProfile {
    static ID: OnceCell<String> = OnceCell::const_new();
    let id = ID
        .get_or_init(|| async {
            match backend.docker().inspect_image(TEST_IMAGE).await {
                Ok(inspect) => inspect.id.unwrap_or_default(),
                Err(_) => build_image(backend.docker(), ImageRecipe::Busybox, TEST_IMAGE)
                    .await
                    .map(|built| built.id)
                    .unwrap_or_else(|e| panic!("cannot build the test image: {e}")),
            }
        })
        .await;
    ImageProfile::new(TEST_IMAGE).pinned(id.clone())
}

/// Starts a test environment, or returns from the test when there is no daemon (outside CI).
#[macro_export]
macro_rules! test_env {
    ($builder:expr) => {
        match $builder.start().await {
            Some(env) => env,
            None => return,
        }
    };
}

pub struct TestEnvBuilder {
    config: ManagerConfig,
    _state: tempfile::TempDir,
}

pub fn env() -> TestEnvBuilder {
    let state = tempfile::Builder::new()
        .prefix("sw")
        .tempdir_in("/tmp")
        .expect("temporary state directory");
    let instance = format!("test-{}", unique());
    TestEnvBuilder {
        config: ManagerConfig::new(instance, state.path()),
        _state: state,
    }
}

impl TestEnvBuilder {
    pub fn resolver(mut self, resolver: impl Resolver + 'static) -> Self {
        self.config.resolver = Arc::new(resolver);
        self
    }

    pub fn own_addresses(
        mut self,
        addresses: Vec<std::net::SocketAddr>,
        local_ips: Vec<std::net::IpAddr>,
    ) -> Self {
        self.config.own_addresses = addresses;
        self.config.local_ips = local_ips;
        self
    }

    pub fn max_per_project(mut self, n: usize) -> Self {
        self.config.max_per_project = n;
        self
    }

    pub fn idle(mut self, timeout: Duration, interval: Duration) -> Self {
        self.config.idle_timeout = timeout;
        self.config.reap_interval = interval;
        self
    }

    pub fn instance(mut self, instance: &str) -> Self {
        self.config.instance = instance.to_owned();
        self
    }

    pub async fn start(self) -> Option<TestEnv> {
        let backend = backend().await?;
        let image = test_image(&backend).await;
        let manager = WorkspaceManager::start(backend, self.config.clone())
            .await
            .expect("manager starts");
        Some(TestEnv {
            manager,
            image,
            config: self.config,
            _state: self._state,
            projects: Vec::new(),
        })
    }
}

pub struct TestEnv {
    pub manager: Arc<WorkspaceManager<DockerBackend>>,
    pub image: ImageProfile,
    pub config: ManagerConfig,
    _state: tempfile::TempDir,
    projects: Vec<tempfile::TempDir>,
}

impl TestEnv {
    /// A project directory owned by the workspace user (65534), as a real project would be
    /// owned by its non-root user.
    pub fn project_dir(&mut self) -> PathBuf {
        let dir = tempfile::Builder::new()
            .prefix("stockade-project")
            .tempdir()
            .expect("project dir");
        chown(dir.path(), Some(65534), Some(65534)).expect("chown project dir");
        let path = dir.path().to_owned();
        self.projects.push(dir);
        path
    }

    pub fn spec(&mut self, project: &str) -> WorkspaceSpec {
        let dir = self.project_dir();
        WorkspaceSpec::new("test-agent", project, dir, self.image.clone())
    }

    pub async fn create(&mut self, project: &str) -> WorkspaceId {
        let spec = self.spec(project);
        self.manager.create(&spec).await.expect("create workspace")
    }

    /// Destroys every workspace this manager still has.
    pub async fn finish(self) {
        for info in self.manager.list().await.expect("list") {
            let _ = self.manager.destroy(&info.id).await;
        }
    }

    /// Runs `sh -c script` with a 30 s timeout.
    pub async fn sh(&self, id: &WorkspaceId, script: &str) -> ExecOutput {
        self.run(
            id,
            ExecRequest::new(["sh", "-c", script]).timeout(Duration::from_secs(30)),
        )
        .await
    }

    pub async fn run(&self, id: &WorkspaceId, request: ExecRequest) -> ExecOutput {
        self.manager
            .exec(id, request)
            .await
            .expect("exec starts")
            .collect()
            .await
    }
}

pub fn unique() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    )
}

/// A resolver for the egress tests.
pub fn resolver() -> StaticResolver {
    StaticResolver::new()
}
