//! A real registry on a loopback port with its own SQLite and blob store, keys and tokens;
//! bundles packed from the real first-party plugins; and an "evil" proxy that changes bytes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use stockade_bundle::{
    Digest, KeyRing, PackedBundle, PublishResponse, RegistryClient, SecretKey, SignedApproval,
    TrustPolicy, pack_with_wasm_dir, sign_manifest,
};
use stockade_registry::config::Token;
use stockade_registry::store::Store;
use stockade_registry::{AppState, Config, app};

pub const PUBLISH_TOKEN: &str = "publish-token-0123456789";
pub const ADMIN_TOKEN: &str = "admin-token-0123456789abc";

pub fn ok<T, E: std::fmt::Display>(result: Result<T, E>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(err) => panic!("{what}: {err}"),
    }
}

/// A registry served from a background thread's runtime until dropped.
pub struct TestRegistry {
    pub url: String,
    pub addr: SocketAddr,
    pub data: PathBuf,
    pub publisher: SecretKey,
    pub operator: SecretKey,
    _dir: Option<tempfile::TempDir>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Options for [`TestRegistry`].
#[derive(Default)]
pub struct Builder {
    data: Option<PathBuf>,
    max_blob_bytes: Option<u64>,
}

impl Builder {
    /// Serve an existing data directory (such as a mirror's).
    pub fn data(mut self, data: &Path) -> Self {
        self.data = Some(data.to_path_buf());
        self
    }

    pub fn max_blob_bytes(mut self, max: u64) -> Self {
        self.max_blob_bytes = Some(max);
        self
    }

    pub fn start(self) -> TestRegistry {
        let (dir, data) = match self.data {
            Some(data) => (None, data),
            None => {
                let dir = ok(tempfile::tempdir(), "tempdir");
                let data = dir.path().join("registry");
                (Some(dir), data)
            }
        };
        let publisher = ok(SecretKey::generate(), "key");
        let operator = ok(SecretKey::generate(), "key");
        let mut config = Config::new(data.clone());
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.publish_token = Some(ok(Token::new(PUBLISH_TOKEN), "token"));
        config.admin_token = Some(ok(Token::new(ADMIN_TOKEN), "token"));
        config.operator_keys = KeyRing::new([operator.public()]);
        if let Some(max) = self.max_blob_bytes {
            config.max_blob_bytes = max;
        }
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = ok(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build(),
                "runtime",
            );
            runtime.block_on(async move {
                let store = ok(Store::open(&config.data).await, "store");
                let listener = ok(tokio::net::TcpListener::bind(config.listen).await, "bind");
                let _ = addr_tx.send(ok(listener.local_addr(), "addr"));
                let server = axum::serve(listener, app(AppState::new(store, config)))
                    .with_graceful_shutdown(async {
                        let _ = stop.await;
                    });
                let _ = server.await;
            });
        });
        let addr = ok(addr_rx.recv(), "registry did not start");
        TestRegistry {
            url: format!("http://{addr}"),
            addr,
            data,
            publisher,
            operator,
            _dir: dir,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }
}

impl TestRegistry {
    pub fn builder() -> Builder {
        Builder::default()
    }

    pub fn start() -> Self {
        Builder::default().start()
    }

    /// Anonymous client.
    pub fn client(&self) -> RegistryClient {
        ok(RegistryClient::new(&self.url), "client")
    }

    pub fn publisher_client(&self) -> RegistryClient {
        self.client().with_token(PUBLISH_TOKEN)
    }

    pub fn admin_client(&self) -> RegistryClient {
        self.client().with_token(ADMIN_TOKEN)
    }

    /// Publishes with the registry's publisher key.
    pub fn publish(&self, packed: &PackedBundle) -> PublishResponse {
        let signature = sign_manifest(&self.publisher, &packed.manifest_digest);
        ok(
            self.publisher_client().publish(packed, &signature),
            "publish",
        )
    }

    /// Approves through the API with the operator key.
    pub fn approve(&self, packed: &PackedBundle) -> SignedApproval {
        let b = &packed.bundle.bundle;
        let approval = ok(
            SignedApproval::sign(
                &self.operator,
                b.name.as_str(),
                &b.version.to_string(),
                &packed.manifest_digest,
                &packed.capabilities_digest,
            ),
            "sign approval",
        );
        ok(self.admin_client().approve(&approval), "approve");
        approval
    }

    pub fn publish_and_approve(&self, packed: &PackedBundle) {
        self.publish(packed);
        self.approve(packed);
    }

