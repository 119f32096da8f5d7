//! The single writer: batches appends into transactions and acknowledges only after commit.
//!
//! Why one writer: the chain needs a total order and each row needs its predecessor's hash, and
//! SQLite has one write lock anyway. Why batches: with `synchronous=FULL` every commit is an
//! fsync; grouping the events that queued up during the previous commit into the next one makes
//! the log cost one fsync per batch instead of one per event ("group commit"). Under load the
//! batches form by themselves; `linger` optionally waits a little longer when the writer is idle.
//!
//! Guarantee: [`EventLog::append`] returns `Ok(seq)` only after the transaction holding that
//! event committed. If the commit fails, every caller in the batch gets an error and the chain
//! head is reloaded from the database, so the next batch continues from what is really stored
//! (no gap, no fork). If the writer task is gone, callers get `event_log_closed`. A caller that
//! stops waiting (its future dropped) after queueing does not un-queue its event.
//!
//! This assumes one writer per database. Two server processes on one SQLite file would make each
//! other's batches fail on the `seq` primary key (safe, but noisy); a PostgreSQL backend with
//! several replicas needs the head in a row locked with `SELECT ... FOR UPDATE` per batch.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{ChainHead, Event, NewEvent, ValidEvent, event_hash};
use crate::db::{Database, now_millis};
use crate::error::{Result, StorageError};

/// Rows per multi-row `INSERT` (8 parameters each, far below SQLite's parameter limit).
const INSERT_CHUNK: usize = 128;

/// Tunables for [`EventLog::start`].
#[derive(Debug, Clone)]
pub struct EventLogConfig {
    /// Most events per transaction (default 1024).
    pub max_batch: usize,
    /// How long an idle writer waits for more events after the first one before committing
    /// (default 0: under load batches form while the previous commit is in flight, and waiting
    /// would only add latency to every call when the server is quiet).
    pub linger: Duration,
    /// Events that may wait in the queue before `append` itself waits (default 16384).
    pub queue: usize,
    /// Events a [`EventLog::subscribe`] receiver may fall behind before it starts missing
    /// some (default 4096).
    pub sink_capacity: usize,
}

impl Default for EventLogConfig {
    fn default() -> Self {
        Self {
            max_batch: 1024,
            linger: Duration::ZERO,
            queue: 16_384,
            sink_capacity: 4096,
        }
    }
}

/// Counters that make batching observable (and feed `/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventLogStats {
    /// Transactions committed.
    pub transactions: u64,
    /// Events committed.
    pub events: u64,
    /// Batches whose commit failed (their callers got errors).
    pub failed_batches: u64,
}

#[derive(Debug, Default)]
struct Counters {
    transactions: AtomicU64,
    events: AtomicU64,
    failed_batches: AtomicU64,
}

#[derive(Debug)]
struct Pending {
    event: ValidEvent,
    ack: oneshot::Sender<Result<i64>>,
}

/// The append side of the event log: cheap to clone, one per request handler if need be.
#[derive(Debug, Clone)]
pub struct EventLog {
    queue: mpsc::Sender<Pending>,
    counters: Arc<Counters>,
    sink: broadcast::Sender<Arc<Event>>,
}

