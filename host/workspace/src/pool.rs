//! [`WarmPool`]: workspaces created and started ahead of time for one spec, handed out in the
//! time of a lock instead of a sandbox boot. Pooled workspaces count against their project's
//! limit like any other.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use crate::{WorkspaceBackend, WorkspaceError, WorkspaceId, WorkspaceManager, WorkspaceSpec};

/// Up to `size` started workspaces of one spec.
#[derive(Debug)]
pub struct WarmPool<B> {
    manager: Arc<WorkspaceManager<B>>,
    spec: WorkspaceSpec,
    size: usize,
    ready: Mutex<VecDeque<WorkspaceId>>,
}

impl<B: WorkspaceBackend> WarmPool<B> {
    /// An empty pool; call [`fill`](Self::fill).
    pub fn new(manager: Arc<WorkspaceManager<B>>, spec: WorkspaceSpec, size: usize) -> Arc<Self> {
        Arc::new(Self {
            manager,
            spec,
            size,
            ready: Mutex::new(VecDeque::new()),
        })
    }

    /// Creates workspaces until `size` are ready.
    pub async fn fill(&self) -> Result<(), WorkspaceError> {
        while self.len() < self.size {
            let id = self.manager.create(&self.spec).await?;
            self.lock().push_back(id);
        }
        Ok(())
    }

    /// How many are ready.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is ready.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A ready workspace (refilled in the background), or a new one when none is ready.
    pub async fn acquire(self: &Arc<Self>) -> Result<WorkspaceId, WorkspaceError> {
        let ready = self.lock().pop_front();
        let pool = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(e) = pool.fill().await {
                tracing::warn!(error = %e, "cannot refill the warm pool");
            }
        });
        match ready {
            Some(id) => Ok(id),
            None => self.manager.create(&self.spec).await,
        }
    }

    /// Destroys the ready workspaces.
    pub async fn drain(&self) {
        let ids: Vec<WorkspaceId> = self.lock().drain(..).collect();
        for id in ids {
            let _ = self.manager.destroy(&id).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<WorkspaceId>> {
        self.ready.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