    /// A host trusting exactly this registry's publisher and operator keys.
    pub fn policy(&self) -> TrustPolicy {
        TrustPolicy {
            publisher_keys: KeyRing::new([self.publisher.public()]),
            operator_keys: KeyRing::new([self.operator.public()]),
            ..TrustPolicy::default()
        }
    }

    /// Path of a stored blob.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.data.join("blobs").join("sha256").join(digest.hex())
    }

    /// Runs `f` against this registry's store from a separate runtime (as the operator
    /// commands do against a data directory).
    pub fn with_store<T>(&self, f: impl AsyncFnOnce(Store) -> T) -> T {
        let runtime = ok(
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build(),
            "runtime",
        );
        runtime.block_on(async {
            let store = ok(Store::open(&self.data).await, "store");
            f(store).await
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

/// Packs a first-party bundle directory.
pub fn pack(dir: &str) -> PackedBundle {
    ok(
        pack_with_wasm_dir(
            Path::new(dir),
            Some(Path::new(stockade_test_artifacts::WASM_DIR)),
        ),
        "pack",
    )
}

/// Packs a copy of a first-party bundle whose `bundle.toml` went through `edit` (a new
/// version, a wider egress list, ...).
pub fn pack_edited(dir: &str, edit: impl Fn(String) -> String) -> PackedBundle {
    let copy = ok(tempfile::tempdir(), "tempdir");
    let text = ok(
        std::fs::read_to_string(Path::new(dir).join("bundle.toml")),
        "read bundle.toml",
    );
    ok(
        std::fs::write(copy.path().join("bundle.toml"), edit(text)),
        "write bundle.toml",
    );
    ok(
        pack_with_wasm_dir(
            copy.path(),
            Some(Path::new(stockade_test_artifacts::WASM_DIR)),
        ),
        "pack",
    )
}

/// A proxy in front of `upstream` that passes every GET through, except that `tamper` may
/// rewrite a response body (by request path).
pub struct EvilProxy {
    pub url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

type Tamper = Arc<dyn Fn(&str, Vec<u8>) -> Vec<u8> + Send + Sync>;

impl EvilProxy {
    pub fn start(
        upstream: &str,
        tamper: impl Fn(&str, Vec<u8>) -> Vec<u8> + Send + Sync + 'static,
    ) -> Self {
        let tamper: Tamper = Arc::new(tamper);
        let upstream = upstream.to_owned();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = ok(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build(),
                "runtime",
            );
            runtime.block_on(async move {
                let handler = move |uri: axum::http::Uri| {
                    let (upstream, tamper) = (upstream.clone(), tamper.clone());
                    async move {
                        let path = uri
                            .path_and_query()
                            .map(|p| p.as_str().to_owned())
                            .unwrap_or_default();
                        let fetched = tokio::task::spawn_blocking(move || {
                            let agent: ureq::Agent = ureq::Agent::config_builder()
                                .http_status_as_error(false)
                                .build()
                                .into();
                            let mut response =
                                agent.get(format!("{upstream}{path}")).call().ok()?;
                            let status = response.status().as_u16();
                            let body = response
                                .body_mut()
                                .with_config()
                                .limit(1 << 30)
                                .read_to_vec()
                                .ok()?;
                            Some((status, tamper(&path, body)))
                        })
                        .await
                        .ok()
                        .flatten();
                        match fetched {
                            Some((status, body)) => (
                                axum::http::StatusCode::from_u16(status)
                                    .unwrap_or(axum::http::StatusCode::BAD_GATEWAY),
                                body,
                            ),
                            None => (axum::http::StatusCode::BAD_GATEWAY, Vec::new()),
                        }
                    }
                };
                let listener = ok(tokio::net::TcpListener::bind("127.0.0.1:0").await, "bind");
                let _ = addr_tx.send(ok(listener.local_addr(), "addr"));
                let router = axum::Router::new().fallback(axum::routing::get(handler));
                let _ = axum::serve(listener, router)
                    .with_graceful_shutdown(async {
                        let _ = stop.await;
                    })
                    .await;
            });
        });
        let addr: SocketAddr = ok(addr_rx.recv(), "proxy did not start");
        EvilProxy {
            url: format!("http://{addr}"),
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }
}

impl Drop for EvilProxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Flips the last byte.
pub fn flip_last(mut bytes: Vec<u8>) -> Vec<u8> {
    if let Some(last) = bytes.last_mut() {
        *last ^= 0x01;
    }
    bytes
}
