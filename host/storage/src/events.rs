//! The tamper-evident event log: every tool call, verdict, login failure and admin action.
//!
//! - [`EventLog`] appends. Callers send a [`NewEvent`]; one writer task batches events into a
//!   transaction, extends the hash chain, commits, and only then acknowledges each caller with
//!   its sequence number (see [`EventLog::start`]).
//! - [`Events`] (from [`Database::events`]) reads: [`Events::query`] for `GET /v1/events`,
//!   [`Events::verify`] for `stockade audit verify`, [`Events::chain_head`] for anchoring, and
//!   [`Events::prune_before`] for retention.
//!
//! What protects the log, from weakest to strongest: triggers refuse `UPDATE` and `DELETE` on
//! `events` except inside the retention transaction (stops bugs and casual edits); the hash chain
//! makes any edit, deletion or reordering of rows detectable by [`Events::verify`]; and because
//! someone who can rewrite the whole file can also rewrite the whole chain, the head from
//! [`Events::chain_head`] must be exported (and signed) outside the database and fed back to
//! [`Events::verify_against`]: that is the only thing that detects deleting the newest rows.

mod chain;
mod query;
mod retention;
mod verify;
mod writer;

use serde::Serialize;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::db::Database;
use crate::error::{Result, StorageError};

pub use chain::{GENESIS_HASH, event_hash};
pub use query::{DEFAULT_QUERY_LIMIT, EventPage, EventQuery, MAX_QUERY_LIMIT, ProjectScope};
pub use retention::PruneReport;
pub use verify::{AnchorStatus, BadRow, Problem, VerifyReport};
pub use writer::{EventLog, EventLogConfig, EventLogStats, EventWriter};

/// Well-known values of [`NewEvent::kind`]. The set is open; these are the ones the server uses.
pub mod kinds {
    /// A tool call with its verdict and outcome.
    pub const TOOL_CALL: &str = "tool_call";
    /// A rejected credential or signature.
    pub const AUTH_FAILURE: &str = "auth_failure";
    /// A change made by an operator (tokens, projects, bundles, grants, agents, secrets).
    pub const ADMIN: &str = "admin";
    /// An outbound connection allowed or denied by egress policy.
    pub const EGRESS: &str = "egress";
    /// A stored secret or secret-shaped string scrubbed from a tool's output, error or log.
    pub const REDACTION: &str = "redaction";
    /// A plugin read a granted secret through `stockade:plugin/secrets` (the name, never the
    /// value).
    pub const SECRET_READ: &str = "secret_read";
}

/// Longest accepted `kind`.
pub const MAX_KIND_LEN: usize = 64;
/// Longest accepted `actor` or `project`.
pub const MAX_NAME_LEN: usize = 256;
/// Largest accepted payload, serialized. Bigger outputs belong in a digest, not the audit log.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// An event to record. `seq`, `ts` and the hashes are assigned by the writer.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// What happened: lowercase `[a-z0-9_.]`, e.g. [`kinds::TOOL_CALL`].
    pub kind: String,
    /// Who did it: a user id, an agent (`agent:<project>/<name>`), `system`, or a peer address
    /// for an unauthenticated failure.
    pub actor: String,
    /// The project it concerns, if any. Events without a project are visible to admins only.
    pub project: Option<String>,
    /// Details, stored exactly as serialized here (that text is what the hash covers).
    pub payload: serde_json::Value,
}

impl NewEvent {
    /// Shorthand for building an event.
    pub fn new(
        kind: impl Into<String>,
        actor: impl Into<String>,
        project: Option<String>,
        payload: serde_json::Value,
    ) -> Self {
        Self {
            kind: kind.into(),
            actor: actor.into(),
            project,
            payload,
        }
    }

