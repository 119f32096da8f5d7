//! Master key rotation that survives being killed at any instant.
//!
//! [`rotate`] moves every secret from the active key version `N` (old master key) to `N + 1`
//! (new master key) in three kinds of step, each one atomic in the database:
//!
//! 1. **Stage**: insert version `N + 1` as `pending`, with the new key's check value.
//! 2. **Rewrap**, once per row still on `N`: decrypt under the old key, encrypt under the new
//!    one with a fresh nonce and associated data naming `N + 1`, and write it with a
//!    compare-and-swap on (scope, name, version `N`, old nonce): one statement, one transaction.
//!    A row's version, nonce and ciphertext change together, so every row decrypts under the
//!    key its own version names, before, during and after.
//! 3. **Activate**: in one transaction, and only if no row is left on `N`, mark `N + 1` active
//!    and `N` retired.
//!
//! A rerun looks at the key versions and continues from wherever the last run stopped: before
//! step 1 it starts over; with `N + 1` pending and the same new key it rewraps what is left and
//! activates; after step 3 it reports that the rotation is already complete. A rerun with a
//! *different* new key is refused with `key_mismatch` (rows may already be under the first new
//! key) unless no row has moved yet, in which case the pending version takes the new key's
//! check value. Nothing else is ever overwritten.
//!
//! Writes by a server still running on the old key are safe: a row it writes during step 2
//! (still on `N`) is picked up by the next pass, a compare-and-swap that loses to it changes
//! nothing, and once `N` is retired the storage layer refuses its writes (`key_rotated`).
//! Both master keys are dropped, and so wiped, as soon as the data keys are derived; the data
//! keys' AES key schedules are wiped when the rotation returns.

use stockade_storage::{Activation, Database, KeyState, Rewrap, SecretRecord};

use crate::data_key::{DataKey, RowId};
use crate::error::SecretError;
use crate::master_key::MasterKey;

/// Rows rewrapped per read.
const BATCH: i64 = 64;
/// How often the key versions may change under a rotation before it gives up.
const MAX_REPLANS: usize = 3;

/// Where a rotation is; reported to the progress callback after each durable step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationStage {
    /// The plan is made; nothing has been written by this run yet.
    Planned,
    /// The new key version is recorded as pending (now, or by an earlier run).
    Staged,
    /// One more row is on the new version (committed).
    Rewrapped,
    /// The new version is active and the old one retired (committed).
    Activated,
}

/// One progress report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationProgress {
    /// What just happened.
    pub stage: RotationStage,
    /// The old key version.
    pub from_version: i64,
    /// The new key version.
    pub to_version: i64,
    /// Rows on the new version so far (including those moved by an interrupted earlier run).
    pub done: u64,
    /// Rows to be on the new version at the end (grows if secrets are added meanwhile).
    pub total: u64,
}

/// What a completed [`rotate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationReport {
    /// The retired version.
    pub from_version: i64,
    /// The now active version.
    pub to_version: i64,
    /// Rows on the new version.
    pub total: u64,
    /// Rows this run moved (the rest were moved by an interrupted earlier run).
    pub rewrapped: u64,
    /// An earlier run had started this rotation.
    pub resumed: bool,
    /// An earlier run had already finished it; nothing was written.
    pub already_complete: bool,
}

/// What the key versions say to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Insert the pending version.
    Stage { from: i64 },
    /// The pending version's check value belongs to a key that moved no row yet: replace it.
    Restage { from: i64, to: i64 },
    /// The pending version is this new key's: continue.
    Resume { from: i64, to: i64 },
    /// The new key is already active.
    Complete { from: i64, to: i64 },
}

