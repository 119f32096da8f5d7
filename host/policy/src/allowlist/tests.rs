use super::*;

fn profile(allow: &[&str], deny: &[&str], read_only: bool) -> AgentProfile {
    AgentProfile {
        allow: allow.iter().map(|s| s.to_string()).collect(),
        deny: deny.iter().map(|s| s.to_string()).collect(),
        read_only,
    }
}

use ToolKind::{Read, Write};

/// Expected outcome of a decision: `Ok(allow rule)` or `Err(denial reason)`.
type Expect = Result<&'static str, &'static str>;

/// Patterns of a table row.
type Rules = &'static [&'static str];

#[test]
fn decisions() {
    // (case, allow, deny, read_only, tool, kind, expected)
    #[rustfmt::skip]
    let cases: &[(&str, Rules, Rules, bool, &str, ToolKind, Expect)] = &[
        ("exact allow", &["fs.read_file"], &[], false, "fs.read_file", Read, Ok("fs.read_file")),
        ("no rules denies", &[], &[], false, "fs.read_file", Read, Err("no_allow_rule")),
        ("other tool denied", &["fs.read_file"], &[], false, "fs.write_file", Write, Err("no_allow_rule")),
        ("prefix glob", &["fs.read_*"], &[], false, "fs.read_dir", Read, Ok("fs.read_*")),
        ("bundle glob", &["fs.*"], &[], false, "fs.write_file", Write, Ok("fs.*")),
        ("bundle glob stays in bundle", &["fs.*"], &[], false, "fs-extra.read", Read, Err("no_allow_rule")),
        ("bare star in dev", &["*"], &[], false, "git.push", Write, Ok("*")),
        ("deny wins over allow", &["fs.*"], &["fs.delete_*"], false, "fs.delete_tree", Write, Err("deny_rule")),
        ("deny wins over exact allow", &["fs.write_file"], &["fs.write_file"], false, "fs.write_file", Write, Err("deny_rule")),
        ("deny star denies all", &["fs.read_file"], &["*"], false, "fs.read_file", Read, Err("deny_rule")),
        ("deny elsewhere irrelevant", &["fs.*"], &["git.*"], false, "fs.read_file", Read, Ok("fs.*")),
        ("first allow rule recorded", &["fs.read_file", "fs.*"], &[], false, "fs.read_file", Read, Ok("fs.read_file")),
        ("read-only agent, read tool", &["fs.*"], &[], true, "fs.read_file", Read, Ok("fs.*")),
        ("read-only agent, write tool", &["fs.*"], &[], true, "fs.write_file", Write, Err("read_only_agent")),
        ("read-only with exact allow of write tool", &["fs.write_file"], &[], true, "fs.write_file", Write, Err("read_only_agent")),
        ("deny reported before read-only", &["fs.*"], &["fs.write_*"], true, "fs.write_file", Write, Err("deny_rule")),
        ("invalid name: no dot", &["*"], &[], false, "fs", Read, Err("invalid_tool_name")),
        ("invalid name: two dots", &["*"], &[], false, "fs.read.file", Read, Err("invalid_tool_name")),
        ("invalid name: uppercase", &["*"], &[], false, "FS.read_file", Read, Err("invalid_tool_name")),
        ("invalid name: empty", &["*"], &[], false, "", Read, Err("invalid_tool_name")),
        ("invalid name: glob as name", &["*"], &[], false, "fs.*", Read, Err("invalid_tool_name")),
        ("invalid name: traversal", &["*"], &[], false, "../fs.read", Read, Err("invalid_tool_name")),
        ("invalid name: trailing space", &["*"], &[], false, "fs.read_file ", Read, Err("invalid_tool_name")),
        ("invalid name: nul", &["*"], &[], false, "fs.read_file\0", Read, Err("invalid_tool_name")),
    ];
    for &(case, allow, deny, read_only, tool, kind, expected) in cases {
        let list = profile(allow, deny, read_only)
            .validate(Mode::Development)
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        let verdict = list.decide(tool, kind);
        let got = match &verdict {
            Verdict::Allowed { rule } => Ok(rule.as_str()),
            Verdict::Denied(denial) => {
                assert_eq!(denial.code(), "tool_not_allowed", "{case}");
                Err(denial.reason())
            }
        };
        assert_eq!(got, expected, "{case}");
        assert_eq!(verdict.is_allowed(), expected.is_ok(), "{case}");
    }
}

