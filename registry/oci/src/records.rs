//! The signed documents: publisher signatures, operator approvals, revocation lists.
//!
//! Every signed message starts with a domain-separation line, so a signature made for one kind
//! of document can never be replayed as another.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::canonical;
use crate::digest::Digest;
use crate::error::Error;
use crate::keys::{KeyRing, SecretKey, Signature};

/// Domain prefix of a publisher signature; the message is this followed by the manifest digest.
pub const SIGNATURE_DOMAIN: &str = "stockade-bundle-signature-v1\n";
/// Domain prefix of an approval; followed by the canonical JSON of [`Approval`].
pub const APPROVAL_DOMAIN: &str = "stockade-bundle-approval-v1\n";
/// Domain prefix of a revocation list; followed by the canonical JSON of [`RevocationList`].
pub const REVOCATION_DOMAIN: &str = "stockade-revocation-list-v1\n";

fn signature_message(digest: &Digest) -> Vec<u8> {
    format!("{SIGNATURE_DOMAIN}{digest}").into_bytes()
}

/// The publisher's signature over a manifest digest.
pub fn sign_manifest(key: &SecretKey, manifest_digest: &Digest) -> Signature {
    key.sign(&signature_message(manifest_digest))
}

/// Checks a publisher signature: `unknown_publisher_key` or `bad_signature`.
pub fn verify_manifest_signature(
    publishers: &KeyRing,
    manifest_digest: &Digest,
    signature: &Signature,
) -> Result<(), Error> {
    if publishers.verify(
        &signature_message(manifest_digest),
        signature,
        "publisher signature",
    )? {
        Ok(())
    } else {
        Err(Error::UnknownPublisherKey {
            key_id: signature.key_id.clone(),
        })
    }
}

/// What an operator approves: one version of one bundle, pinned by manifest and capabilities
/// digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// Bundle name.
    pub name: String,
    /// Bundle version.
    pub version: String,
    /// The approved manifest.
    pub manifest_digest: Digest,
    /// The approved capabilities.
    pub capabilities_digest: Digest,
    /// When, RFC 3339 UTC.
    pub approved_at: String,
    /// Key id of the approving operator key (must equal the signature's).
    pub approver: String,
}

/// An [`Approval`] and the operator's signature over it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedApproval {
    /// The record.
    pub approval: Approval,
    /// Over `APPROVAL_DOMAIN` + canonical JSON of `approval`.
    pub signature: Signature,
}

impl SignedApproval {
    /// Signs a new approval, stamped now.
    pub fn sign(
        key: &SecretKey,
        name: &str,
        version: &str,
        manifest_digest: &Digest,
        capabilities_digest: &Digest,
    ) -> Result<Self, Error> {
        let approval = Approval {
            name: name.to_owned(),
            version: version.to_owned(),
            manifest_digest: manifest_digest.clone(),
            capabilities_digest: capabilities_digest.clone(),
            approved_at: now_rfc3339(),
            approver: key.public().key_id(),
        };
        let message = [APPROVAL_DOMAIN.as_bytes(), &canonical::to_vec(&approval)?].concat();
        Ok(SignedApproval {
            signature: key.sign(&message),
            approval,
        })
    }

    /// Checks the signature (`unknown_operator_key`, `bad_signature`) and that the record is
    /// for exactly this name, version, manifest and capabilities (`approval_mismatch`).
    pub fn verify(
        &self,
        operators: &KeyRing,
        name: &str,
        version: &str,
        manifest_digest: &Digest,
        capabilities_digest: &Digest,
    ) -> Result<(), Error> {
        self.verify_signature(operators)?;
        let a = &self.approval;
        let fields = [
            ("name", a.name.as_str(), name),
            ("version", a.version.as_str(), version),
            (
                "manifest digest",
                a.manifest_digest.as_str(),
                manifest_digest.as_str(),
            ),
            (
                "capabilities digest",
                a.capabilities_digest.as_str(),
                capabilities_digest.as_str(),
            ),
        ];
        for (field, approved, actual) in fields {
            if approved != actual {
                return Err(Error::ApprovalMismatch {
                    field,
                    approved: approved.to_owned(),
                    actual: actual.to_owned(),
                });
            }
        }
        Ok(())
    }

    /// Checks only the signature and that the approver field names the signing key.
    pub fn verify_signature(&self, operators: &KeyRing) -> Result<(), Error> {
        let message = [
            APPROVAL_DOMAIN.as_bytes(),
            &canonical::to_vec(&self.approval)?,
        ]
        .concat();
        if !operators.verify(&message, &self.signature, "approval")? {
            return Err(Error::UnknownOperatorKey {
                key_id: self.signature.key_id.clone(),
            });
        }
        if self.approval.approver != self.signature.key_id {
            return Err(Error::BadSignature { what: "approval" });
        }
        Ok(())
    }
}

/// The operator's list of revoked manifest digests. Each new list has a larger `serial`; a
/// client refuses a list older than one it has seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RevocationList {
    /// Increases by one with every list.
    pub serial: u64,
    /// When, RFC 3339 UTC.
    pub issued_at: String,
    /// The revoked digests.
    pub revoked: Vec<Revocation>,
}

