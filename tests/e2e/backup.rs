//! `stockade backup` and `stockade restore` against real servers: a backup taken during a burst
//! of writes restores into a server that has the data and a log that verifies; every hostile or
//! damaged backup is refused with its code and leaves the target data directory byte for byte
//! as it was; a restore never leaves a stale WAL behind; a backup holds the database and nothing
//! else from the data directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{Connection, SqliteConnection};

use crate::operator::{Operator, project_with_fs};
use crate::server::TestServer;
use crate::{stderr, stdout, stockade};

/// `(name, data)` of every entry of a tar archive, in order.
fn entries(archive: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut tar = tar::Archive::new(archive);
    tar.entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            (name, data)
        })
        .collect()
}

/// A tar archive of `(name, type, data)`, names written raw into the header as an attacker
/// would (the tar crate's own path setter refuses `..`).
fn archive(parts: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, kind, data) in parts {
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_entry_type(*kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o600);
        header.set_cksum();
        builder.append(&header, *data).unwrap();
    }
    builder.into_inner().unwrap()
}

/// A backup rebuilt from a manifest and database bytes, regular files in the right order.
fn backup_of(manifest: &Value, db: &[u8]) -> Vec<u8> {
    let manifest = serde_json::to_vec_pretty(manifest).unwrap();
    archive(&[
        ("manifest.json", FILE, &manifest),
        ("stockade.db", FILE, db),
    ])
}

/// `manifest` describing `db` as it now is: what a careful forger would write.
fn rehashed(manifest: &Value, db: &[u8]) -> Value {
    let mut manifest = manifest.clone();
    manifest["files"][0]["sha256"] = Value::from(sha256(db));
    manifest["files"][0]["bytes"] = Value::from(db.len());
    manifest
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Every file under `dir` with its bytes, by path relative to `dir`.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                files.insert(path.strip_prefix(dir).unwrap().to_path_buf(), bytes);
            }
        }
    }
    files
}

/// The `SEQ:HASH` after `label` on a line of a command's stdout.
fn head_after(out: &Output, label: &str) -> String {
    let text = stdout(out);
    text.lines()
        .find_map(|line| line.split_once(label).map(|(_, rest)| rest))
        .map(|rest| {
            rest.split_whitespace()
                .next()
                .unwrap_or("")
                .trim_matches('`')
                .to_owned()
        })
        .unwrap_or_else(|| panic!("no {label:?} in {text}"))
}

fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {:?}\nstdout: {}\nstderr: {}",
        out.status,
        stdout(out),
        stderr(out)
    );
}

/// Creates users, as fast as the CLI allows, until told to stop: writes to `users`, `tokens`
/// and the event log while a backup runs. Returns the users' API tokens.
fn burst(server: &TestServer, token: String, stop: std::sync::mpsc::Receiver<()>) -> Vec<String> {
    let op = Operator::at(format!("http://{}", server.addr), Some(token));
    let mut tokens = Vec::new();
    while stop.try_recv().is_err() && tokens.len() < 200 {
        let name = format!("burst{}", tokens.len());
        tokens.push(op.ok(&["user", "create", &name]).trim().to_owned());
    }
    tokens
}

