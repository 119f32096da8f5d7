//! The HTTP application: shared state and the router. Tests drive [`app`] without a socket.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Router, middleware};
use stockade_egress::{Resolver, SystemResolver};
use stockade_policy::{Redactor, WebhookSecret, WebhookVerifier};
use stockade_runtime::{AgentRate, Bundle, Runtime, RuntimeConfig};
use stockade_secrets::{MasterKeySource, Scope, SecretStore, Status};
use stockade_storage::events::{EventLog, EventLogConfig, EventWriter, NewEvent};
use stockade_storage::{Database, DatabaseOptions, StorageError};
use tokio::sync::{Mutex, RwLock};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::Config;
use crate::error::ApiError;
use crate::guard::{Guards, guard};
use crate::metrics::Metrics;
use crate::serve::ServeError;
use crate::snapshot::Snapshots;

/// Everything request handlers share.
pub struct AppState {
    /// The effective configuration.
    pub config: Config,
    /// The address the server listens on.
    pub local_addr: SocketAddr,
    /// Write guard, client identity, rate limiters.
    pub guards: Guards,
    /// The database.
    pub db: Database,
    /// The event log (appends return once durable).
    pub events: EventLog,
    writer: Mutex<Option<EventWriter>>,
    /// The plugin runtime.
    pub runtime: Runtime,
    /// The webhook signing secret, if webhooks are enabled.
    pub webhook_secret: Option<WebhookSecret>,
    /// Timestamp tolerance and replay cache for webhooks.
    pub webhooks: WebhookVerifier,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// Cached tokens and per-project views for the tool-call path.
    pub snapshots: Snapshots,
    /// Loaded bundles by (project id, bundle name, version).
    pub bundles: RwLock<HashMap<(String, String, String), Arc<Bundle>>>,
    /// Registry installs, the lock files and the revocation list.
    pub registry: crate::registry::RegistryHost,
    /// Agent workspaces (gVisor containers), or why they are unavailable.
    pub workspaces: crate::workspaces::Workspaces,
    /// Name resolution for plugins' outbound requests.
    pub resolver: Arc<dyn Resolver>,
    /// This host's addresses: the server's wildcard listener is refused by them too.
    pub local_ips: Vec<std::net::IpAddr>,
    /// Each agent's outbound request rate, by `project/agent`.
    agent_rates: std::sync::Mutex<HashMap<String, Arc<AgentRate>>>,
    /// The encrypted secrets (sealed without the right master key).
    pub secrets: SecretStore,
    /// Scrubs stored secret values and secret-shaped strings from outputs and errors; rebuilt
    /// whenever a secret changes.
    redactor: std::sync::RwLock<Arc<Redactor>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Opens storage and the event log, starts the runtime, and bootstraps the first admin.
    pub async fn new(
        config: Config,
        write_token: Option<String>,
        local_addr: SocketAddr,
    ) -> Result<Self, ServeError> {
        let guards = Guards::new(&config, write_token.as_deref())?;
        let startup =
            |what: &str, err: &dyn std::fmt::Display| ServeError::Startup(format!("{what}: {err}"));
        let db_path = config.data_dir.join("stockade.db");
        let options = DatabaseOptions {
            fsync_commits: config.events.fsync,
            ..DatabaseOptions::default()
        };
        let db = Database::open_with(&db_path.to_string_lossy(), options)
            .await
            .map_err(|e| startup("database", &e))?;
        let (events, writer) = EventLog::start(&db, EventLogConfig::default())
            .await
            .map_err(|e| startup("event log", &e))?;
        let runtime = Runtime::new(RuntimeConfig {
            cache_dir: Some(config.data_dir.join("cache").join("components")),
            ..RuntimeConfig::default()
        })
        .map_err(|e| startup("plugin runtime", &e))?;
        if let Some(boot) = db
            .tokens()
            .bootstrap_admin("admin")
            .await
            .map_err(|e| startup("bootstrap admin", &e))?
        {
            // Shown once: only its hash is stored.
            eprintln!(
                "bootstrap admin token (shown once, store it now): {}",
                boot.token.plaintext
            );
            let event = NewEvent::new(
                stockade_storage::events::kinds::ADMIN,
                "system",
                None,
                serde_json::json!({ "action": "bootstrap_admin", "user": boot.user.name }),
            );
            events
                .append(event)
                .await
                .map_err(|e| startup("event log", &e))?;
        }
        let source = MasterKeySource::from_process(config.master_key_file.clone());
        let secrets = SecretStore::open_with_source(&db, &source)
            .await
            .map_err(|e| startup("secrets", &e))?;
        match secrets.status() {
            Status::Sealed { reason } => tracing::warn!(%reason, "secrets are sealed"),
            Status::Unsealed { key_version, .. } => {
                tracing::info!(key_version, "secrets unsealed");
            }
        }
        let registry = crate::registry::RegistryHost::new(&config.registry, &config.data_dir)
            .map_err(|e| startup("registry", &e))?;
        let resolver: Arc<dyn Resolver> = Arc::new(SystemResolver::new());
        let local_ips = stockade_egress::local_ips();
        let workspaces = crate::workspaces::Workspaces::start(
            &config.workspaces,
            &config.data_dir,
            config.mode,
            crate::workspaces::Network {
                resolver: Arc::clone(&resolver),
                own_addresses: vec![local_addr],
                local_ips: local_ips.clone(),
            },
        )
        .await;
        let webhook_secret = match &config.webhook_secret_file {
            Some(path) => {
                let bytes = std::fs::read(path)
                    .map_err(|e| startup(&format!("webhook secret {}", path.display()), &e))?;
                let trimmed = String::from_utf8_lossy(&bytes).trim().as_bytes().to_vec();
                Some(WebhookSecret::new(trimmed).map_err(|e| startup("webhook secret", &e))?)
            }
            None => None,
        };
        Ok(Self {
            webhook_secret,
            webhooks: WebhookVerifier::new(),
            config,
            local_addr,
            guards,
            db,
            events,
            writer: Mutex::new(Some(writer)),
            runtime,
            metrics: Metrics::default(),
            snapshots: Snapshots::default(),
            bundles: RwLock::new(HashMap::new()),
            registry,
            workspaces,
            resolver,
            local_ips,
            agent_rates: std::sync::Mutex::new(HashMap::new()),
            secrets,
            redactor: std::sync::RwLock::new(Arc::new(Redactor::new())),
        })
    }

