//! A blocking registry client that verifies everything it fetches.
//!
//! Plain HTTP through `ureq` (no TLS in this build: put the registry on loopback, a private
//! network or behind a TLS-terminating proxy; trust comes from signatures and digests, not the
//! transport). Proxies from the environment and redirects are off. From async code, call it
//! inside `tokio::task::spawn_blocking`.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use semver::VersionReq;

use crate::artifact::{MANIFEST_MEDIA_TYPE, PackedBundle};
use crate::digest::Digest;
use crate::error::Error;
use crate::install::{
    BlobSource, FetchLimits, Pins, Progress, TrustPolicy, VerifiedBundle, install,
};
use crate::keys::{KeyRing, Signature};
use crate::records::{RevocationList, SignedApproval, SignedRevocationList};
use crate::wire::{ErrorBody, PublishRequest, PublishResponse, VersionEntry, VersionListing};

const JSON_LIMIT: u64 = 8 << 20;

/// A connection to one registry.
#[derive(Debug, Clone)]
pub struct RegistryClient {
    base: String,
    agent: ureq::Agent,
    limits: FetchLimits,
    token: Option<Token>,
}

#[derive(Clone)]
struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(redacted)")
    }
}

impl RegistryClient {
    /// A client for the registry at `url` (`http://host:port`, no path).
    pub fn new(url: &str) -> Result<Self, Error> {
        let base = url.trim_end_matches('/').to_owned();
        if !base.starts_with("http://") {
            return Err(Error::invalid(
                "document",
                format!("registry URL {url:?} must start with http://"),
            ));
        }
        let agent = ureq::Agent::config_builder()
            .proxy(None)
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_recv_body(Some(Duration::from_secs(300)))
            .user_agent(concat!("stockade-bundle/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(RegistryClient {
            base,
            agent,
            limits: FetchLimits::default(),
            token: None,
        })
    }