#[test]
fn backup_during_a_burst_of_writes_restores_into_a_server_that_has_the_data() {
    let server = TestServer::start(&[]);
    let token = server.admin_token();
    let op = Operator::new(&server, Some(token.clone()));
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.txt"), "a").unwrap();
    project_with_fs(&op, "kept", root.path());
    op.ok(&[
        "call",
        "-p",
        "kept",
        "--agent",
        "editor",
        "fs.write_file",
        "--input",
        r#"{"path":"b.txt","content":"b"}"#,
    ]);

    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("live.tar");
    let (stop, stopped) = std::sync::mpsc::channel();
    let (out, tokens) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| burst(&server, token.clone(), stopped));
        // Let the burst get going, so the snapshot is taken among writes.
        std::thread::sleep(std::time::Duration::from_millis(300));
        let out = stockade(server.data.path(), &["backup", file.to_str().unwrap()]);
        let _ = stop.send(());
        (out, writer.join().unwrap())
    });
    assert_ok(&out, "backup of a live server");
    assert!(!tokens.is_empty(), "the burst made no writes");
    for step in ["backup: snapshot: ", "backup: check: ", "backup: write: "] {
        assert!(stderr(&out).contains(step), "{step:?} in {}", stderr(&out));
    }
    let head = head_after(&out, "chain head: ");

    // The archive: the manifest, then the database it describes, and nothing else.
    let bytes = std::fs::read(&file).unwrap();
    let parts = entries(&bytes);
    let names: Vec<&str> = parts.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["manifest.json", "stockade.db"]);
    let manifest: Value = serde_json::from_slice(&parts[0].1).unwrap();
    let db = &parts[1].1;
    assert_eq!(manifest["format_version"], 1);
    assert_eq!(manifest["files"][0]["name"], "stockade.db");
    assert_eq!(manifest["files"][0]["sha256"], sha256(db).as_str());
    assert_eq!(manifest["files"][0]["bytes"], db.len());
    let chain = &manifest["chain_head"];
    assert_eq!(
        format!("{}:{}", chain["seq"], chain["hash"].as_str().unwrap()),
        head
    );
    assert!(stdout(&out).contains(&sha256(&bytes)), "{}", stdout(&out));

    // Restore into a fresh data directory and serve it.
    let fresh = tempfile::tempdir().unwrap();
    let out = stockade(fresh.path(), &["restore", file.to_str().unwrap()]);
    assert_ok(&out, "restore into a fresh data directory");
    assert!(stdout(&out).contains("restored "), "{}", stdout(&out));
    // It says what to run next, with the head to expect.
    assert!(stdout(&out).contains("same master key"), "{}", stdout(&out));
    assert_eq!(head_after(&out, "audit verify --expect-head "), head);
    let names: Vec<PathBuf> = tree(fresh.path()).into_keys().collect();
    assert_eq!(names, [PathBuf::from("stockade.db")]);
    server.stop();

    let restored = TestServer::start_in(fresh, "127.0.0.1:0", &[]);
    // The old admin token works: tokens, users and projects came back.
    let op = Operator::new(&restored, Some(token));
    assert!(op.ok(&["project", "list"]).contains("kept"));
    // So does a user created by the burst before the snapshot.
    let burst0 = Operator::new(&restored, Some(tokens[0].clone()));
    burst0.ok(&["project", "list"]);
    op.ok(&[
        "call",
        "-p",
        "kept",
        "--agent",
        "editor",
        "fs.read_file",
        "--input",
        r#"{"path":"b.txt"}"#,
    ]);
    let out = stockade(
        restored.data.path(),
        &["audit", "verify", "--expect-head", &head],
    );
    assert_ok(&out, "audit verify after the restore");
    assert!(
        stdout(&out).contains("expected head: found"),
        "{}",
        stdout(&out)
    );
}

/// A backup of a stopped server's busy data directory: its bytes, manifest and database.
struct Good {
    archive: Vec<u8>,
    manifest: Value,
    db: Vec<u8>,
    _dir: tempfile::TempDir,
}

fn good_backup() -> Good {
    let server = TestServer::start(&[]);
    let op = Operator::new(&server, Some(server.admin_token()));
    for i in 0..5 {
        op.ok(&["user", "create", &format!("user{i}")]);
    }
    let (status, data) = server.stop_keeping_data();
    assert!(status.success(), "{status:?}");
    let file = data.path().join("good.tar");
    assert_ok(
        &stockade(data.path(), &["backup", file.to_str().unwrap()]),
        "backup",
    );
    let archive = std::fs::read(&file).unwrap();
    std::fs::remove_file(&file).unwrap();
    let mut parts = entries(&archive).into_iter();
    let manifest = serde_json::from_slice(&parts.next().unwrap().1).unwrap();
    let db = parts.next().unwrap().1;
    Good {
        archive,
        manifest,
        db,
        _dir: data,
    }
}