    /// Syncs the registry's revocation list; when anything is revoked, every loaded bundle is
    /// dropped so the next call re-verifies its files (and refuses a revoked one).
    pub async fn sync_revocations(&self) -> Result<usize, ApiError> {
        let revoked = self.registry.sync_revocations().await?;
        if revoked > 0 {
            self.bundles.write().await.clear();
        }
        Ok(revoked)
    }

    /// The current redactor: every stored secret value and the built-in secret shapes.
    pub fn redactor(&self) -> Arc<Redactor> {
        Arc::clone(&self.redactor.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Rebuilds the redactor from every stored secret (global and per project). A sealed store
    /// contributes no values; the secret shapes are always on.
    pub async fn refresh_redactor(&self) {
        let mut values = Vec::new();
        if !self.secrets.is_sealed() {
            let mut scopes = vec![Scope::global()];
            match self.db.projects().list().await {
                Ok(projects) => {
                    scopes.extend(projects.iter().filter_map(|p| Scope::project(&p.id).ok()));
                }
                Err(err) => tracing::error!(%err, "cannot list projects for redaction"),
            }
            for scope in scopes {
                let Ok(metas) = self.secrets.list(&scope).await else {
                    continue;
                };
                for meta in metas {
                    match self.secrets.get(&scope, &meta.name).await {
                        Ok(value) => values.push((meta.name, value)),
                        Err(err) => tracing::error!(%err, "cannot read a secret for redaction"),
                    }
                }
            }
        }
        let redactor = Redactor::new().with_secrets(
            values
                .iter()
                .map(|(name, value)| (name.clone(), value.expose_bytes())),
        );
        *self.redactor.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(redactor);
    }

    /// The outbound request rate shared by every call of one agent.
    pub fn agent_rate(&self, project: &str, agent: &str) -> Arc<AgentRate> {
        let mut rates = self.agent_rates.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(
            rates
                .entry(format!("{project}/{agent}"))
                .or_insert_with(|| {
                    Arc::new(AgentRate::new(
                        self.config.egress.requests_per_minute,
                        std::time::Duration::from_secs(60),
                    ))
                }),
        )
    }

    /// Flushes pending events before the process exits.
    pub async fn shutdown(&self) {
        // Workspaces live no longer than the server that created them.
        self.workspaces.destroy_all().await;
        if let Some(writer) = self.writer.lock().await.take()
            && let Err(err) = writer.shutdown().await
        {
            tracing::error!(%err, "event log did not shut down cleanly");
        }
        self.db.close().await;
    }

    /// Appends an event and waits until it is durable.
    pub async fn record(&self, event: NewEvent) -> Result<i64, ApiError> {
        self.events.append(event).await.map_err(ApiError::from)
    }
}

/// The router with every route and middleware. Routes are registered through
/// `utoipa_axum`, so the OpenAPI document served at `/v1/openapi.json` is built from the same
/// handler annotations as the router and cannot drift from it.
pub fn app(state: Arc<AppState>) -> Router {
    let (api, doc) = api_routes().split_for_parts();
    let doc = Arc::new(doc);
    api.route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route(
            "/v1/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Every documented route (all of `/v1` and `/webhooks`).
fn api_routes() -> OpenApiRouter<Arc<AppState>> {
    use crate::routes::{
        agents, bundles, calls, events, grants, projects, registry, secrets, users, webhooks,
        workspaces,
    };
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(projects::create, projects::list))
        .routes(routes!(projects::get))
        .routes(routes!(users::add_member, users::list_members))
        .routes(routes!(users::create))
        .routes(routes!(users::create_token, users::list_tokens))
        .routes(routes!(users::revoke_token))
        .routes(routes!(agents::create, agents::list))
        .routes(routes!(bundles::install, bundles::list))
        .routes(routes!(registry::sync))
        .routes(routes!(workspaces::create, workspaces::list))
        .routes(routes!(workspaces::destroy))
        .routes(routes!(workspaces::exec))
        .routes(routes!(grants::put, grants::get))
        .routes(routes!(calls::list_tools))
        .routes(routes!(calls::call))
        .routes(routes!(events::list))
        .routes(routes!(secrets::list_global))
        .routes(routes!(secrets::set_global, secrets::delete_global))
        .routes(routes!(secrets::list_project))
        .routes(routes!(secrets::set_project, secrets::delete_project))
        .routes(routes!(webhooks::events))
}

/// The document's header.
#[derive(utoipa::OpenApi)]
#[openapi(info(
    title = "Stockade",
    description = "Sandboxed WebAssembly tools for AI agents. Authenticate with \
                   `Authorization: Bearer <api token>`; mutating requests from non-loopback \
                   clients also need `X-Stockade-Write-Token`. Errors are \
                   `{\"error\": {\"code\", \"message\"}}` with a stable code."
))]
struct ApiDoc;

/// Largest request body accepted (tool inputs included).
pub const MAX_BODY: usize = 1 << 20;

async fn healthz() -> &'static str {
    "ok\n"
}

async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not accept that method",
    )
}

impl From<StorageError> for ApiError {
    fn from(err: StorageError) -> Self {
        match err.code() {
            "not_found" => ApiError::not_found(err.to_string()),
            "conflict" => ApiError::conflict(err.to_string()),
            "invalid_input" => ApiError::bad_request("invalid_input", err.to_string()),
            _ => ApiError::internal(err),
        }
    }
}