    /// Uses these size caps.
    pub fn with_limits(mut self, limits: FetchLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sends `Authorization: Bearer <token>` (publish and operator calls).
    pub fn with_token(mut self, token: &str) -> Self {
        self.token = Some(Token(token.to_owned()));
        self
    }

    /// The registry's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    fn get(&self, path: &str, accept: &str) -> Result<ureq::http::Response<ureq::Body>, Error> {
        let mut request = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Accept", accept);
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {}", token.0));
        }
        let response = request
            .call()
            .map_err(|err| Error::Transport(err.to_string()))?;
        check_status(response)
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let url = format!("{}{path}", self.base);
        let mut request = match method {
            "POST" => self.agent.post(url),
            _ => self.agent.put(url),
        };
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {}", token.0));
        }
        let response = request
            .content_type(content_type)
            .send(body)
            .map_err(|err| Error::Transport(err.to_string()))?;
        let response = check_status(response)?;
        read_limited(response, JSON_LIMIT, "response")
    }

    fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        let response = self.get(path, "application/json")?;
        let bytes = read_limited(response, JSON_LIMIT, path)?;
        serde_json::from_slice(&bytes)
            .map_err(|err| Error::invalid("document", format!("{path}: {err}")))
    }

    /// Approved versions of `name`, yanked ones flagged.
    pub fn versions(&self, name: &str) -> Result<VersionListing, Error> {
        self.get_json(&format!("/stockade/v1/bundles/{name}/versions"))
    }

    /// The highest approved, non-yanked version matching `req`.
    pub fn resolve(&self, name: &str, req: &VersionReq) -> Result<VersionEntry, Error> {
        self.resolve_trusted(name, req, &TrustPolicy::default())
    }

    /// [`resolve`](Self::resolve), also skipping versions whose manifest digest `policy`
    /// revokes, so an install does not pick a version it would then refuse.
    pub fn resolve_trusted(
        &self,
        name: &str,
        req: &VersionReq,
        policy: &TrustPolicy,
    ) -> Result<VersionEntry, Error> {
        let listing = self.versions(name)?;
        listing
            .versions
            .into_iter()
            .filter(|v| {
                !v.yanked
                    && v.approval.is_some()
                    && req.matches(&v.version)
                    && !policy.revoked.contains(&v.manifest_digest)
            })
            .max_by(|a, b| a.version.cmp(&b.version))
            .ok_or_else(|| Error::NoMatchingVersion {
                name: name.to_owned(),
                req: req.to_string(),
            })
    }

    /// Fetches `name@version` into `dest` (a new directory), verifying everything as it goes
    /// (see [`install`]). A yanked version is refused (`version_yanked`): this is for new
    /// installs; an existing install is re-checked with
    /// [`verify_installed`](crate::verify_installed).
    pub fn fetch_verified(
        &self,
        name: &str,
        version: &semver::Version,
        policy: &TrustPolicy,
        dest: &Path,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<VerifiedBundle, Error> {
        let listing = self.versions(name)?;
        let entry = listing
            .versions
            .iter()
            .find(|v| &v.version == version)
            .ok_or_else(|| Error::ApprovalMissing {
                name: name.to_owned(),
                version: version.to_string(),
            })?;
        if entry.yanked {
            return Err(Error::VersionYanked {
                name: name.to_owned(),
                version: version.to_string(),
            });
        }
        let version = version.to_string();
        let pins = Pins {
            name,
            version: &version,
            manifest_digest: &entry.manifest_digest,
            signature: &entry.signature,
            approval: entry.approval.as_ref(),
        };
        install(self, &pins, policy, &self.limits, dest, progress)
    }

    /// Fetches a locked version again (for a fresh checkout): the listing must still hold it
    /// with the pinned digest, yanked or not (`locked_version_missing` otherwise).
    pub fn fetch_locked(
        &self,
        lock: &crate::LockEntry,
        policy: &TrustPolicy,
        dest: &Path,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<VerifiedBundle, Error> {
        let listing = self.versions(&lock.name)?;
        let missing = |reason: &str| Error::LockedVersionMissing {
            name: lock.name.clone(),
            version: lock.version.to_string(),
            reason: reason.to_owned(),
        };
        let entry = listing
            .versions
            .iter()
            .find(|v| v.version == lock.version)
            .ok_or_else(|| missing("the registry does not list it"))?;
        if entry.manifest_digest != lock.manifest_digest {
            return Err(Error::ManifestDigestMismatch {
                expected: lock.manifest_digest.clone(),
                actual: entry.manifest_digest.clone(),
            });
        }
        let version = lock.version.to_string();
        let pins = Pins {
            name: &lock.name,
            version: &version,
            manifest_digest: &lock.manifest_digest,
            signature: &entry.signature,
            approval: entry.approval.as_ref(),
        };
        install(self, &pins, policy, &self.limits, dest, progress)
    }

    /// The registry's revocation list, verified with `operators`; `seen` is the highest serial
    /// applied before (a lower one is `revocation_rollback`). A registry without a list
    /// answers an empty list with serial 0.
    pub fn fetch_revocations(
        &self,
        operators: &KeyRing,
        seen: Option<u64>,
    ) -> Result<RevocationList, Error> {
        match self.get_json::<Option<SignedRevocationList>>("/stockade/v1/revocations")? {
            Some(signed) => Ok(signed.verify(operators, seen)?.clone()),
            None if seen.is_some_and(|s| s > 0) => Err(Error::RevocationRollback {
                got: 0,
                seen: seen.unwrap_or(0),
            }),
            None => Ok(RevocationList::default()),
        }
    }

    /// Uploads every blob, then the manifest and its publisher signature (publish token).
    /// Publishing the same bytes again is accepted; different bytes for a published version
    /// are `version_immutable`.
    pub fn publish(
        &self,
        packed: &PackedBundle,
        signature: &Signature,
    ) -> Result<PublishResponse, Error> {
        let name = packed.bundle.bundle.name.as_str();
        for (digest, bytes) in packed.blobs() {
            self.upload_blob(name, digest, bytes)?;
        }
        self.publish_manifest(packed, signature)
    }

    /// The last step of [`RegistryClient::publish`], once every blob is uploaded: the manifest
    /// and its publisher signature.
    pub fn publish_manifest(
        &self,
        packed: &PackedBundle,
        signature: &Signature,
    ) -> Result<PublishResponse, Error> {
        let name = packed.bundle.bundle.name.as_str();
        let body = PublishRequest {
            manifest: BASE64.encode(&packed.manifest_bytes),
            signature: signature.clone(),
        };
        let path = format!(
            "/stockade/v1/bundles/{name}/versions/{}",
            packed.bundle.bundle.version
        );
        let bytes = self.send("PUT", &path, "application/json", &json(&body)?)?;
        serde_json::from_slice(&bytes).map_err(|err| Error::invalid("document", err.to_string()))
    }

    /// Uploads one blob (OCI monolithic `POST /v2/<name>/blobs/uploads/?digest=`).
    pub fn upload_blob(&self, name: &str, digest: &Digest, bytes: &[u8]) -> Result<(), Error> {
        let path = format!("/v2/{name}/blobs/uploads/?digest={digest}");
        self.send("POST", &path, "application/octet-stream", bytes)
            .map(|_| ())
    }

    /// Submits an operator approval (admin token).
    pub fn approve(&self, approval: &SignedApproval) -> Result<(), Error> {
        let a = &approval.approval;
        let path = format!(
            "/stockade/v1/bundles/{}/versions/{}/approval",
            a.name, a.version
        );
        self.send("PUT", &path, "application/json", &json(approval)?)
            .map(|_| ())
    }

    /// Yanks a version (admin token).
    pub fn yank(&self, name: &str, version: &semver::Version) -> Result<(), Error> {
        let path = format!("/stockade/v1/bundles/{name}/versions/{version}/yank");
        self.send("POST", &path, "application/json", b"{}")
            .map(|_| ())
    }

    /// Replaces the revocation list (admin token; the serial must grow).
    pub fn put_revocations(&self, list: &SignedRevocationList) -> Result<(), Error> {
        self.send(
            "PUT",
            "/stockade/v1/revocations",
            "application/json",
            &json(list)?,
        )
        .map(|_| ())
    }
}

impl BlobSource for RegistryClient {
    fn manifest(&self, name: &str, digest: &Digest, limit: u64) -> Result<Vec<u8>, Error> {
        let response = self.get(
            &format!("/v2/{name}/manifests/{digest}"),
            MANIFEST_MEDIA_TYPE,
        )?;
        read_limited(response, limit, "manifest")
    }

    fn blob(&self, name: &str, digest: &Digest) -> Result<Box<dyn Read + '_>, Error> {
        let response = self.get(&format!("/v2/{name}/blobs/{digest}"), "*/*")?;
        Ok(Box::new(response.into_body().into_reader()))
    }
}

