//! The single writer: batches appends into transactions and acknowledges only after commit.
//!
//! Why one writer: the chain needs a total order and each row needs its predecessor's hash, and
//! SQLite has one write lock anyway. Why batches: with `synchronous=FULL` every commit is an
//! fsync; grouping the events that queued up during the previous commit into the next one makes
//! the log cost one fsync per batch instead of one per event ("group commit"). Under load the
//! batches form by themselves; `linger` optionally waits a little longer when the writer is idle.
//!
//! Why a dedicated thread with its own synchronous connection (rusqlite on the same SQLite
//! library sqlx links) instead of a task on the sqlx pool: every tool call waits for this
//! commit, and through sqlx a batch is three round trips to the connection's worker thread
//! (`BEGIN`, `INSERT`, `COMMIT`), each a cross-thread wake-up. Measured with
//! `cargo bench -p stockade-storage --bench append` on 2 cores: one append at a time took
//! 342 us (no fsync) / 539 us (fsync) through sqlx; on this thread the statements run in place
//! and only the queue hand-off and the acknowledgement cross threads.
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

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use sqlx::{Row, Sqlite};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::{ChainHead, Event, NewEvent, ValidEvent, event_hash};
use crate::db::{BUSY_TIMEOUT, Database, now_millis};
use crate::error::{Result, StorageError};

const INSERT: &str = "INSERT INTO events (seq, ts, kind, actor, project, payload, prev_hash, hash) \
                      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

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

#[derive(Debug)]
enum Message {
    Append(Pending),
    /// Stop accepting events, commit what is queued, exit.
    Shutdown,
}

/// The append side of the event log: cheap to clone, one per request handler if need be.
#[derive(Debug, Clone)]
pub struct EventLog {
    queue: mpsc::Sender<Message>,
    counters: Arc<Counters>,
    sink: broadcast::Sender<Arc<Event>>,
}

/// The running writer task. Keep it to shut down gracefully; dropping it leaves the writer
/// running until every [`EventLog`] handle is dropped.
#[derive(Debug)]
pub struct EventWriter {
    queue: mpsc::Sender<Message>,
    done: oneshot::Receiver<()>,
}

