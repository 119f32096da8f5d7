//! The backup file itself: writing it atomically, and reading it back without trusting it.
//!
//! Reading never unpacks: entries are taken one at a time and each must be the regular file
//! expected at that position, by exact name, under its size cap. So an absolute name, a `..`,
//! a link or a device is refused by construction, not by a list of bad spellings.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::{
    BACKUP_FORMAT_VERSION, BackupError, BackupManifest, DATABASE_FILE, FORMAT_NAME, MANIFEST_FILE,
    MAX_DATABASE_BYTES, RemoveOnDrop, sibling, sync_dir,
};

/// The largest `manifest.json` accepted; a real one is a few hundred bytes.
const MAX_MANIFEST_BYTES: u64 = 64 << 10;

/// Writes `manifest` and the database file `database` as a backup at `dest`, through
/// `<dest>.tmp-<pid>`, flushed and renamed into place. Returns the file's length and SHA-256.
///
/// The database is hashed again as it is copied in; if it no longer matches the manifest
/// (something changed the snapshot since it was hashed), nothing is written.
pub(super) fn write(
    database: &Path,
    manifest: &BackupManifest,
    dest: &Path,
    force: bool,
) -> Result<(u64, String), BackupError> {
    let expected = manifest
        .database()
        .ok_or_else(|| BackupError::corrupt(format!("the manifest lists no {DATABASE_FILE}")))?;
    let tmp = sibling(dest, &format!("tmp-{}", std::process::id()));
    let _cleanup = RemoveOnDrop::file(&tmp);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(BackupError::io("create", &tmp))?;
    let out = HashingWriter::new(BufWriter::new(file));
    let mut builder = tar::Builder::new(out);
    let mtime = u64::try_from(super::unix_seconds()).unwrap_or(0);

    let manifest_json = serde_json::to_vec_pretty(manifest)
        .map_err(|e| BackupError::io("encode", dest)(io::Error::other(e)))?;
    let header = entry_header(MANIFEST_FILE, manifest_json.len() as u64, mtime);
    builder
        .append(&header, manifest_json.as_slice())
        .map_err(BackupError::io("write", &tmp))?;

    let db_file = File::open(database).map_err(BackupError::io("open", database))?;
    let mut db_reader = HashingReader::new(BufReader::new(db_file));
    let header = entry_header(DATABASE_FILE, expected.bytes, mtime);
    // `append` copies at most `expected.bytes`; a shorter file is caught by the count below.
    builder
        .append(&header, (&mut db_reader).take(expected.bytes))
        .map_err(BackupError::io("write", &tmp))?;
    let extra = db_reader
        .read(&mut [0u8; 1])
        .map_err(BackupError::io("read", database))?;
    let (copied, sha256) = db_reader.finish();
    if extra != 0 || copied != expected.bytes || sha256 != expected.sha256 {
        return Err(BackupError::Mismatch {
            what: "snapshot changed while being written: stockade.db sha256",
            expected: expected.sha256.clone(),
            found: sha256,
        });
    }

    let out = builder
        .into_inner()
        .map_err(BackupError::io("write", &tmp))?;
    let (writer, bytes, sha256) = out.finish();
    let file = writer
        .into_inner()
        .map_err(|e| BackupError::io("write", &tmp)(e.into_error()))?;
    file.sync_all().map_err(BackupError::io("sync", &tmp))?;
    drop(file);

    if !force && dest.symlink_metadata().is_ok() {
        return Err(BackupError::Exists {
            path: dest.to_path_buf(),
        });
    }
    std::fs::rename(&tmp, dest).map_err(BackupError::io("rename into place", dest))?;
    sync_dir(dest.parent().unwrap_or(Path::new(".")))?;
    Ok((bytes, sha256))
}

fn entry_header(name: &str, size: u64, mtime: u64) -> tar::Header {
    // GNU rather than ustar: it can carry sizes past ustar's 8 GiB limit.
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    // Both names are short constants, so this cannot fail; `as_old_mut` avoids the Result.
    let field = &mut header.as_old_mut().name;
    field[..name.len()].copy_from_slice(name.as_bytes());
    header.set_size(size);
    header.set_mode(0o600);
    header.set_mtime(mtime);
    header.set_uid(0);
    header.set_gid(0);
    header.set_cksum();
    header
}

