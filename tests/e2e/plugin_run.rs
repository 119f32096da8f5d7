//! `stockade plugin run|describe` as an author uses it.

use std::path::{Path, PathBuf};

use crate::{stderr, stdout, stockade};

const FS: &str = stockade_test_artifacts::FS_BUNDLE_DIR;

struct Project {
    dir: tempfile::TempDir,
    data: tempfile::TempDir,
}

impl Project {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("README.md"), "# hello e2e\n").unwrap();
        Self {
            dir,
            data: tempfile::tempdir().unwrap(),
        }
    }

    fn grant(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.dir.path().display())
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        stockade(self.data.path(), args)
    }
}

#[test]
fn runs_a_tool_from_the_plugin_source_folder() {
    let project = Project::new();
    let grant = project.grant(":ro");
    let out = project.run(&[
        "plugin",
        "run",
        FS,
        "read_file",
        "--input",
        r#"{"path":"README.md"}"#,
        "--grant-dir",
        &grant,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let value: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(value["content"], "# hello e2e\n");
}

#[test]
fn a_second_process_loads_the_compiled_component_from_the_cache() {
    let project = Project::new();
    let grant = project.grant(":ro");
    let args = [
        "plugin",
        "run",
        FS,
        "list_dir",
        "--input",
        r#"{"path":"."}"#,
        "--grant-dir",
        &grant,
    ];
    let first = project.run(&args);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stderr(&first).contains("compiled (cached for next time)"),
        "{}",
        stderr(&first)
    );
    let second = project.run(&args);
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("loaded from cache"),
        "{}",
        stderr(&second)
    );

    // Tamper with the compiled code: the next process detects it and recompiles.
    let cache_dir = project.data.path().join("cache/components");
    let file: PathBuf = std::fs::read_dir(&cache_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xFF;
    std::fs::write(&file, bytes).unwrap();
    let third = project.run(&args);
    assert!(third.status.success(), "{}", stderr(&third));
    assert!(
        stderr(&third).contains("recompiled (cache file rejected"),
        "{}",
        stderr(&third)
    );
    assert_eq!(stdout(&third), stdout(&first));
}

#[test]
fn failures_have_stable_codes_and_exit_statuses() {
    let project = Project::new();
    let ro = project.grant(":ro");
    let rw = project.grant(":rw");
    let broken = tempfile::tempdir().unwrap();
    std::fs::write(
        broken.path().join("bundle.toml"),
        "[bundle]\nname = \"x\"\nversion = \"0.1.0\"\nsurprise = true\n[components]\n[tools]\n",
    )
    .unwrap();
    let broken = broken.path().display().to_string();
    let cases: &[(&str, Vec<&str>, i32, &str)] = &[
        (
            "unknown tool",
            vec!["plugin", "run", FS, "delete_everything"],
            1,
            "error[unknown_tool]",
        ),
        (
            "grant beyond the request",
            vec![
                "plugin",
                "run",
                FS,
                "read_file",
                "--input",
                r#"{"path":"README.md"}"#,
                "--grant-dir",
                &rw,
            ],
            1,
            "error[grant_exceeds_request]",
        ),
        (
            "path escape",
            vec![
                "plugin",
                "run",
                FS,
                "read_file",
                "--input",
                r#"{"path":"../../etc/passwd"}"#,
                "--grant-dir",
                &ro,
            ],
            1,
            "error[invalid_input]",
        ),
        (
            "input of the wrong type",
            vec![
                "plugin",
                "run",
                FS,
                "read_file",
                "--input",
                r#"{"path":7}"#,
                "--grant-dir",
                &ro,
            ],
            1,
            "path",
        ),
        (
            "input that is not JSON",
            vec!["plugin", "run", FS, "read_file", "--input", "{path"],
            2,
            "not valid JSON",
        ),
        (
            "grant of a system path",
            vec!["plugin", "run", FS, "read_file", "--grant-dir", "/etc:ro"],
            2,
            "system path",
        ),
        (
            "missing plugin",
            vec!["plugin", "run", "/nonexistent/plugin", "read_file"],
            2,
            "cannot read",
        ),
        (
            "manifest with an unknown field",
            vec!["plugin", "run", &broken, "x"],
            2,
            "line 4",
        ),
        (
            "tight deadline",
            vec![
                "plugin",
                "run",
                FS,
                "search",
                "--input",
                r#"{"pattern":"x"}"#,
                "--grant-dir",
                &ro,
                "--deadline-ms",
                "0",
            ],
            1,
            "error[limit_out_of_range]",
        ),
    ];
    for (name, args, code, needle) in cases {
        let out = project.run(args);
        assert_eq!(out.status.code(), Some(*code), "{name}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(needle),
            "{name}: {needle:?} not in {}",
            stderr(&out)
        );
        assert!(stdout(&out).is_empty(), "{name}: printed output on failure");
    }
}

#[test]
fn a_bare_component_runs_with_explicit_mounts() {
    let project = Project::new();
    let grant = format!("/project={}", project.grant(":ro"));
    let out = project.run(&[
        "plugin",
        "run",
        stockade_test_artifacts::FS,
        "read_file",
        "--input",
        r#"{"path":"README.md"}"#,
        "--grant-dir",
        &grant,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("hello e2e"));
}

#[test]
fn describe_lists_tools_schemas_and_requests() {
    let project = Project::new();
    let out = project.run(&["plugin", "describe", FS]);
    assert!(out.status.success(), "{}", stderr(&out));
    let tools: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let names: Vec<&str> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["list_dir", "read_file", "search", "write_file"]);
    let write = &tools[3];
    assert_eq!(write["requests"]["dirs"][0]["access"], "read-write");
    assert!(
        write["input_schema"]["properties"]["content"].is_object(),
        "{write}"
    );
}

#[test]
fn help_explains_the_grant_syntax() {
    let out = stockade(Path::new("."), &["plugin", "run", "--help"]);
    assert!(out.status.success());
    let help = stdout(&out);
    for needle in [
        "--grant-dir",
        "[MOUNT=]PATH[:ro|:rw]",
        "--deadline-ms",
        "--memory-mib",
    ] {
        assert!(help.contains(needle), "{needle} missing from help");
    }
}