/// The database with the middle page overwritten by garbage: SQLite opens it (page 1, the
/// schema, is intact) but `integrity_check` does not pass.
fn garbage_page(db: &[u8]) -> Vec<u8> {
    let page_size = match u16::from_be_bytes([db[16], db[17]]) {
        1 => 65_536,
        size => usize::from(size),
    };
    let pages = db.len() / page_size;
    assert!(pages >= 4, "{pages} pages");
    let mut db = db.to_vec();
    let start = pages / 2 * page_size;
    for (i, byte) in db[start..start + page_size].iter_mut().enumerate() {
        *byte = (i * 7 + 13) as u8;
    }
    db
}

/// The database with one byte flipped in a key of the users' primary-key index: every page
/// still parses, but `integrity_check` finds a row missing from the index.
fn damaged_index(db: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("look.db");
    std::fs::write(&path, db).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let root: i64 = runtime.block_on(async {
        let url = format!("sqlite://{}", path.display());
        let mut conn = SqliteConnection::connect(&url).await.unwrap();
        let root = sqlx::query_scalar(
            "SELECT rootpage FROM sqlite_schema WHERE name = 'sqlite_autoindex_users_1'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
        root
    });
    let page_size = usize::from(u16::from_be_bytes([db[16], db[17]]));
    let mut db = db.to_vec();
    // Cell contents fill a page from its end: the last bytes are the tail of a key (an id's
    // lowercase hex digit; flipping 0x20 upper-cases it).
    let end = usize::try_from(root).unwrap() * page_size;
    db[end - 3] ^= 0x20;
    db
}

/// The database with an event's payload edited in place (append-only triggers dropped first,
/// as someone with the file would): its pages are sound, its hash chain is not.
fn edited_event(db: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edit.db");
    std::fs::write(&path, db).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let url = format!("sqlite://{}", path.display());
        let mut conn = SqliteConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(
            "DROP TRIGGER events_no_update; \
             UPDATE events SET payload = '{\"edited\":true}' WHERE seq = 2;",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
    });
    std::fs::read(&path).unwrap()
}

const FILE: tar::EntryType = tar::EntryType::Regular;

/// One hostile or damaged backup and how restore must refuse it.
struct Refusal {
    name: &'static str,
    archive: fn(&Good) -> Vec<u8>,
    force: bool,
    code: &'static str,
    says: &'static str,
}