/// Re-encrypts every secret from `old` to `new` (crate docs: "Crash safety"). `progress` is
/// called after each durable step. Both keys are consumed and wiped. Afterwards, stores opened
/// with the old key refuse to work (`key_rotated`): reopen them with `new`.
///
/// Errors: `invalid_input` if the keys are equal; `key_mismatch` if `old` is not the active
/// version's key or `new` conflicts with an unfinished rotation; `secrets_uninitialized` if no
/// key version exists; `secret_corrupt` (naming the row) if a row does not decrypt under the
/// old key — rows moved so far stay moved and a rerun continues once that row is fixed or
/// deleted; `rotation_conflict` if another process keeps changing the key versions.
pub async fn rotate(
    db: &Database,
    old: MasterKey,
    new: MasterKey,
    mut progress: impl FnMut(RotationProgress),
) -> Result<RotationReport, SecretError> {
    if old.same_as(&new) {
        return Err(SecretError::invalid(
            "new master key",
            "is the same as the old one",
        ));
    }
    let keys = Keys {
        old: DataKey::derive(&old),
        new: DataKey::derive(&new),
    };
    drop((old, new));
    for _ in 0..MAX_REPLANS {
        let plan = keys.plan(db).await?;
        if let Some(report) = keys.execute(db, plan, &mut progress).await? {
            return Ok(report);
        }
    }
    Err(SecretError::RotationConflict(
        "another process keeps changing them".into(),
    ))
}

struct Keys {
    old: DataKey,
    new: DataKey,
}

impl Keys {
    /// Reads the key versions and decides where this rotation stands.
    async fn plan(&self, db: &Database) -> Result<Plan, SecretError> {
        let versions = db.secrets().keys().await?;
        let find = |state| versions.iter().find(|k| k.state == state);
        let Some(active) = find(KeyState::Active) else {
            return Err(if versions.is_empty() {
                SecretError::NotInitialized
            } else {
                SecretError::KeyMismatch(
                    "the key table has no active version (it was edited outside Stockade)".into(),
                )
            });
        };
        let from = active.version;
        let old_is_active = self.old.verifies(from, &active.check_value);
        match (old_is_active, find(KeyState::Pending)) {
            (true, None) => Ok(Plan::Stage { from }),
            (true, Some(p)) if self.new.verifies(p.version, &p.check_value) => Ok(Plan::Resume {
                from,
                to: p.version,
            }),
            (true, Some(p)) => {
                let moved = db.secrets().count_at_version(p.version).await?;
                if moved > 0 {
                    return Err(SecretError::KeyMismatch(format!(
                        "an unfinished rotation to key version {} used a different new master \
                         key, and {moved} secrets are already encrypted under it: rerun with \
                         that new key; nothing was changed",
                        p.version
                    )));
                }
                Ok(Plan::Restage {
                    from,
                    to: p.version,
                })
            }
            (false, _) if self.new.verifies(from, &active.check_value) => {
                let retired = versions
                    .iter()
                    .filter(|k| k.state == KeyState::Retired)
                    .find(|k| self.old.verifies(k.version, &k.check_value));
                match retired {
                    Some(r) => Ok(Plan::Complete {
                        from: r.version,
                        to: from,
                    }),
                    None => Err(SecretError::KeyMismatch(format!(
                        "the new master key is already the active key (version {from}), and the \
                         old master key matches no earlier version; nothing was changed"
                    ))),
                }
            }
            (false, _) => Err(SecretError::KeyMismatch(format!(
                "the old master key does not match key version {from}, the key that encrypts \
                 the stored secrets; nothing was changed"
            ))),
        }
    }

