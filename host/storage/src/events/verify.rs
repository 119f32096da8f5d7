//! Walking the chain: `stockade audit verify`.
//!
//! The walk starts at the newest retention checkpoint (or genesis), reads rows in pages of
//! [`PAGE`] by `seq` inside one read transaction (a consistent snapshot, bounded memory), and
//! stops at the first row that does not fit. What each tampering looks like:
//!
//! | tampering | first bad row | problem |
//! |---|---|---|
//! | a field of row *n* edited | *n* | [`Problem::HashMismatch`] |
//! | row *n* edited and its hash recomputed | *n+1* | [`Problem::PrevHashMismatch`] |
//! | row *n* deleted | *n+1* | [`Problem::SeqGap`] |
//! | rows *n* and *m* > *n* swapped | *n* | [`Problem::PrevHashMismatch`] |
//! | newest rows deleted | only with an anchor | [`Problem::Truncated`] |
//! | whole chain rewritten | only with an anchor | [`Problem::AnchorMismatch`] |

use std::fmt;

use serde::Serialize;
use sqlx::Row;

use super::{ChainHead, Event, Events, event_columns};
use crate::error::Result;

/// Rows read per query while walking.
const PAGE: i64 = 1000;

/// Why a row does not fit the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum Problem {
    /// The row's fields do not hash to its stored `hash`: the row was edited.
    HashMismatch {
        /// What the row claims.
        stored: String,
        /// What its fields hash to.
        computed: String,
    },
    /// The row's `prev_hash` is not the previous row's `hash`: the previous row was edited (and
    /// re-hashed), or rows were reordered.
    PrevHashMismatch {
        /// The previous row's hash.
        expected: String,
        /// This row's `prev_hash`.
        found: String,
    },
    /// Rows `expected..seq` are missing: deleted.
    SeqGap {
        /// The seq that should have come next.
        expected: i64,
    },
    /// A row at or before the newest retention checkpoint still exists, or a checkpoint was
    /// forged.
    BeforeCheckpoint {
        /// The checkpoint's seq.
        checkpoint: i64,
    },
    /// The anchored head is newer than the newest row: rows were deleted from the end.
    Truncated {
        /// The seq of the anchored head.
        anchor_seq: i64,
        /// The newest seq found.
        last_seq: i64,
    },
    /// The row at the anchored seq has a different hash: the chain was rewritten.
    AnchorMismatch {
        /// The anchored hash.
        expected: String,
        /// The stored hash at that seq.
        found: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HashMismatch { stored, computed } => write!(
                f,
                "row was modified: stored hash {stored} but its fields hash to {computed}"
            ),
            Self::PrevHashMismatch { expected, found } => write!(
                f,
                "prev_hash {found} does not match the previous row's hash {expected} \
                 (previous row modified, or rows reordered)"
            ),
            Self::SeqGap { expected } => write!(f, "rows from seq {expected} are missing"),
            Self::BeforeCheckpoint { checkpoint } => write!(
                f,
                "row precedes the retention checkpoint at seq {checkpoint}"
            ),
            Self::Truncated {
                anchor_seq,
                last_seq,
            } => write!(
                f,
                "the anchored head is seq {anchor_seq} but the log ends at seq {last_seq}: \
                 newest rows were deleted"
            ),
            Self::AnchorMismatch { expected, found } => write!(
                f,
                "hash {found} differs from the anchored hash {expected}: the chain was rewritten"
            ),
        }
    }
}

/// The first row that failed verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadRow {
    /// The row to look at (for [`Problem::Truncated`], the first missing seq).
    pub seq: i64,
    /// What is wrong with it.
    pub problem: Problem,
}

/// What became of the externally anchored head passed to [`Events::verify_against`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnchorStatus {
    /// The row at the anchored seq carries the anchored hash.
    Matched,
    /// Retention already pruned the anchored row; it can no longer be compared.
    Pruned,
    /// The anchor did not match; see [`VerifyReport::first_bad`].
    Failed,
    /// The walk stopped at an earlier bad row.
    NotReached,
}

/// The outcome of a walk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Where the walk started: the newest retention checkpoint, or genesis.
    pub start: ChainHead,
    /// Rows that verified.
    pub rows_checked: u64,
    /// The last row that verified (equal to `start` if none did).
    pub head: ChainHead,
    /// The first bad row, if any; the walk stops there.
    pub first_bad: Option<BadRow>,
    /// Set when an anchor was supplied.
    pub anchor: Option<AnchorStatus>,
}

impl VerifyReport {
    /// Whether the chain verified (including the anchor, if one was supplied).
    pub fn is_ok(&self) -> bool {
        self.first_bad.is_none()
    }
}

/// Checks rows one at a time against the chain state; shared with retention, which refuses to
/// prune rows that do not verify (that would destroy the evidence).
#[derive(Debug, Clone)]
pub(crate) struct ChainWalker {
    start: ChainHead,
    pub(crate) head: ChainHead,
    pub(crate) rows: u64,
}