#[test]
fn refused_restores_leave_the_data_dir_byte_identical() {
    let good = good_backup();
    let cases = [
        Refusal {
            name: "truncated tar",
            archive: |g| g.archive[..g.archive.len() / 2].to_vec(),
            force: true,
            code: "backup_corrupt",
            says: "truncated",
        },
        Refusal {
            name: "flipped byte in the database entry",
            archive: |g| {
                let mut db = g.db.clone();
                let middle = db.len() / 2;
                db[middle] ^= 0x01;
                backup_of(&g.manifest, &db)
            },
            force: true,
            code: "backup_mismatch",
            says: "stockade.db sha256",
        },
        Refusal {
            name: "manifest with an unknown format version",
            archive: |g| {
                let mut manifest = g.manifest.clone();
                manifest["format_version"] = Value::from(2);
                backup_of(&manifest, &g.db)
            },
            force: true,
            code: "backup_unsupported",
            says: "backup format version 2",
        },
        Refusal {
            name: "extra entry after the database",
            archive: |g| {
                let manifest = serde_json::to_vec(&g.manifest).unwrap();
                archive(&[
                    ("manifest.json", FILE, &manifest),
                    ("stockade.db", FILE, &g.db),
                    ("cache.key", FILE, b"0123456789abcdef"),
                ])
            },
            force: true,
            code: "backup_corrupt",
            says: "unexpected entry \"cache.key\"",
        },
        Refusal {
            name: "path traversal entry first",
            archive: |g| {
                let manifest = serde_json::to_vec(&g.manifest).unwrap();
                archive(&[
                    ("../evil", FILE, b"escaped"),
                    ("manifest.json", FILE, &manifest),
                    ("stockade.db", FILE, &g.db),
                ])
            },
            force: true,
            code: "backup_corrupt",
            says: "outside the archive",
        },
        Refusal {
            name: "path traversal entry last",
            archive: |g| {
                let manifest = serde_json::to_vec(&g.manifest).unwrap();
                archive(&[
                    ("manifest.json", FILE, &manifest),
                    ("stockade.db", FILE, &g.db),
                    ("../evil", FILE, b"escaped"),
                ])
            },
            force: true,
            code: "backup_corrupt",
            says: "unexpected entry \"../evil\"",
        },
        Refusal {
            name: "database entry is a symlink",
            archive: |g| {
                let manifest = serde_json::to_vec(&g.manifest).unwrap();
                archive(&[
                    ("manifest.json", FILE, &manifest),
                    ("stockade.db", tar::EntryType::Symlink, b""),
                ])
            },
            force: true,
            code: "backup_corrupt",
            says: "symlink",
        },
        Refusal {
            name: "a page of garbage in the database, hash matches",
            archive: |g| {
                let db = garbage_page(&g.db);
                backup_of(&rehashed(&g.manifest, &db), &db)
            },
            force: true,
            code: "backup_corrupt",
            says: "integrity_check",
        },
        Refusal {
            name: "database fails integrity_check (damaged index), hash matches",
            archive: |g| {
                let db = damaged_index(&g.db);
                backup_of(&rehashed(&g.manifest, &db), &db)
            },
            force: true,
            code: "backup_corrupt",
            says: "integrity_check: row",
        },
        Refusal {
            name: "event edited in the database, hash matches",
            archive: |g| {
                let db = edited_event(&g.db);
                backup_of(&rehashed(&g.manifest, &db), &db)
            },
            force: true,
            code: "backup_corrupt",
            says: "event chain broken at seq 2",
        },
        Refusal {
            name: "manifest names another chain head",
            archive: |g| {
                let mut manifest = g.manifest.clone();
                manifest["chain_head"]["seq"] = Value::from(1);
                backup_of(&manifest, &g.db)
            },
            force: true,
            code: "backup_mismatch",
            says: "event chain head",
        },
        Refusal {
            name: "existing database without --force",
            archive: |g| g.archive.clone(),
            force: false,
            code: "database_exists",
            says: "a database already exists",
        },
    ];

    let target = killed_server_data();
    let before = tree(target.path());
    assert!(
        before.contains_key(Path::new("stockade.db-wal")),
        "the target should have a WAL: {:?}",
        before.keys()
    );
    let files = tempfile::tempdir().unwrap();
    for (i, case) in cases.iter().enumerate() {
        let file = files.path().join(format!("case{i}.tar"));
        std::fs::write(&file, (case.archive)(&good)).unwrap();
        let mut args = vec!["restore", file.to_str().unwrap()];
        if case.force {
            args.push("--force");
        }
        let out = stockade(target.path(), &args);
        let (text, errors) = (stdout(&out), stderr(&out));
        assert_eq!(out.status.code(), Some(1), "{}: {text}{errors}", case.name);
        let code = format!("error[{}]", case.code);
        assert!(
            errors.contains(&code),
            "{}: {code} not in {errors}",
            case.name
        );
        assert!(
            errors.contains(case.says),
            "{}: {:?} not in {errors}",
            case.name,
            case.says
        );
        assert!(!text.contains("restored"), "{}: {text}", case.name);
        assert_same_tree(&before, target.path(), case.name);
        assert!(
            !target.path().parent().unwrap().join("evil").exists(),
            "{}",
            case.name
        );
    }
}