#[test]
fn deny_rule_is_named_in_the_denial() {
    let list = profile(&["fs.*"], &["fs.delete_*"], false)
        .validate(Mode::Production)
        .expect("valid");
    let denial = list
        .decide("fs.delete_tree", Write)
        .into_result()
        .expect_err("denied");
    assert_eq!(denial.rule(), Some("fs.delete_*"));
    assert!(denial.to_string().contains("fs.delete_*"), "{denial}");
}

#[test]
fn production_refuses_allow_all() {
    // (case, allow, deny, expected error code or None)
    #[rustfmt::skip]
    let cases: &[(&str, Rules, Rules, Option<&str>)] = &[
        ("bare star", &["*"], &[], Some("allow_all_forbidden")),
        ("star dot star", &["*.*"], &[], Some("allow_all_forbidden")),
        ("star among others", &["fs.read_file", "*"], &[], Some("allow_all_forbidden")),
        ("star even with denies", &["*"], &["git.*"], Some("allow_all_forbidden")),
        ("bundle wildcard is fine", &["fs.*"], &[], None),
        ("tool wildcard is fine", &["*.read_file"], &[], None),
        ("deny star is fine", &["fs.read_file"], &["*"], None),
        ("empty is fine", &[], &[], None),
        ("invalid pattern reported first", &["FS.*", "*"], &[], Some("invalid_pattern")),
        ("invalid deny pattern", &["fs.*"], &["fs"], Some("invalid_pattern")),
    ];
    for &(case, allow, deny, expected) in cases {
        let got = profile(allow, deny, false).validate(Mode::Production).err();
        assert_eq!(
            got.as_ref().map(AllowlistError::code),
            expected,
            "{case}: {got:?}"
        );
    }
    // The same profiles are all fine in development, except the invalid patterns.
    assert!(
        profile(&["*"], &[], false)
            .validate(Mode::Development)
            .is_ok()
    );
    assert!(
        profile(&["*.*"], &[], false)
            .validate(Mode::Development)
            .is_ok()
    );
}

#[test]
fn invalid_pattern_error_names_list_and_index() {
    let err = profile(&["fs.read_file", "fs.read file"], &[], false)
        .validate(Mode::Development)
        .expect_err("invalid");
    match &err {
        AllowlistError::InvalidPattern {
            list,
            index,
            source,
        } => {
            assert_eq!((*list, *index), (RuleList::Allow, 1));
            assert_eq!(source.pattern, "fs.read file");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().starts_with("allow[1]:"), "{err}");
}

#[test]
fn too_many_patterns_are_refused() {
    let many: Vec<String> = (0..=MAX_PATTERNS).map(|i| format!("b{i}.t")).collect();
    let p = AgentProfile {
        allow: many.clone(),
        deny: vec![],
        read_only: false,
    };
    assert_eq!(
        p.validate(Mode::Development)
            .map(|_| ())
            .map_err(|e| e.code()),
        Err("too_many_patterns")
    );
    let p = AgentProfile {
        allow: vec![],
        deny: many,
        read_only: false,
    };
    assert_eq!(
        p.validate(Mode::Development)
            .map(|_| ())
            .map_err(|e| e.code()),
        Err("too_many_patterns")
    );
}

#[test]
fn profile_deserializes_with_defaults_and_refuses_unknown_fields() {
    let p: AgentProfile = serde_json::from_str(r#"{"allow": ["fs.*"]}"#).expect("parses");
    assert_eq!(p, profile(&["fs.*"], &[], false));
    assert!(serde_json::from_str::<AgentProfile>(r#"{"allow": [], "alow": ["*"]}"#).is_err());
    let mode: Mode = serde_json::from_str(r#""production""#).expect("parses");
    assert_eq!(mode, Mode::Production);
}

#[test]
fn tool_kind_from_writes() {
    assert_eq!(ToolKind::from_writes(true), Write);
    assert_eq!(ToolKind::from_writes(false), Read);
}