impl ChainWalker {
    pub(crate) fn new(start: ChainHead) -> Self {
        Self {
            head: start.clone(),
            start,
            rows: 0,
        }
    }

    /// Accepts `row` as the next link, or says why it is not.
    pub(crate) fn check(&mut self, row: &Event) -> Result<(), Problem> {
        let expected = self.head.seq + 1;
        if row.seq < expected {
            return Err(Problem::BeforeCheckpoint {
                checkpoint: self.start.seq,
            });
        }
        if row.seq > expected {
            return Err(Problem::SeqGap { expected });
        }
        if row.prev_hash != self.head.hash {
            return Err(Problem::PrevHashMismatch {
                expected: self.head.hash.clone(),
                found: row.prev_hash.clone(),
            });
        }
        let computed = row.computed_hash();
        if computed != row.hash {
            return Err(Problem::HashMismatch {
                stored: row.hash.clone(),
                computed,
            });
        }
        self.head = ChainHead {
            seq: row.seq,
            hash: row.hash.clone(),
        };
        self.rows += 1;
        Ok(())
    }
}

/// The newest checkpoint (where verification starts), or genesis.
pub(crate) async fn chain_start(conn: &mut sqlx::SqliteConnection) -> Result<ChainHead> {
    let row = sqlx::query("SELECT seq, hash FROM chain_checkpoints ORDER BY seq DESC LIMIT 1")
        .fetch_optional(conn)
        .await?;
    Ok(match row {
        Some(row) => ChainHead {
            seq: row.try_get("seq")?,
            hash: row.try_get("hash")?,
        },
        None => ChainHead::genesis(),
    })
}

impl Events<'_> {
    /// Walks the whole chain and names the first bad row. Cannot notice deleted newest rows or
    /// a wholesale rewrite; use [`Events::verify_against`] with an exported head for that.
    pub async fn verify(&self) -> Result<VerifyReport> {
        self.walk(None).await
    }

    /// [`Events::verify`], and also checks that the chain still contains `anchor` (a head
    /// exported earlier from [`Events::chain_head`]).
    pub async fn verify_against(&self, anchor: &ChainHead) -> Result<VerifyReport> {
        self.walk(Some(anchor)).await
    }

    async fn walk(&self, anchor: Option<&ChainHead>) -> Result<VerifyReport> {
        // One read transaction: every page sees the same snapshot, even while appends and
        // retention run concurrently.
        let mut tx = self.db.pool().begin().await?;
        let start = chain_start(&mut tx).await?;
        let mut walker = ChainWalker::new(start.clone());
        let mut first_bad = None;
        // Decided at the anchor's row; stays `NotReached` if the walk stops before it.
        let mut anchor_status = anchor.map(|a| {
            if a.seq < start.seq {
                AnchorStatus::Pruned
            } else if a.seq == start.seq && a.hash == start.hash {
                AnchorStatus::Matched
            } else {
                AnchorStatus::NotReached
            }
        });
        if let Some(a) = anchor
            && a.seq == start.seq
            && a.hash != start.hash
        {
            anchor_status = Some(AnchorStatus::Failed);
            first_bad = Some(BadRow {
                seq: a.seq,
                problem: Problem::AnchorMismatch {
                    expected: a.hash.clone(),
                    found: start.hash.clone(),
                },
            });
        }
        let mut after = start.seq;
        'pages: while first_bad.is_none() {
            let page = sqlx::query(concat!(
                "SELECT ",
                event_columns!(),
                " FROM events WHERE seq > $1 ORDER BY seq LIMIT $2"
            ))
            .bind(after)
            .bind(PAGE)
            .fetch_all(&mut *tx)
            .await?;
            let Some(last) = page.last() else { break };
            after = last.try_get("seq")?;
            for row in &page {
                let event = Event::from_row(row)?;
                if let Err(problem) = walker.check(&event) {
                    first_bad = Some(BadRow {
                        seq: event.seq,
                        problem,
                    });
                    break 'pages;
                }
                if let Some(a) = anchor
                    && a.seq == event.seq
                {
                    if a.hash == event.hash {
                        anchor_status = Some(AnchorStatus::Matched);
                    } else {
                        anchor_status = Some(AnchorStatus::Failed);
                        first_bad = Some(BadRow {
                            seq: event.seq,
                            problem: Problem::AnchorMismatch {
                                expected: a.hash.clone(),
                                found: event.hash.clone(),
                            },
                        });
                        break 'pages;
                    }
                }
            }
        }
        tx.commit().await?;
        if first_bad.is_none()
            && let Some(a) = anchor
            && a.seq > walker.head.seq
        {
            anchor_status = Some(AnchorStatus::Failed);
            first_bad = Some(BadRow {
                seq: walker.head.seq + 1,
                problem: Problem::Truncated {
                    anchor_seq: a.seq,
                    last_seq: walker.head.seq,
                },
            });
        }
        Ok(VerifyReport {
            start,
            rows_checked: walker.rows,
            head: walker.head,
            first_bad,
            anchor: anchor_status,
        })
    }
}
