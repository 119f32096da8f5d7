//! Where a secret lives and what it may be called.
//!
//! A [`Scope`] is either `global` (server-wide) or one project (`project:<project id>`); the
//! stored spelling is part of every row's associated data. Names and project ids are
//! `[A-Za-z0-9_.-]{1,128}`: enough for `GITHUB_TOKEN` or `db.password`, nothing that needs
//! quoting in a URL path, a log line or the associated data (no NUL, no separators).

use std::fmt;

use crate::error::SecretError;

/// Longest secret name (and project id) accepted.
pub const MAX_NAME_LEN: usize = 128;

const PROJECT_PREFIX: &str = "project:";

/// Where a secret lives. Compare and store by [`Scope::as_str`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope(String);

impl Scope {
    /// Server-wide secrets.
    pub fn global() -> Self {
        Self("global".to_owned())
    }

    /// The secrets of one project. The id must match `[A-Za-z0-9_.-]{1,128}`.
    pub fn project(project_id: &str) -> Result<Self, SecretError> {
        check("project id", project_id)?;
        Ok(Self(format!("{PROJECT_PREFIX}{project_id}")))
    }

    /// Parses the stored spelling: `global` or `project:<id>`.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        if text == "global" {
            return Ok(Self::global());
        }
        match text.strip_prefix(PROJECT_PREFIX) {
            Some(id) => Self::project(id),
            None => Err(SecretError::invalid(
                "scope",
                "must be `global` or `project:<project id>`",
            )),
        }
    }

    /// The stored spelling.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The project id, for a project scope.
    pub fn project_id(&self) -> Option<&str> {
        self.0.strip_prefix(PROJECT_PREFIX)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Refuses a secret name outside `[A-Za-z0-9_.-]{1,128}` with `invalid_input`.
pub fn validate_name(name: &str) -> Result<(), SecretError> {
    check("name", name)
}

fn check(field: &'static str, text: &str) -> Result<(), SecretError> {
    if text.is_empty() {
        return Err(SecretError::invalid(field, "is empty"));
    }
    if text.len() > MAX_NAME_LEN {
        return Err(SecretError::invalid(
            field,
            format!("is {} bytes; the limit is {MAX_NAME_LEN}", text.len()),
        ));
    }
    if let Some(bad) = text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(SecretError::invalid(
            field,
            format!("contains {bad:?}; only letters, digits, `_`, `.` and `-` are allowed"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let long = "a".repeat(MAX_NAME_LEN);
        let too_long = "a".repeat(MAX_NAME_LEN + 1);
        let cases: [(&str, &str, bool); 11] = [
            ("upper snake", "GITHUB_TOKEN", true),
            ("dotted", "db.password", true),
            ("dashed", "api-key-2", true),
            ("longest", &long, true),
            ("empty", "", false),
            ("too long", &too_long, false),
            ("NUL", "a\0b", false),
            ("slash", "a/b", false),
            ("space", "a b", false),
            ("colon", "project:x", false),
            ("non-ASCII letter", "clé", false),
        ];
        for (case, name, ok) in cases {
            let result = validate_name(name);
            assert_eq!(result.is_ok(), ok, "{case}: {result:?}");
            if let Err(e) = result {
                assert_eq!(e.code(), "invalid_input", "{case}");
            }
        }
    }

    #[test]
    fn scopes() {
        assert_eq!(Scope::global().as_str(), "global");
        let project = Scope::project("prj_0123abcd").expect("project");
        assert_eq!(project.as_str(), "project:prj_0123abcd");
        assert_eq!(project.project_id(), Some("prj_0123abcd"));
        assert_eq!(
            Scope::parse("project:prj_0123abcd").expect("parse"),
            project
        );
        assert_eq!(Scope::parse("global").expect("parse"), Scope::global());
        for bad in [
            "",
            "Global",
            "project:",
            "project:a\0b",
            "project:a:b",
            "user:x",
        ] {
            let err = Scope::parse(bad).expect_err(bad);
            assert_eq!(err.code(), "invalid_input", "{bad:?}");
        }
    }
}