/// Resolves `req` at the registry at `url`, then fetches and verifies the chosen version into
/// `dest_root/<name>/<version>`. What `stockade bundle install NAME@REQ` needs in one call.
pub fn install_from_url(
    url: &str,
    name: &str,
    req: &VersionReq,
    policy: &TrustPolicy,
    dest_root: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<VerifiedBundle, Error> {
    let client = RegistryClient::new(url)?;
    let entry = client.resolve_trusted(name, req, policy)?;
    progress(Progress::Resolved {
        name: name.to_owned(),
        version: entry.version.to_string(),
    });
    let dest = dest_root.join(name).join(entry.version.to_string());
    client.fetch_verified(name, &entry.version, policy, &dest, progress)
}

fn json(value: &impl serde::Serialize) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|err| Error::invalid("document", err.to_string()))
}

fn read_limited(
    response: ureq::http::Response<ureq::Body>,
    limit: u64,
    what: &str,
) -> Result<Vec<u8>, Error> {
    let mut bytes = Vec::new();
    response
        .into_body()
        .into_reader()
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| Error::Transport(format!("reading {what}: {err}")))?;
    if bytes.len() as u64 > limit {
        return Err(Error::BlobTooLarge {
            what: what.to_owned(),
            limit,
        });
    }
    Ok(bytes)
}

/// Passes 2xx through; turns an error status into the registry's error code. Codes that name
/// a crate error come back as that error, so a 409 `version_immutable` is
/// [`Error::VersionImmutable`].
fn check_status(
    response: ureq::http::Response<ureq::Body>,
) -> Result<ureq::http::Response<ureq::Body>, Error> {
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(response);
    }
    let body = read_limited(response, 64 << 10, "error body").unwrap_or_default();
    let (code, message) = match serde_json::from_slice::<ErrorBody>(&body) {
        Ok(ErrorBody { mut errors }) if !errors.is_empty() => {
            let item = errors.remove(0);
            (item.code, item.message)
        }
        _ => (
            format!("http_{status}"),
            String::from_utf8_lossy(&body).chars().take(200).collect(),
        ),
    };
    Err(match code.as_str() {
        "version_immutable" => Error::VersionImmutable {
            name: String::new(),
            version: message,
        },
        "compressed_layer" => Error::CompressedLayer {
            what: message,
            format: "reported by the registry",
        },
        "blob_too_large" => Error::BlobTooLarge {
            what: message,
            limit: 0,
        },
        _ => Error::Registry {
            status,
            code,
            message,
        },
    })
}