/// Reads the backup at `archive`, writing its database to `<into>/stockade.db`, and returns the
/// manifest once every check passed: exactly `manifest.json` then `stockade.db`, both regular
/// files with plain names and sizes under their caps, a manifest of a known format version
/// that lists exactly `stockade.db`, and a copy whose length and SHA-256 match it.
pub(super) fn extract(archive: &Path, into: &Path) -> Result<BackupManifest, BackupError> {
    let file = File::open(archive).map_err(BackupError::io("open", archive))?;
    let mut tar = tar::Archive::new(BufReader::new(file));
    let mut entries = tar
        .entries()
        .map_err(|e| BackupError::corrupt(format!("not a readable tar archive: {e}")))?;

    let mut entry = next_entry(&mut entries, MANIFEST_FILE, MAX_MANIFEST_BYTES)?;
    let mut text = Vec::new();
    (&mut entry)
        .take(MAX_MANIFEST_BYTES)
        .read_to_end(&mut text)
        .map_err(|e| BackupError::corrupt(format!("{MANIFEST_FILE} is unreadable: {e}")))?;
    let manifest = parse_manifest(&text)?;
    let expected = manifest
        .database()
        .cloned()
        .ok_or_else(|| BackupError::corrupt(format!("the manifest lists no {DATABASE_FILE}")))?;

    let mut entry = next_entry(&mut entries, DATABASE_FILE, MAX_DATABASE_BYTES)?;
    if entry.size() != expected.bytes {
        return Err(BackupError::Mismatch {
            what: "stockade.db length",
            expected: expected.bytes.to_string(),
            found: entry.size().to_string(),
        });
    }
    let path = into.join(DATABASE_FILE);
    let out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(BackupError::io("create", &path))?;
    let mut out = HashingWriter::new(BufWriter::new(out));
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = entry
            .read(&mut buf)
            .map_err(|e| BackupError::corrupt(format!("{DATABASE_FILE} is unreadable: {e}")))?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])
            .map_err(BackupError::io("write", &path))?;
    }
    let (writer, bytes, sha256) = out.finish();
    if bytes != expected.bytes {
        return Err(BackupError::corrupt(format!(
            "truncated: {DATABASE_FILE} has {bytes} of its {} bytes",
            expected.bytes
        )));
    }
    if sha256 != expected.sha256 {
        return Err(BackupError::Mismatch {
            what: "stockade.db sha256",
            expected: expected.sha256,
            found: sha256,
        });
    }
    let file = writer
        .into_inner()
        .map_err(|e| BackupError::io("write", &path)(e.into_error()))?;
    file.sync_all().map_err(BackupError::io("sync", &path))?;

    match entries.next() {
        None => Ok(manifest),
        Some(Ok(extra)) => Err(BackupError::corrupt(format!(
            "unexpected entry {} after {DATABASE_FILE}",
            shown_name(&extra.path_bytes())
        ))),
        Some(Err(e)) => Err(BackupError::corrupt(format!(
            "unreadable data after {DATABASE_FILE}: {e}"
        ))),
    }
}

/// The next entry, which must be the regular file `name` of at most `max` bytes.
fn next_entry<'a, R: Read>(
    entries: &mut tar::Entries<'a, R>,
    name: &str,
    max: u64,
) -> Result<tar::Entry<'a, R>, BackupError> {
    let entry = match entries.next() {
        None => {
            return Err(BackupError::corrupt(format!(
                "the archive ends before {name}"
            )));
        }
        Some(Err(e)) => {
            return Err(BackupError::corrupt(format!(
                "unreadable tar header where {name} belongs: {e}"
            )));
        }
        Some(Ok(entry)) => entry,
    };
    let raw = entry.path_bytes().into_owned();
    let shown = shown_name(&raw);
    if raw.starts_with(b"/") || raw.split(|b| *b == b'/').any(|part| part == b"..") {
        return Err(BackupError::corrupt(format!(
            "entry {shown} points outside the archive (absolute or `..`)"
        )));
    }
    let kind = entry.header().entry_type();
    if !kind.is_file() {
        return Err(BackupError::corrupt(format!(
            "entry {shown} is a {}, not a regular file",
            kind_name(kind)
        )));
    }
    if raw != name.as_bytes() {
        return Err(BackupError::corrupt(format!(
            "unexpected entry {shown} where {name} belongs"
        )));
    }
    if entry.size() > max {
        return Err(BackupError::corrupt(format!(
            "{name} is {} bytes, over the {max}-byte cap",
            entry.size()
        )));
    }
    Ok(entry)
}

