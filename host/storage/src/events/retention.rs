//! Retention: pruning the oldest events while keeping the rest verifiable, and the chain head.
//!
//! Pruning removes a *prefix* of the chain (the writer keeps `ts` non-decreasing, so "older than
//! the cutoff" is a prefix) and records the last pruned row's seq and hash in
//! `chain_checkpoints`, where verification then starts. It works in chunks of [`CHUNK`] rows,
//! one transaction each with its own checkpoint, so a year of events never holds the write lock
//! (and stalls appends) for long, and a crash between chunks leaves a consistent state.
//!
//! Before deleting, each chunk is verified: pruning rows that were tampered with would destroy
//! the evidence, so retention refuses with `chain_broken` and leaves them.

use serde::Serialize;

use super::verify::{ChainWalker, chain_start};
use super::writer::load_head;
use super::{ChainHead, Event, Events, event_columns};
use crate::db::now_millis;
use crate::error::{Result, StorageError};

/// Rows deleted per transaction.
const CHUNK: i64 = 10_000;

/// What [`Events::prune_before`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// Rows deleted.
    pub deleted: u64,
    /// The newest checkpoint written, if anything was pruned.
    pub checkpoint: Option<ChainHead>,
}

impl Events<'_> {
    /// The newest position in the chain (the newest row, else the newest checkpoint, else
    /// genesis). Export it outside the database, ideally signed: a chain stored in the same
    /// file proves nothing to someone who can rewrite the whole file, and only a head kept
    /// elsewhere detects deleting the newest rows (see [`Events::verify_against`]).
    pub async fn chain_head(&self) -> Result<ChainHead> {
        load_head(self.db.pool()).await
    }

    /// Deletes events with `ts < cutoff_ms` (unix millis; the caller computes it from its
    /// retention setting, 365 days by default), keeping the remainder verifiable.
    pub async fn prune_before(&self, cutoff_ms: i64) -> Result<PruneReport> {
        let mut report = PruneReport {
            deleted: 0,
            checkpoint: None,
        };
        loop {
            let mut tx = self.db.begin_write().await?;
            let start = chain_start(&mut tx).await?;
            // The prefix older than the cutoff ends before the first row that is not.
            let first_kept: Option<i64> =
                sqlx::query_scalar("SELECT MIN(seq) FROM events WHERE ts >= $1")
                    .bind(cutoff_ms)
                    .fetch_one(&mut *tx)
                    .await?;
            let bound = match first_kept {
                Some(first_kept) => first_kept - 1,
                None => i64::MAX,
            };
            let rows = sqlx::query(concat!(
                "SELECT ",
                event_columns!(),
                " FROM events WHERE seq <= $1 ORDER BY seq LIMIT $2"
            ))
            .bind(bound)
            .bind(CHUNK)
            .fetch_all(&mut *tx)
            .await?;
            if rows.is_empty() {
                break;
            }
            let mut walker = ChainWalker::new(start);
            for row in &rows {
                let event = Event::from_row(row)?;
                if let Err(problem) = walker.check(&event) {
                    return Err(StorageError::ChainBroken {
                        seq: event.seq,
                        problem,
                    });
                }
            }
            let last = walker.head;
            sqlx::query("UPDATE event_guard SET pruning = 1 WHERE id = 1")
                .execute(&mut *tx)
                .await?;
            let deleted = sqlx::query("DELETE FROM events WHERE seq <= $1")
                .bind(last.seq)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query("UPDATE event_guard SET pruning = 0 WHERE id = 1")
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO chain_checkpoints (seq, hash, pruned_at, pruned_rows) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(last.seq)
            .bind(&last.hash)
            .bind(now_millis())
            .bind(i64::try_from(deleted).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            report.deleted += deleted;
            report.checkpoint = Some(last);
            tracing::info!(
                deleted,
                up_to_seq = report.checkpoint.as_ref().map(|c| c.seq),
                "pruned events"
            );
        }
        Ok(report)
    }
}