impl EventLog {
    /// Opens the writer's own connection, loads the chain head and starts the writer thread.
    ///
    /// Needs a file database (the writer opens the same file); call from a tokio runtime.
    pub async fn start(db: &Database, config: EventLogConfig) -> Result<(EventLog, EventWriter)> {
        let path = db.filename();
        let fsync = db.options().fsync_commits;
        let conn = tokio::task::spawn_blocking(move || open_writer_connection(&path, fsync))
            .await
            .map_err(|e| StorageError::EventLogWrite(Arc::new(e)))??;
        let tip = load_tip_sync(&conn).map_err(write_error)?;
        let (queue, rx) = mpsc::channel(config.queue.max(1));
        let (sink, _) = broadcast::channel(config.sink_capacity.max(1));
        let (done_tx, done) = oneshot::channel();
        let counters = Arc::new(Counters::default());
        let writer = Writer {
            conn,
            tip: Some(tip),
            rx,
            max_batch: config.max_batch.max(1),
            linger: config.linger,
            counters: Arc::clone(&counters),
            sink: sink.clone(),
        };
        std::thread::Builder::new()
            .name("stockade-event-log".into())
            .spawn(move || {
                writer.run();
                let _ = done_tx.send(());
            })
            .map_err(|e| StorageError::EventLogWrite(Arc::new(e)))?;
        let log = EventLog {
            queue: queue.clone(),
            counters,
            sink,
        };
        Ok((log, EventWriter { queue, done }))
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
            .send(Message::Append(Pending { event, ack }))
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
    pub async fn shutdown(self) -> Result<()> {
        // Queued behind every event already sent. If the writer already stopped on its own,
        // the send fails and `done` has fired or fires now.
        let _ = self.queue.send(Message::Shutdown).await;
        drop(self.queue);
        self.done.await.map_err(|_| {
            tracing::error!("event log writer thread failed");
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

/// Opens the writer's connection to the database file the pool uses (migrated already, in WAL
/// mode), with the same durability setting.
fn open_writer_connection(path: &Path, fsync: bool) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(write_error)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(write_error)?;
    conn.execute_batch(if fsync {
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
    } else {
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
    })
    .map_err(write_error)?;
    Ok(conn)
}

/// [`load_tip`] on the writer's own connection.
fn load_tip_sync(conn: &Connection) -> rusqlite::Result<Tip> {
    let newest = conn
        .query_row(
            "SELECT seq, hash, ts FROM events ORDER BY seq DESC LIMIT 1",
            [],
            |row| {
                Ok(Tip {
                    head: ChainHead {
                        seq: row.get(0)?,
                        hash: row.get(1)?,
                    },
                    ts: row.get(2)?,
                })
            },
        )
        .optional()?;
    if let Some(tip) = newest {
        return Ok(tip);
    }
    let head = conn
        .query_row(
            "SELECT seq, hash FROM chain_checkpoints ORDER BY seq DESC LIMIT 1",
            [],
            |row| {
                Ok(ChainHead {
                    seq: row.get(0)?,
                    hash: row.get(1)?,
                })
            },
        )
        .optional()?
        .unwrap_or_else(ChainHead::genesis);
    Ok(Tip { head, ts: 0 })
}

fn write_error(err: impl std::error::Error + Send + Sync + 'static) -> StorageError {
    StorageError::EventLogWrite(Arc::new(err))
}

struct Writer {
    conn: Connection,
    /// `None` after a failed commit until it is reloaded from the database.
    tip: Option<Tip>,
    rx: mpsc::Receiver<Message>,
    max_batch: usize,
    linger: Duration,
    counters: Arc<Counters>,
    sink: broadcast::Sender<Arc<Event>>,
}

impl Writer {
    fn run(mut self) {
        let mut stopping = false;
        while !stopping {
            let Some(first) = self.rx.blocking_recv() else {
                break;
            };
            let mut batch = Vec::new();
            match first {
                Message::Append(pending) => batch.push(pending),
                Message::Shutdown => stopping = true,
            }
            if !stopping && !self.linger.is_zero() && batch.len() < self.max_batch {
                std::thread::sleep(self.linger);
            }
            while batch.len() < self.max_batch {
                match self.rx.try_recv() {
                    Ok(Message::Append(pending)) => batch.push(pending),
                    Ok(Message::Shutdown) => stopping = true,
                    Err(_) => break,
                }
            }
            if stopping {
                // Refuse new events; everything already queued is still committed.
                self.rx.close();
                while let Some(message) = self.rx.blocking_recv() {
                    if let Message::Append(pending) = message {
                        batch.push(pending);
                    }
                }
            }
            for chunk in chunked(batch, self.max_batch) {
                self.commit(chunk);
            }
        }
        tracing::debug!("event log writer stopped");
    }

    fn commit(&mut self, batch: Vec<Pending>) {
        match self.try_commit(&batch) {
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
                let err: Arc<dyn std::error::Error + Send + Sync> = Arc::new(err);
                for pending in batch {
                    let _ = pending
                        .ack
                        .send(Err(StorageError::EventLogWrite(Arc::clone(&err))));
                }
            }
        }
    }

    /// Chains and inserts the batch in one transaction; advances the tip only after commit.
    fn try_commit(&mut self, batch: &[Pending]) -> rusqlite::Result<Vec<Event>> {
        let tip = match &self.tip {
            Some(tip) => tip.clone(),
            None => load_tip_sync(&self.conn)?,
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

        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut insert = tx.prepare_cached(INSERT)?;
            for e in &events {
                insert.execute(rusqlite::params![
                    e.seq,
                    e.ts,
                    e.kind,
                    e.actor,
                    e.project,
                    e.payload,
                    e.prev_hash,
                    e.hash
                ])?;
            }
        }
        tx.commit()?;
        self.tip = Some(Tip { head: prev, ts });
        Ok(events)
    }
}

/// Splits `batch` into transactions of at most `max` events (only a shutdown drain can exceed it).
fn chunked(mut batch: Vec<Pending>, max: usize) -> Vec<Vec<Pending>> {
    let mut chunks = Vec::new();
    while batch.len() > max {
        let rest = batch.split_off(max);
        chunks.push(std::mem::replace(&mut batch, rest));
    }
    if !batch.is_empty() {
        chunks.push(batch);
    }
    chunks
}