fn parse_manifest(text: &[u8]) -> Result<BackupManifest, BackupError> {
    let value: serde_json::Value = serde_json::from_slice(text)
        .map_err(|e| BackupError::corrupt(format!("{MANIFEST_FILE} is not JSON: {e}")))?;
    if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT_NAME) {
        return Err(BackupError::corrupt(format!(
            "{MANIFEST_FILE} is not a Stockade backup manifest (no \"format\": \"{FORMAT_NAME}\")"
        )));
    }
    // The version is read before the rest, so a future format is "unsupported", not "corrupt".
    match value.get("format_version").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(BACKUP_FORMAT_VERSION) => {}
        Some(v) => {
            return Err(BackupError::Unsupported {
                reason: format!(
                    "backup format version {v}; this stockade reads version \
                     {BACKUP_FORMAT_VERSION}"
                ),
            });
        }
        None => {
            return Err(BackupError::corrupt(format!(
                "{MANIFEST_FILE} has no format_version"
            )));
        }
    }
    let manifest: BackupManifest = serde_json::from_value(value)
        .map_err(|e| BackupError::corrupt(format!("{MANIFEST_FILE}: {e}")))?;
    let [entry] = manifest.files.as_slice() else {
        return Err(BackupError::corrupt(format!(
            "{MANIFEST_FILE} lists {} files; a backup holds exactly {DATABASE_FILE}",
            manifest.files.len()
        )));
    };
    if entry.name != DATABASE_FILE {
        return Err(BackupError::corrupt(format!(
            "{MANIFEST_FILE} lists {:?}; a backup holds exactly {DATABASE_FILE}",
            entry.name
        )));
    }
    let hex_ok = entry.sha256.len() == 64
        && entry
            .sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !hex_ok {
        return Err(BackupError::corrupt(format!(
            "{MANIFEST_FILE}: sha256 of {DATABASE_FILE} is not 64 lowercase hex digits"
        )));
    }
    if entry.bytes > MAX_DATABASE_BYTES {
        return Err(BackupError::corrupt(format!(
            "{MANIFEST_FILE}: {DATABASE_FILE} is {} bytes, over the {MAX_DATABASE_BYTES}-byte cap",
            entry.bytes
        )));
    }
    Ok(manifest)
}

/// An entry name for an error message: escaped, and cut short.
fn shown_name(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(&raw[..raw.len().min(200)]);
    format!("{text:?}")
}

fn kind_name(kind: tar::EntryType) -> &'static str {
    match kind {
        tar::EntryType::Symlink => "symlink",
        tar::EntryType::Link => "hard link",
        tar::EntryType::Directory => "directory",
        tar::EntryType::Char | tar::EntryType::Block => "device",
        tar::EntryType::Fifo => "fifo",
        _ => "special entry",
    }
}