/// The running writer task. Keep it to shut down gracefully; dropping it leaves the writer
/// running until every [`EventLog`] handle is dropped.
#[derive(Debug)]
pub struct EventWriter {
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl EventLog {
    /// Loads the chain head and spawns the writer task on the current tokio runtime.
    pub async fn start(db: &Database, config: EventLogConfig) -> Result<(EventLog, EventWriter)> {
        let tip = load_tip(db.pool()).await?;
        let (queue, rx) = mpsc::channel(config.queue.max(1));
        let (sink, _) = broadcast::channel(config.sink_capacity.max(1));
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let counters = Arc::new(Counters::default());
        let writer = Writer {
            pool: db.pool().clone(),
            tip: Some(tip),
            rx,
            max_batch: config.max_batch.max(1),
            linger: config.linger,
            counters: Arc::clone(&counters),
            sink: sink.clone(),
        };
        let task = tokio::spawn(writer.run(shutdown_rx));
        let log = EventLog {
            queue,
            counters,
            sink,
        };
        let handle = EventWriter {
            shutdown: Some(shutdown_tx),
            task,
        };
        Ok((log, handle))
    }

    /// Records an event and returns its `seq` once it is committed (durable).
    ///
    /// Errors: `invalid_input` for a malformed event (nothing queued), `event_log_write_failed`
    /// if its batch failed to commit, `event_log_closed` if the writer is gone. In no error case
    /// was the event acknowledged as stored.
    pub async fn append(&self, event: NewEvent) -> Result<i64> {
        let event = event.validate()?;
        let (ack, done) = oneshot::channel();
        self.queue
            .send(Pending { event, ack })
            .await
            .map_err(|_| StorageError::EventLogClosed)?;
        done.await.map_err(|_| StorageError::EventLogClosed)?
    }

    /// A live feed of committed events for shipping to a SIEM. Sending never waits for a
    /// receiver: one that falls more than `sink_capacity` events behind gets
    /// `RecvError::Lagged(n)` and should backfill from [`super::Events::query`] by `seq`.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.sink.subscribe()
    }

    /// Batching and failure counters since start.
    pub fn stats(&self) -> EventLogStats {
        EventLogStats {
            transactions: self.counters.transactions.load(Ordering::Relaxed),
            events: self.counters.events.load(Ordering::Relaxed),
            failed_batches: self.counters.failed_batches.load(Ordering::Relaxed),
        }
    }
}

impl EventWriter {
    /// Stops accepting events, commits everything already queued, and waits for the writer to
    /// finish. Appends after this fail with `event_log_closed`.
    pub async fn shutdown(mut self) -> Result<()> {
        if let Some(signal) = self.shutdown.take() {
            // The writer may already have stopped on its own; that is fine.
            let _ = signal.send(());
        }
        self.task.await.map_err(|e| {
            tracing::error!(error = %e, "event log writer task failed");
            StorageError::EventLogClosed
        })
    }
}

/// The newest row's position, else the newest retention checkpoint, else genesis.
pub(crate) async fn load_head<'c, E>(conn: E) -> Result<ChainHead>
where
    E: sqlx::Executor<'c, Database = Sqlite> + Copy,
{
    Ok(load_tip(conn).await?.head)
}

/// Where the next append continues: the head, plus the ts it must not go below.
#[derive(Debug, Clone)]
struct Tip {
    head: ChainHead,
    ts: i64,
}

async fn load_tip<'c, E>(conn: E) -> Result<Tip>
where
    E: sqlx::Executor<'c, Database = Sqlite> + Copy,
{
    let newest = sqlx::query("SELECT seq, hash, ts FROM events ORDER BY seq DESC LIMIT 1")
        .fetch_optional(conn)
        .await?;
    if let Some(row) = newest {
        return Ok(Tip {
            head: ChainHead {
                seq: row.try_get("seq")?,
                hash: row.try_get("hash")?,
            },
            ts: row.try_get("ts")?,
        });
    }
    // Everything was pruned: continue after the checkpoint. Its rows were older than the
    // retention cutoff, so any current ts keeps the chain in order.
    let checkpoint =
        sqlx::query("SELECT seq, hash FROM chain_checkpoints ORDER BY seq DESC LIMIT 1")
            .fetch_optional(conn)
            .await?;
    let head = match checkpoint {
        Some(row) => ChainHead {
            seq: row.try_get("seq")?,
            hash: row.try_get("hash")?,
        },
        None => ChainHead::genesis(),
    };
    Ok(Tip { head, ts: 0 })
}

struct Writer {
    pool: SqlitePool,
    /// `None` after a failed commit until it is reloaded from the database.
    tip: Option<Tip>,
    rx: mpsc::Receiver<Pending>,
    max_batch: usize,
    linger: Duration,
    counters: Arc<Counters>,
    sink: broadcast::Sender<Arc<Event>>,
}