    /// Carries out a plan. `None`: the key versions changed underneath; plan again.
    async fn execute(
        &self,
        db: &Database,
        plan: Plan,
        progress: &mut impl FnMut(RotationProgress),
    ) -> Result<Option<RotationReport>, SecretError> {
        let (from, to) = match plan {
            Plan::Stage { from } => (from, from + 1),
            Plan::Restage { from, to }
            | Plan::Resume { from, to }
            | Plan::Complete { from, to } => (from, to),
        };
        let moved = db.secrets().count_at_version(to).await?;
        let left = if matches!(plan, Plan::Complete { .. }) {
            0
        } else {
            db.secrets().count_at_version(from).await?
        };
        let mut tally = Tally {
            from,
            to,
            done: to_u64(moved),
            total: to_u64(moved + left),
        };
        progress(tally.report(RotationStage::Planned));
        let staged = match plan {
            Plan::Stage { .. } => {
                db.secrets()
                    .stage_key(from, &self.new.check_value(to)?)
                    .await?
            }
            // Refused (false) if a row reached `to` since planning: the next plan says why.
            Plan::Restage { .. } => {
                db.secrets()
                    .replace_pending_key(to, &self.new.check_value(to)?)
                    .await?
            }
            Plan::Resume { .. } => true,
            Plan::Complete { .. } => {
                progress(tally.report(RotationStage::Activated));
                return Ok(Some(tally.finish(0, true, true)));
            }
        };
        if !staged {
            return Ok(None);
        }
        progress(tally.report(RotationStage::Staged));
        let rewrapped = match self.rewrap_all(db, &mut tally, progress).await? {
            Some(rewrapped) => rewrapped,
            None => return Ok(None),
        };
        // Rows rewritten on the old version during the rotation were moved twice: count what
        // is there rather than what was done.
        tally.done = to_u64(db.secrets().count_at_version(to).await?);
        tally.total = tally.done;
        progress(tally.report(RotationStage::Activated));
        tracing::info!(from, to, rewrapped, "master key rotated");
        let resumed = matches!(plan, Plan::Resume { .. } | Plan::Restage { .. });
        Ok(Some(tally.finish(rewrapped, resumed, false)))
    }

    /// Step 2 and 3: rewrap until no row is left on the old version, then activate.
    /// `None`: the key versions changed underneath.
    async fn rewrap_all(
        &self,
        db: &Database,
        tally: &mut Tally,
        progress: &mut impl FnMut(RotationProgress),
    ) -> Result<Option<u64>, SecretError> {
        let mut rewrapped = 0;
        loop {
            let batch = db.secrets().batch_at_version(tally.from, BATCH).await?;
            if batch.is_empty() {
                match db.secrets().activate(tally.from, tally.to).await? {
                    Activation::Activated => return Ok(Some(rewrapped)),
                    // Written by a server on the old key since the last read: another pass.
                    Activation::RowsRemain(_) => continue,
                    Activation::StateChanged => return Ok(None),
                }
            }
            for record in &batch {
                if self.rewrap(db, record, tally.to).await? {
                    rewrapped += 1;
                    tally.done += 1;
                    tally.total = tally.total.max(tally.done);
                    progress(tally.report(RotationStage::Rewrapped));
                }
            }
        }
    }

    /// Moves one row to `to`. `false` if it changed or vanished meanwhile (the next pass sees
    /// its new contents).
    async fn rewrap(
        &self,
        db: &Database,
        record: &SecretRecord,
        to: i64,
    ) -> Result<bool, SecretError> {
        let meta = &record.meta;
        let row = |key_version| RowId {
            scope: &meta.scope,
            name: &meta.name,
            key_version,
        };
        let value = self
            .old
            .decrypt(row(meta.key_version), &record.nonce, &record.ciphertext)?;
        let sealed = self.new.encrypt(row(to), value.expose_bytes())?;
        drop(value);
        Ok(db
            .secrets()
            .rewrap(Rewrap {
                scope: &meta.scope,
                name: &meta.name,
                from_version: meta.key_version,
                from_nonce: &record.nonce,
                to_version: to,
                nonce: &sealed.nonce,
                ciphertext: &sealed.ciphertext,
            })
            .await?)
    }
}

/// The counts behind each progress report.
struct Tally {
    from: i64,
    to: i64,
    done: u64,
    total: u64,
}

impl Tally {
    fn report(&self, stage: RotationStage) -> RotationProgress {
        RotationProgress {
            stage,
            from_version: self.from,
            to_version: self.to,
            done: self.done,
            total: self.total,
        }
    }

    fn finish(&self, rewrapped: u64, resumed: bool, already_complete: bool) -> RotationReport {
        RotationReport {
            from_version: self.from,
            to_version: self.to,
            total: self.done,
            rewrapped,
            resumed,
            already_complete,
        }
    }
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}
