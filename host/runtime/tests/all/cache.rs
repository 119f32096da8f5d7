//! The compiled-component cache: hits on a second start, and rejects anything it did not write.

use std::path::PathBuf;

use stockade_runtime::{CacheOutcome, Runtime, RuntimeConfig};

fn runtime(cache: &std::path::Path) -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: Some(cache.to_path_buf()),
        max_instances: 4,
        ..RuntimeConfig::default()
    })
    .unwrap()
}

fn cache_file(dir: &std::path::Path) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files.remove(0)
}

async fn load(cache: &std::path::Path) -> CacheOutcome {
    let wasm = std::fs::read(stockade_test_artifacts::TRIVIAL).unwrap();
    let component = runtime(cache).load("trivial", wasm).await.unwrap();
    component.cache_outcome().clone()
}

#[tokio::test]
async fn second_start_loads_from_cache() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(load(dir.path()).await, CacheOutcome::Miss);
    assert_eq!(load(dir.path()).await, CacheOutcome::Hit);
}

#[tokio::test]
async fn damaged_or_foreign_cache_files_are_rejected_and_rebuilt() {
    type Damage = fn(&mut Vec<u8>);
    let cases: &[(&str, Damage)] = &[
        ("one flipped byte in the code", |b| {
            let i = b.len() / 2;
            b[i] ^= 0x01;
        }),
        ("truncated", |b| b.truncate(b.len() / 3)),
        ("empty", |b| b.clear()),
        ("flipped byte in the tag", |b| b[20] ^= 0x80),
        ("foreign file with our magic", |b| {
            let magic = b[..16].to_vec();
            *b = magic;
            b.extend(std::iter::repeat_n(0xAB, 4096));
        }),
    ];
    for (name, damage) in cases {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).await, CacheOutcome::Miss, "{name}");
        let file = cache_file(dir.path());
        let mut bytes = std::fs::read(&file).unwrap();
        damage(&mut bytes);
        std::fs::write(&file, &bytes).unwrap();
        let outcome = load(dir.path()).await;
        assert!(
            matches!(outcome, CacheOutcome::Rejected(_)),
            "{name}: {outcome:?}"
        );
        // The rebuilt file is trusted again.
        assert_eq!(load(dir.path()).await, CacheOutcome::Hit, "{name}");
    }
}

#[tokio::test]
async fn a_cache_file_from_another_host_key_is_rejected() {
    // Same bytes, same engine, but written under another host's key: not ours, not trusted.
    let ours = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    load(ours.path()).await;
    load(theirs.path()).await;
    let target = cache_file(ours.path());
    std::fs::copy(cache_file(theirs.path()), &target).unwrap();
    assert!(matches!(load(ours.path()).await, CacheOutcome::Rejected(_)));
}
