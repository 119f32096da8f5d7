//! Stockade's storage: SQLite (the embedded default) through sqlx, and the hash-chained event
//! log.
//!
//! - [`Database`] opens the file (WAL, `synchronous=FULL`, foreign keys, busy timeout), applies
//!   the embedded migrations, and hands out one repository per resource, all with the same
//!   shape (typed rows, `create`/`get`/`list`/`delete`, one write transaction per mutation):
//!   [`Users`] and [`Tokens`] (API tokens stored only as SHA-256 hashes, [`Tokens::bootstrap_admin`]),
//!   [`Projects`] (with membership and [`Projects::is_member`]), [`Bundles`] (installed bundles
//!   pinned to component digests), [`Grants`] and [`Agents`].
//! - [`EventLog`] appends events through one batching writer task ([`EventWriter`]) and
//!   acknowledges each only after its transaction committed; [`Events`] queries, verifies
//!   ([`VerifyReport`]), prunes (keeping the chain verifiable through checkpoints) and exposes
//!   the [`ChainHead`] to anchor outside the database.
//! - Every failure is a [`StorageError`] with a stable [`code`](StorageError::code)
//!   (`not_found`, `conflict`, `invalid_input`, ...).
//!
//! # PostgreSQL
//!
//! The schema uses only TEXT and INTEGER columns, explicit application-generated ids, unix
//! millisecond timestamps and JSON as TEXT; queries use `$n` placeholders (which SQLite also
//! accepts), `ON CONFLICT ... DO UPDATE`, `RETURNING` and no SQLite functions. A PostgreSQL
//! backend would add its own migrations directory (INTEGER → BIGINT, 0/1 flags → BOOLEAN,
//! triggers as a plpgsql function), replace `BEGIN IMMEDIATE` with `BEGIN` (plus
//! `SELECT ... FOR UPDATE` on a chain-head row so several replicas can share the event writer
//! role), and make the repositories generic over the pool (or use `sqlx::Any`).
#![forbid(unsafe_code)]

mod agents;
mod backup;
mod bundles;
mod db;
mod error;
pub mod events;
mod grants;
mod projects;
mod secrets;
mod tokens;
mod users;
mod workspaces;

pub use agents::{Agent, AgentSpec, Agents};
pub use backup::{
    BACKUP_FORMAT_VERSION, BackupEntry, BackupError, BackupManifest, BackupStep, BackupSummary,
    DATABASE_FILE, DatabaseReport, Installed, MANIFEST_FILE, MAX_DATABASE_BYTES, RestoreSummary,
    Snapshot, TableRows, check_database_file, create_backup, restore_backup,
};
pub use bundles::{Bundles, InstalledBundle, NewBundle};
pub use db::{Database, DatabaseOptions};
pub use error::{Result, StorageError};
pub use events::{
    ChainHead, Event, EventLog, EventLogConfig, EventLogStats, EventPage, EventQuery, EventWriter,
    Events, NewEvent, ProjectScope, VerifyReport,
};
pub use grants::{Grant, GrantDocs, Grants};
pub use projects::{Project, Projects};
pub use secrets::{
    Activation, FirstKey, KeyState, NewSecret, PutOutcome, Rewrap, SecretKeyRecord, SecretMeta,
    SecretRecord, Secrets,
};
pub use tokens::{Bootstrap, IssuedToken, TOKEN_PREFIX, TokenInfo, Tokens, token_hash};
pub use users::{Role, User, Users};
pub use workspaces::WorkspaceEgress;
