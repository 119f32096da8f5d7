//! In-memory views of what the tool-call path reads on every request: API tokens, and per
//! project its members, agents, installed bundles and grants. Built from the database on first
//! use and dropped whenever an admin change touches that project, so a call costs no query
//! before its event is appended.
//!
//! One server process owns the database today. With several replicas (PostgreSQL), changes made
//! through another replica would need an invalidation channel; tokens already expire after
//! [`TOKEN_TTL`] so a revocation elsewhere takes effect within it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stockade_storage::{Agent, Database, InstalledBundle, Project, User};
use tokio::sync::RwLock;

use crate::error::ApiError;
use crate::routes::grants::GrantSpec;

/// How long an authenticated token is trusted without asking the database again.
pub const TOKEN_TTL: Duration = Duration::from_secs(10);

/// Most tokens kept; past it the cache is cleared (authentication then goes to the database).
const MAX_TOKENS: usize = 10_000;

/// What the hot path needs to know about one project.
#[derive(Debug)]
pub struct ProjectSnapshot {
    /// The project.
    pub project: Project,
    /// Ids of its members.
    pub members: HashSet<String>,
    /// Agents by name.
    pub agents: HashMap<String, Agent>,
    /// Installed bundles by name.
    pub bundles: HashMap<String, InstalledBundle>,
    /// Grants by (bundle, tool); a tool without an entry has nothing granted.
    pub grants: HashMap<(String, String), GrantSpec>,
}

impl ProjectSnapshot {
    /// The grant of `bundle.tool`; a tool without one has nothing granted.
    pub fn grant(&self, bundle: &str, tool: &str) -> GrantSpec {
        self.grants
            .get(&(bundle.to_owned(), tool.to_owned()))
            .cloned()
            .unwrap_or_default()
    }
}

/// The caches.
#[derive(Debug, Default)]
pub struct Snapshots {
    tokens: Mutex<HashMap<String, (User, Instant)>>,
    projects: RwLock<HashMap<String, Arc<ProjectSnapshot>>>,
}

impl Snapshots {
    /// The user a token belongs to, if it was authenticated within [`TOKEN_TTL`].
    pub fn token(&self, hash: &str) -> Option<User> {
        let tokens = self.tokens.lock().ok()?;
        tokens
            .get(hash)
            .filter(|(_, at)| at.elapsed() < TOKEN_TTL)
            .map(|(user, _)| user.clone())
    }

    /// Remembers a successful authentication.
    pub fn remember_token(&self, hash: String, user: User) {
        if let Ok(mut tokens) = self.tokens.lock() {
            if tokens.len() >= MAX_TOKENS {
                tokens.clear();
            }
            tokens.insert(hash, (user, Instant::now()));
        }
    }

    /// Forgets every token (after a revocation or user change).
    pub fn forget_tokens(&self) {
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.clear();
        }
    }

    /// Drops a project's snapshot; the next request rebuilds it.
    pub async fn invalidate(&self, project: &str) {
        self.projects.write().await.remove(project);
    }

    /// The snapshot of the project named `name`, or `None` if there is no such project.
    pub async fn project(
        &self,
        db: &Database,
        name: &str,
    ) -> Result<Option<Arc<ProjectSnapshot>>, ApiError> {
        if let Some(snapshot) = self.projects.read().await.get(name) {
            return Ok(Some(snapshot.clone()));
        }
        // Built under the write lock: an invalidation that follows a committed change waits for
        // this build and then removes it, so a snapshot read before the change cannot outlive it.
        let mut projects = self.projects.write().await;
        if let Some(snapshot) = projects.get(name) {
            return Ok(Some(snapshot.clone()));
        }
        let project = match db.projects().get_by_name(name).await {
            Ok(project) => project,
            Err(err) if err.code() == "not_found" => return Ok(None),
            Err(err) => return Err(err.into()),
        };
        let id = project.id.clone();
        let mut grants = HashMap::new();
        for grant in db.grants().list(&id).await? {
            let key = (grant.bundle.clone(), grant.tool.clone());
            grants.insert(key, GrantSpec::from_stored(grant)?);
        }
        let snapshot = Arc::new(ProjectSnapshot {
            members: db.projects().members(&id).await?.into_iter().collect(),
            agents: db
                .agents()
                .list(&id)
                .await?
                .into_iter()
                .map(|a| (a.name.clone(), a))
                .collect(),
            bundles: db
                .bundles()
                .list(&id)
                .await?
                .into_iter()
                .map(|b| (b.name.clone(), b))
                .collect(),
            grants,
            project,
        });
        projects.insert(name.to_owned(), snapshot.clone());
        Ok(Some(snapshot))
    }
}