impl Writer {
    async fn run(mut self, mut shutdown: oneshot::Receiver<()>) {
        // Once shutdown was requested (or its sender dropped) it must not be polled again.
        let mut listening = true;
        loop {
            let first = if listening {
                tokio::select! {
                    biased;
                    signal = &mut shutdown => {
                        listening = false;
                        if signal.is_ok() {
                            // Refuse new events; what is already queued is still committed.
                            self.rx.close();
                        }
                        continue;
                    }
                    next = self.rx.recv() => next,
                }
            } else {
                self.rx.recv().await
            };
            let Some(first) = first else { break };
            let mut batch = vec![first];
            while batch.len() < self.max_batch {
                match self.rx.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            if !self.linger.is_zero() && batch.len() < self.max_batch {
                let deadline = tokio::time::Instant::now() + self.linger;
                while batch.len() < self.max_batch {
                    match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                        Ok(Some(next)) => batch.push(next),
                        Ok(None) | Err(_) => break,
                    }
                }
            }
            self.commit(batch).await;
        }
        tracing::debug!("event log writer stopped");
    }

    async fn commit(&mut self, batch: Vec<Pending>) {
        match self.try_commit(&batch).await {
            Ok(events) => {
                self.counters.transactions.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .events
                    .fetch_add(events.len() as u64, Ordering::Relaxed);
                let feed = self.sink.receiver_count() > 0;
                for (pending, event) in batch.into_iter().zip(events) {
                    // The receiver is gone if the caller stopped waiting; the event stays stored.
                    let _ = pending.ack.send(Ok(event.seq));
                    if feed {
                        // Only errors when nobody listens; never blocks.
                        let _ = self.sink.send(Arc::new(event));
                    }
                }
            }
            Err(err) => {
                self.counters.failed_batches.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %err, events = batch.len(), "event log batch failed");
                // Whatever happened to the transaction, continue from what is really stored.
                self.tip = None;
                let err = Arc::new(err);
                for pending in batch {
                    let _ = pending
                        .ack
                        .send(Err(StorageError::EventLogWrite(Arc::clone(&err))));
                }
            }
        }
    }

    /// Chains and inserts the batch in one transaction; advances `head` only after commit.
    async fn try_commit(&mut self, batch: &[Pending]) -> Result<Vec<Event>, sqlx::Error> {
        let tip = match &self.tip {
            Some(tip) => tip.clone(),
            None => load_tip(&self.pool).await.map_err(into_sqlx)?,
        };
        // Never let ts go backwards along the chain (clock steps), so "older than" for
        // retention is always a prefix of the chain.
        let ts = now_millis().max(tip.ts);
        let mut prev = tip.head;
        let mut events = Vec::with_capacity(batch.len());
        for pending in batch {
            let e = &pending.event;
            let seq = prev.seq + 1;
            let hash = event_hash(
                seq,
                ts,
                &e.kind,
                &e.actor,
                e.project.as_deref(),
                &e.payload,
                &prev.hash,
            );
            let event = Event {
                seq,
                ts,
                kind: e.kind.clone(),
                actor: e.actor.clone(),
                project: e.project.clone(),
                payload: e.payload.clone(),
                prev_hash: std::mem::replace(&mut prev.hash, hash.clone()),
                hash,
            };
            prev.seq = seq;
            events.push(event);
        }

        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for chunk in events.chunks(INSERT_CHUNK) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO events (seq, ts, kind, actor, project, payload, prev_hash, hash) ",
            );
            insert.push_values(chunk, |mut row, e| {
                row.push_bind(e.seq)
                    .push_bind(e.ts)
                    .push_bind(e.kind.clone())
                    .push_bind(e.actor.clone())
                    .push_bind(e.project.clone())
                    .push_bind(e.payload.clone())
                    .push_bind(e.prev_hash.clone())
                    .push_bind(e.hash.clone());
            });
            // Only full chunks share a statement shape worth caching.
            let persistent = chunk.len() == INSERT_CHUNK;
            insert
                .build()
                .persistent(persistent)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.tip = Some(Tip { head: prev, ts });
        Ok(events)
    }
}

fn into_sqlx(err: StorageError) -> sqlx::Error {
    match err {
        StorageError::Database(e) => e,
        other => sqlx::Error::Protocol(other.to_string()),
    }
}