    /// Checks the fields and serializes the payload once, before the event is queued, so a bad
    /// event fails its own caller with `invalid_input` instead of failing a whole batch.
    pub(crate) fn validate(self) -> Result<ValidEvent> {
        let kind_ok = !self.kind.is_empty()
            && self.kind.len() <= MAX_KIND_LEN
            && self
                .kind
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
        if !kind_ok {
            return Err(StorageError::invalid(
                "kind",
                format!("must be 1-{MAX_KIND_LEN} characters of a-z, 0-9, `_`, `.`"),
            ));
        }
        if self.actor.is_empty() || self.actor.len() > MAX_NAME_LEN {
            return Err(StorageError::invalid(
                "actor",
                format!("must be 1-{MAX_NAME_LEN} bytes"),
            ));
        }
        if self
            .project
            .as_ref()
            .is_some_and(|p| p.is_empty() || p.len() > MAX_NAME_LEN)
        {
            return Err(StorageError::invalid(
                "project",
                format!("must be 1-{MAX_NAME_LEN} bytes"),
            ));
        }
        let payload = self.payload.to_string();
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(StorageError::invalid(
                "payload",
                format!("{} bytes exceeds {MAX_PAYLOAD_BYTES}", payload.len()),
            ));
        }
        Ok(ValidEvent {
            kind: self.kind,
            actor: self.actor,
            project: self.project,
            payload,
        })
    }
}

/// A [`NewEvent`] that passed validation, payload already serialized.
#[derive(Debug)]
pub(crate) struct ValidEvent {
    pub(crate) kind: String,
    pub(crate) actor: String,
    pub(crate) project: Option<String>,
    pub(crate) payload: String,
}

/// A committed row of `events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Position in the chain, from 1, gapless except where retention pruned a prefix.
    pub seq: i64,
    /// Unix millis, assigned by the writer, never decreasing along the chain.
    pub ts: i64,
    /// See [`NewEvent::kind`].
    pub kind: String,
    /// See [`NewEvent::actor`].
    pub actor: String,
    /// See [`NewEvent::project`].
    pub project: Option<String>,
    /// The payload JSON text exactly as hashed. Parse with [`Event::payload_json`].
    pub payload: String,
    /// `hash` of the previous row ([`GENESIS_HASH`] for seq 1).
    pub prev_hash: String,
    /// SHA-256 of this row; see [`event_hash`].
    pub hash: String,
}

impl Event {
    /// The payload parsed.
    pub fn payload_json(&self) -> Result<serde_json::Value> {
        serde_json::from_str(&self.payload).map_err(|e| StorageError::Corrupt {
            what: "events.payload",
            reason: e.to_string(),
        })
    }

    /// The hash this row should carry given its fields and `prev_hash`.
    pub fn computed_hash(&self) -> String {
        event_hash(
            self.seq,
            self.ts,
            &self.kind,
            &self.actor,
            self.project.as_deref(),
            &self.payload,
            &self.prev_hash,
        )
    }

    pub(crate) fn from_row(row: &SqliteRow) -> Result<Self> {
        Ok(Self {
            seq: row.try_get("seq")?,
            ts: row.try_get("ts")?,
            kind: row.try_get("kind")?,
            actor: row.try_get("actor")?,
            project: row.try_get("project")?,
            payload: row.try_get("payload")?,
            prev_hash: row.try_get("prev_hash")?,
            hash: row.try_get("hash")?,
        })
    }
}

/// Columns of `events` in the order [`Event::from_row`] reads them.
macro_rules! event_columns {
    () => {
        "seq, ts, kind, actor, project, payload, prev_hash, hash"
    };
}
pub(crate) use event_columns;

/// A position in the chain: the newest row's seq and hash. Exported outside the database
/// (and ideally signed), it lets a later [`Events::verify_against`] detect truncation and a
/// wholesale rewrite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ChainHead {
    /// 0 for an empty chain.
    pub seq: i64,
    /// [`GENESIS_HASH`] for an empty chain.
    pub hash: String,
}

impl ChainHead {
    /// The head of an empty chain.
    pub fn genesis() -> Self {
        Self {
            seq: 0,
            hash: GENESIS_HASH.to_owned(),
        }
    }
}

/// Read-side and maintenance operations on the event log. Obtain it with [`Database::events`];
/// appends go through [`EventLog`].
#[derive(Debug, Clone, Copy)]
pub struct Events<'a> {
    db: &'a Database,
}

impl Database {
    /// The event log's read side.
    pub fn events(&self) -> Events<'_> {
        Events { db: self }
    }
}