/// Counts and hashes what passes through to a writer.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    fn finish(self) -> (W, u64, String) {
        (self.inner, self.bytes, hex::encode(self.hasher.finalize()))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Counts and hashes what is read through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    fn finish(self) -> (u64, String) {
        (self.bytes, hex::encode(self.hasher.finalize()))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest_json(version: u32, files: &str) -> String {
        format!(
            r#"{{"format":"stockade-backup","format_version":{version},
            "created_at":"2025-01-01T00:00:00Z","stockade_version":"0.1.0","schema_version":4,
            "chain_head":{{"seq":0,"hash":"00"}},"files":{files}}}"#
        )
    }

    #[test]
    fn manifests_refused() {
        let sha = "a".repeat(64);
        let db = format!(r#"[{{"name":"stockade.db","sha256":"{sha}","bytes":10}}]"#);
        assert!(parse_manifest(manifest_json(1, &db).as_bytes()).is_ok());
        let cases = [
            ("not json", "{".to_owned(), "backup_corrupt"),
            (
                "no format",
                r#"{"format_version":1}"#.to_owned(),
                "backup_corrupt",
            ),
            (
                "future version",
                manifest_json(2, &db),
                "backup_unsupported",
            ),
            ("no files", manifest_json(1, "[]"), "backup_corrupt"),
            (
                "two files",
                manifest_json(
                    1,
                    &format!(
                        r#"[{{"name":"stockade.db","sha256":"{sha}","bytes":1}},
                        {{"name":"cache.key","sha256":"{sha}","bytes":1}}]"#
                    ),
                ),
                "backup_corrupt",
            ),
            (
                "other name",
                manifest_json(
                    1,
                    &format!(r#"[{{"name":"../stockade.db","sha256":"{sha}","bytes":1}}]"#),
                ),
                "backup_corrupt",
            ),
            (
                "bad hash",
                manifest_json(1, r#"[{"name":"stockade.db","sha256":"XYZ","bytes":1}]"#),
                "backup_corrupt",
            ),
            (
                "over the cap",
                manifest_json(
                    1,
                    &format!(
                        r#"[{{"name":"stockade.db","sha256":"{sha}","bytes":{}}}]"#,
                        MAX_DATABASE_BYTES + 1
                    ),
                ),
                "backup_corrupt",
            ),
        ];
        for (name, text, code) in cases {
            let err = parse_manifest(text.as_bytes()).err();
            assert_eq!(
                err.as_ref().map(BackupError::code),
                Some(code),
                "{name}: {err:?}"
            );
        }
    }

    /// An archive of `(name, type, data)` entries with names written raw, as an attacker would.
    fn archive(entries: &[(&[u8], tar::EntryType, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, kind, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.as_old_mut().name[..name.len()].copy_from_slice(name);
            header.set_entry_type(*kind);
            header.set_size(data.len() as u64);
            header.set_mode(0o600);
            header.set_cksum();
            builder
                .append(&header, *data)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        builder.into_inner().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn entries_refused() {
        let db = b"0123456789";
        let sha = hex::encode(Sha256::digest(db));
        let manifest = manifest_json(
            1,
            &format!(r#"[{{"name":"stockade.db","sha256":"{sha}","bytes":10}}]"#),
        );
        let m = manifest.as_bytes();
        let reg = tar::EntryType::Regular;
        let good = archive(&[(b"manifest.json", reg, m), (b"stockade.db", reg, db)]);
        let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
            ("well formed", good.clone(), "", ""),
            ("empty", Vec::new(), "backup_corrupt", "ends before"),
            (
                "truncated",
                good[..good.len() / 2].to_vec(),
                "backup_corrupt",
                "",
            ),
            (
                "database first",
                archive(&[(b"stockade.db", reg, db), (b"manifest.json", reg, m)]),
                "backup_corrupt",
                "unexpected entry",
            ),
            (
                "traversal first",
                archive(&[(b"../evil", reg, b"x"), (b"manifest.json", reg, m)]),
                "backup_corrupt",
                "outside the archive",
            ),
            (
                "absolute name",
                archive(&[(b"/etc/evil", reg, b"x")]),
                "backup_corrupt",
                "outside the archive",
            ),
            (
                "traversal after",
                archive(&[
                    (b"manifest.json", reg, m),
                    (b"stockade.db", reg, db),
                    (b"../evil", reg, b"x"),
                ]),
                "backup_corrupt",
                "unexpected entry",
            ),
            (
                "extra entry",
                archive(&[
                    (b"manifest.json", reg, m),
                    (b"stockade.db", reg, db),
                    (b"cache.key", reg, b"x"),
                ]),
                "backup_corrupt",
                "unexpected entry \"cache.key\"",
            ),
            (
                "symlink database",
                archive(&[
                    (b"manifest.json", reg, m),
                    (b"stockade.db", tar::EntryType::Symlink, b""),
                ]),
                "backup_corrupt",
                "symlink",
            ),
            (
                "flipped byte",
                archive(&[
                    (b"manifest.json", reg, m),
                    (b"stockade.db", reg, b"0123456780"),
                ]),
                "backup_mismatch",
                "sha256",
            ),
            (
                "shorter database",
                archive(&[
                    (b"manifest.json", reg, m),
                    (b"stockade.db", reg, b"012345678"),
                ]),
                "backup_mismatch",
                "length",
            ),
        ];
        for (name, bytes, code, text) in cases {
            let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            let file = dir.path().join("b.tar");
            std::fs::write(&file, &bytes).unwrap_or_else(|e| panic!("{e}"));
            let into = dir.path().join("into");
            std::fs::create_dir(&into).unwrap_or_else(|e| panic!("{e}"));
            match extract(&file, &into) {
                Ok(_) => assert_eq!(code, "", "{name}: accepted"),
                Err(err) => {
                    assert_eq!(err.code(), code, "{name}: {err}");
                    assert!(err.to_string().contains(text), "{name}: {err}");
                }
            }
            assert!(!dir.path().join("evil").exists(), "{name}");
        }
    }
}