/// Fails naming the files that differ, rather than printing two databases.
fn assert_same_tree(before: &BTreeMap<PathBuf, Vec<u8>>, dir: &Path, case: &str) {
    let after = tree(dir);
    let differ: Vec<&PathBuf> = before
        .keys()
        .chain(after.keys())
        .filter(|name| before.get(*name) != after.get(*name))
        .collect();
    assert!(
        differ.is_empty(),
        "{case}: the data directory changed: {differ:?}"
    );
}

/// The data directory of a server killed with SIGKILL after some writes: the database, the WAL
/// and shared-memory files it did not get to fold back, the component cache with its key.
fn killed_server_data() -> tempfile::TempDir {
    let mut server = TestServer::start(&[]);
    let op = Operator::new(&server, Some(server.admin_token()));
    op.ok(&["user", "create", "target-user"]);
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    std::mem::replace(&mut server.data, tempfile::tempdir().unwrap())
}

#[test]
fn restore_over_a_killed_servers_data_dir_leaves_no_wal_and_keeps_the_old_database() {
    let good = good_backup();
    let target = killed_server_data();
    let wal = target.path().join("stockade.db-wal");
    assert!(
        std::fs::metadata(&wal).unwrap().len() > 0,
        "a stale WAL with frames"
    );
    let file = target.path().parent().unwrap().join("good-for-killed.tar");
    std::fs::write(&file, &good.archive).unwrap();
    let out = stockade(
        target.path(),
        &["restore", file.to_str().unwrap(), "--force"],
    );
    std::fs::remove_file(&file).unwrap();
    assert_ok(&out, "forced restore over a killed server's data directory");

    let names: Vec<String> = tree(target.path())
        .into_keys()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.ends_with("-wal") || n.ends_with("-shm")),
        "no WAL or shared memory left: {names:?}"
    );
    let kept: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with("stockade.db.before-restore-"))
        .collect();
    assert_eq!(kept.len(), 1, "{names:?}");
    assert!(stdout(&out).contains("kept:"), "{}", stdout(&out));

    // The restored database is the backup's, and its log ends where the backup's did.
    let chain = &good.manifest["chain_head"];
    let head = format!("{}:{}", chain["seq"], chain["hash"].as_str().unwrap());
    let out = stockade(target.path(), &["audit", "verify", "--expect-head", &head]);
    assert_ok(&out, "audit verify after the restore");
    // The old database was checkpointed before it was kept: the user that lived only in its WAL
    // is in the kept file.
    let users = user_names(&target.path().join(kept[0]));
    assert!(users.contains(&"target-user".to_owned()), "{users:?}");
    assert!(!user_names(&target.path().join("stockade.db")).contains(&"target-user".to_owned()));
}

fn user_names(db: &Path) -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let url = format!("sqlite://{}?mode=ro", db.display());
        let mut conn = SqliteConnection::connect(&url).await.unwrap();
        let names = sqlx::query_scalar("SELECT name FROM users ORDER BY name")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        names
    })
}

#[test]
fn restore_is_refused_while_a_server_runs_on_the_data_dir() {
    let good = good_backup();
    let server = TestServer::start(&[]);
    let op = Operator::new(&server, Some(server.admin_token()));
    let user_token = op.ok(&["user", "create", "still-here"]).trim().to_owned();
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("good.tar");
    std::fs::write(&file, &good.archive).unwrap();
    for force in [true, false] {
        let mut args = vec!["restore", file.to_str().unwrap()];
        if force {
            args.push("--force");
        }
        let out = stockade(server.data.path(), &args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}{}",
            stdout(&out),
            stderr(&out)
        );
        // Without --force the existing database is the first reason; with it, the server.
        let code = if force {
            "server_running"
        } else {
            "database_exists"
        };
        assert!(
            stderr(&out).contains(&format!("error[{code}]")),
            "{}",
            stderr(&out)
        );
    }
    // The server still has its own data: the user created before the attempts signs in.
    Operator::new(&server, Some(user_token)).ok(&["project", "list"]);
    let names: Vec<PathBuf> = tree(server.data.path()).into_keys().collect();
    assert!(
        !names
            .iter()
            .any(|n| n.to_string_lossy().contains("before-restore")),
        "{names:?}"
    );
}