/// One revoked manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    /// The manifest digest.
    pub digest: Digest,
    /// Why, for operators.
    #[serde(default)]
    pub reason: String,
}

impl RevocationList {
    /// The digests as a set.
    pub fn digests(&self) -> BTreeSet<Digest> {
        self.revoked.iter().map(|r| r.digest.clone()).collect()
    }

    /// The next list: `serial + 1`, with `digest` added (once).
    pub fn with_revoked(&self, digest: Digest, reason: &str) -> RevocationList {
        let mut revoked = self.revoked.clone();
        if !revoked.iter().any(|r| r.digest == digest) {
            revoked.push(Revocation {
                digest,
                reason: reason.to_owned(),
            });
        }
        RevocationList {
            serial: self.serial + 1,
            issued_at: now_rfc3339(),
            revoked,
        }
    }

    /// Signs the list with an operator key.
    pub fn sign(self, key: &SecretKey) -> Result<SignedRevocationList, Error> {
        let message = [REVOCATION_DOMAIN.as_bytes(), &canonical::to_vec(&self)?].concat();
        Ok(SignedRevocationList {
            signature: key.sign(&message),
            list: self,
        })
    }
}

/// A [`RevocationList`] and an operator's signature over it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedRevocationList {
    /// The list.
    pub list: RevocationList,
    /// Over `REVOCATION_DOMAIN` + canonical JSON of `list`.
    pub signature: Signature,
}

impl SignedRevocationList {
    /// Checks the signature and that `serial` is at least `seen` (`revocation_rollback`).
    pub fn verify(&self, operators: &KeyRing, seen: Option<u64>) -> Result<&RevocationList, Error> {
        let message = [
            REVOCATION_DOMAIN.as_bytes(),
            &canonical::to_vec(&self.list)?,
        ]
        .concat();
        if !operators.verify(&message, &self.signature, "revocation list")? {
            return Err(Error::UnknownOperatorKey {
                key_id: self.signature.key_id.clone(),
            });
        }
        if let Some(seen) = seen
            && self.list.serial < seen
        {
            return Err(Error::RevocationRollback {
                got: self.list.serial,
                seen,
            });
        }
        Ok(&self.list)
    }
}

/// Now as RFC 3339 UTC with seconds, `YYYY-MM-DDTHH:MM:SSZ`.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(secs)
}

/// Formats Unix seconds as RFC 3339 UTC (days-to-civil, proleptic Gregorian).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        match SecretKey::generate() {
            Ok(key) => key,
            Err(err) => panic!("{err}"),
        }
    }

    #[test]
    fn rfc3339_known_values() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_767_225_599), "2025-12-31T23:59:59Z");
    }

    #[test]
    fn a_manifest_signature_is_not_an_approval_signature() {
        let operator = key();
        let ring = KeyRing::new([operator.public()]);
        let digest = Digest::of(b"m");
        let caps = Digest::of(b"c");
        let approval = SignedApproval::sign(&operator, "fs", "1.0.0", &digest, &caps);
        let Ok(approval) = approval else {
            panic!("sign")
        };
        assert!(
            approval
                .verify(&ring, "fs", "1.0.0", &digest, &caps)
                .is_ok()
        );
        // The same key's signature over the bare digest does not verify as a publisher
        // signature for another digest, nor an approval with a changed field.
        let sig = sign_manifest(&operator, &digest);
        let other = verify_manifest_signature(&ring, &Digest::of(b"x"), &sig).err();
        assert_eq!(other.map(|e| e.code()), Some("bad_signature"));
        let mut forged = approval.clone();
        forged.approval.version = "1.0.1".into();
        let err = forged.verify(&ring, "fs", "1.0.1", &digest, &caps).err();
        assert_eq!(err.map(|e| e.code()), Some("bad_signature"));
        let err = approval
            .verify(&ring, "fs", "1.0.0", &Digest::of(b"y"), &caps)
            .err();
        assert_eq!(err.map(|e| e.code()), Some("approval_mismatch"));
        let err = approval
            .verify(&KeyRing::default(), "fs", "1.0.0", &digest, &caps)
            .err();
        assert_eq!(err.map(|e| e.code()), Some("unknown_operator_key"));
    }

    #[test]
    fn revocation_lists_are_signed_and_monotonic() {
        let operator = key();
        let ring = KeyRing::new([operator.public()]);
        let first = RevocationList::default()
            .with_revoked(Digest::of(b"a"), "bad")
            .sign(&operator);
        let Ok(first) = first else { panic!("sign") };
        assert_eq!(first.list.serial, 1);
        assert!(first.verify(&ring, Some(1)).is_ok());
        let err = first.verify(&ring, Some(2)).err();
        assert_eq!(err.map(|e| e.code()), Some("revocation_rollback"));
        let mut tampered = first.clone();
        tampered.list.revoked.clear();
        assert_eq!(
            tampered.verify(&ring, None).err().map(|e| e.code()),
            Some("bad_signature")
        );
    }
}
