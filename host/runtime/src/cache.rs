//! The on-disk cache of compiled components: the one module allowed `unsafe`, because loading
//! precompiled machine code is only sound for bytes this host produced.
//!
//! A cache file is `MAGIC || HMAC-SHA256(key, component sha256 || engine hash || body) || body`,
//! named `<component sha256>-<engine hash>.cwasm`. The key is 32 random bytes created on first
//! use (`cache.key`, mode 0600). A file whose tag does not verify — corrupt, truncated, written
//! by another engine configuration or tampered with — is deleted and the component recompiled.
//! The tag is checked on the in-memory bytes that are then deserialized, so nothing can change
//! between the check and the load.

#![allow(unsafe_code)]

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

const MAGIC: &[u8; 16] = b"stockade-cwasm-1";
const TAG_LEN: usize = 32;
const KEY_FILE: &str = "cache.key";

/// Where a component's compiled code came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheOutcome {
    /// No cache is configured; compiled now.
    Disabled,
    /// Loaded from a verified cache file.
    Hit,
    /// Not in the cache; compiled now and stored.
    Miss,
    /// A cache file existed but was rejected (the reason), so it was compiled again.
    Rejected(String),
}

/// A cache directory bound to one engine configuration.
#[derive(Clone)]
pub(crate) struct ComponentCache {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    key: [u8; 32],
    engine_hash: String,
}

impl ComponentCache {
    /// Opens (creating if needed) the cache directory and its key.
    pub(crate) fn open(engine: &Engine, dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let key = load_or_create_key(&dir.join(KEY_FILE))?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(Self {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                key,
                engine_hash: format!("{:016x}", hasher.finish()),
            }),
        })
    }

    fn path_for(&self, sha256: &[u8; 32]) -> PathBuf {
        self.inner.dir.join(format!(
            "{}-{}.cwasm",
            hex::encode(sha256),
            self.inner.engine_hash
        ))
    }

    fn tag(&self, sha256: &[u8; 32], body: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.inner.key)
            .expect("HMAC accepts any key length");
        mac.update(sha256);
        mac.update(self.inner.engine_hash.as_bytes());
        mac.update(body);
        mac
    }

    /// Loads the verified compiled code for `sha256`, or says why there is none.
    fn load(&self, engine: &Engine, sha256: &[u8; 32]) -> Result<Option<Component>, String> {
        let path = self.path_for(sha256);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(format!("unreadable: {err}")),
        };
        let body = bytes
            .strip_prefix(MAGIC.as_slice())
            .filter(|rest| rest.len() > TAG_LEN)
            .ok_or("not a Stockade cache file")?;
        let (tag, body) = body.split_at(TAG_LEN);
        self.tag(sha256, body)
            .verify_slice(tag)
            .map_err(|_| "integrity tag does not verify".to_owned())?;
        // SAFETY: `body` is exactly what `store` wrote after `Component::serialize` on an engine
        // with the same compatibility hash: the HMAC under this host's secret key proves it.
        // Wasmtime additionally checks its version and configuration header.
        let component = unsafe { Component::deserialize(engine, body) }
            .map_err(|err| format!("rejected by wasmtime: {err}"))?;
        Ok(Some(component))
    }

    /// Writes the compiled code atomically (temporary file, fsync, rename).
    fn store(&self, sha256: &[u8; 32], component: &Component) -> io::Result<()> {
        let body = component.serialize().map_err(io::Error::other)?;
        let tag = self.tag(sha256, &body).finalize().into_bytes();
        let path = self.path_for(sha256);
        let mut tmp = tempfile::NamedTempFile::new_in(&self.inner.dir)?;
        tmp.write_all(MAGIC)?;
        tmp.write_all(&tag)?;
        tmp.write_all(&body)?;
        tmp.as_file().sync_all()?;
        tmp.persist(&path).map_err(|err| err.error)?;
        Ok(())
    }
}

/// Compiles `wasm`, going through the cache when there is one. Cache write failures are logged
/// and do not fail the load: the compiled component is still correct.
pub(crate) fn compile_or_load(
    engine: &Engine,
    cache: Option<&ComponentCache>,
    wasm: &[u8],
) -> Result<(Component, [u8; 32], CacheOutcome), String> {
    let sha256: [u8; 32] = Sha256::digest(wasm).into();
    let Some(cache) = cache else {
        return Ok((compile(engine, wasm)?, sha256, CacheOutcome::Disabled));
    };
    let outcome = match cache.load(engine, &sha256) {
        Ok(Some(component)) => return Ok((component, sha256, CacheOutcome::Hit)),
        Ok(None) => CacheOutcome::Miss,
        Err(reason) => {
            let path = cache.path_for(&sha256);
            tracing::warn!(path = %path.display(), %reason, "rejecting compiled-component cache file");
            let _ = fs::remove_file(&path);
            CacheOutcome::Rejected(reason)
        }
    };
    let component = compile(engine, wasm)?;
    if let Err(err) = cache.store(&sha256, &component) {
        tracing::warn!(dir = %cache.inner.dir.display(), %err, "cannot write compiled-component cache");
    }
    Ok((component, sha256, outcome))
}

fn compile(engine: &Engine, wasm: &[u8]) -> Result<Component, String> {
    Component::from_binary(engine, wasm).map_err(|err| format!("{err:#}"))
}

fn load_or_create_key(path: &Path) -> io::Result<[u8; 32]> {
    use std::os::unix::fs::OpenOptionsExt;
    match fs::read(path) {
        Ok(bytes) if bytes.len() == 32 => {
            let mut key = [0; 32];
            key.copy_from_slice(&bytes);
            return Ok(key);
        }
        Ok(_) => {
            // A damaged key only invalidates cached code; replace it.
            tracing::warn!(path = %path.display(), "cache key has the wrong length; creating a new one");
            fs::remove_file(path)?;
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|err| io::Error::other(err.to_string()))?;
    let created = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match created {
        Ok(mut file) => {
            file.write_all(&key)?;
            file.sync_all()?;
            Ok(key)
        }
        // Another process created it first: use theirs.
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => load_or_create_key(path),
        Err(err) => Err(err),
    }
}