#[test]
fn backup_holds_the_database_and_nothing_else_from_the_data_dir() {
    let server = TestServer::start(&[]);
    let op = Operator::new(&server, Some(server.admin_token()));
    op.ok(&["user", "create", "alice"]);
    let data = server.data.path();

    // A secret stored the way the server stores it, under a master key kept in a file in the
    // data directory (where it should not be, but an operator might put it).
    let master = stockade_secrets::MasterKey::generate().unwrap();
    let master_hex = master.to_hex().to_string();
    let secret_value = "sk-live-backup-test-5f0c1a9e77d24b3c";
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let db = stockade_storage::Database::open(data.join("stockade.db").to_str().unwrap())
            .await
            .unwrap();
        let store = stockade_secrets::SecretStore::open(&db, Some(master))
            .await
            .unwrap();
        store
            .set(
                &stockade_secrets::Scope::global(),
                "PAYMENTS_API_KEY",
                stockade_secrets::SecretValue::from(secret_value),
            )
            .await
            .unwrap();
        db.close().await;
    });
    let planted = [
        ("master.key", master_hex.clone()),
        ("stockade-master-key", master_hex.clone()),
        ("cache.key", "cache-key-marker-3b9d0e71".to_owned()),
        ("keys/signing.key", "signing-key-marker-a81c44f2".to_owned()),
    ];
    for (name, content) in &planted {
        let path = data.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    let cache_key = std::fs::read(data.join("cache/components/cache.key"))
        .expect("the server keeps its component cache key in the data directory");

    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("b.tar");
    let out = stockade(data, &["backup", file.to_str().unwrap()]);
    assert_ok(&out, "backup");
    let bytes = std::fs::read(&file).unwrap();
    let names: Vec<String> = entries(&bytes).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["manifest.json", "stockade.db"]);

    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(
        !contains(secret_value.as_bytes()),
        "the secret's value is in the backup"
    );
    assert!(
        !contains(master_hex.as_bytes()),
        "the master key is in the backup"
    );
    assert!(
        !contains(master_hex.to_ascii_uppercase().as_bytes()),
        "the master key is in the backup"
    );
    assert!(
        !contains(&hex::decode(&master_hex).unwrap()),
        "the raw master key is in the backup"
    );
    assert!(
        !contains(&cache_key),
        "the component cache key is in the backup"
    );
    for (name, content) in &planted {
        assert!(!contains(content.as_bytes()), "{name} is in the backup");
    }
    // The secret is there, encrypted: the same master key reads it after a restore.
    server.stop();
    let fresh = tempfile::tempdir().unwrap();
    assert_ok(
        &stockade(fresh.path(), &["restore", file.to_str().unwrap()]),
        "restore",
    );
    runtime.block_on(async {
        let db =
            stockade_storage::Database::open(fresh.path().join("stockade.db").to_str().unwrap())
                .await
                .unwrap();
        let key = stockade_secrets::MasterKey::parse(&master_hex, "test").unwrap();
        let store = stockade_secrets::SecretStore::open(&db, Some(key))
            .await
            .unwrap();
        let value = store
            .get(&stockade_secrets::Scope::global(), "PAYMENTS_API_KEY")
            .await
            .unwrap();
        assert_eq!(value.expose_str(), Some(secret_value));
        let other = stockade_secrets::MasterKey::generate().unwrap();
        let sealed = stockade_secrets::SecretStore::open(&db, Some(other))
            .await
            .unwrap();
        assert!(
            sealed.is_sealed(),
            "another master key must not open the restored secrets"
        );
        db.close().await;
    });
}
