//! Validated names and paths used in manifests. Each is checked when deserialized, so a
//! manifest that parses holds only well-formed values.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a name or path is not well formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: {reason}")]
pub struct NameError {
    kind: &'static str,
    value: String,
    reason: &'static str,
}

macro_rules! validated_string {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The value as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(value: String) -> Result<Self, NameError> {
                let check: fn(&str) -> Result<(), &'static str> = $check;
                match check(&value) {
                    Ok(()) => Ok(Self(value)),
                    Err(reason) => Err(NameError { kind: $kind, value, reason }),
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = NameError;
            fn from_str(value: &str) -> Result<Self, NameError> {
                Self::try_from(value.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

fn identifier(value: &str, extra: char) -> Result<(), &'static str> {
    let mut chars = value.chars();
    match chars.next() {
        Some('a'..='z') => {}
        Some(_) => return Err("must start with a lowercase letter"),
        None => return Err("must not be empty"),
    }
    if value.len() > 64 {
        return Err("must be at most 64 characters");
    }
    if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == extra) {
        return Err(if extra == '_' {
            "may contain only lowercase letters, digits and '_'"
        } else {
            "may contain only lowercase letters, digits and '-'"
        });
    }
    Ok(())
}

/// Checks that every `/`-separated segment is a plain name (no `.`, `..` or empty segment).
fn plain_segments(value: &str) -> Result<(), &'static str> {
    if value.len() > 255 {
        return Err("must be at most 255 characters");
    }
    for segment in value.split('/') {
        match segment {
            "" => return Err("must not contain empty segments"),
            "." | ".." => return Err("must not contain '.' or '..' segments"),
            s if s.contains(['\\', '\0']) => return Err("must not contain '\\' or NUL"),
            _ => {}
        }
    }
    Ok(())
}

validated_string!(
    /// A bundle name: `[a-z][a-z0-9-]*`, at most 64 characters.
    BundleName,
    "bundle name",
    |v| identifier(v, '-')
);

validated_string!(
    /// A tool name: `[a-z][a-z0-9_]*`, at most 64 characters. Unique within a bundle.
    ToolName,
    "tool name",
    |v| identifier(v, '_')
);

validated_string!(
    /// A component id within a bundle: `[a-z][a-z0-9-]*`.
    ComponentId,
    "component id",
    |v| identifier(v, '-')
);

validated_string!(
    /// An absolute, normalized guest path where a directory is preopened, such as `/project`.
    MountPath,
    "mount path",
    |v| match v.strip_prefix('/') {
        None => Err("must be absolute (start with '/')"),
        Some("") => Err("must not be '/' itself"),
        Some(rest) => plain_segments(rest),
    }
);

validated_string!(
    /// A relative path inside a bundle, such as `fs.wasm`. Never absolute, never `..`.
    RelativeFile,
    "relative path",
    |v| if v.starts_with('/') {
        Err("must be relative to the bundle directory")
    } else {
        plain_segments(v)
    }
);

validated_string!(
    /// The name of a stored secret a tool asks to read, such as `github_token`: 1 to 128 ASCII
    /// letters, digits, `_`, `.` and `-` (the secret store's own rule).
    SecretName,
    "secret name",
    |v| if v.is_empty() {
        Err("must not be empty")
    } else if v.len() > 128 {
        Err("must be at most 128 characters")
    } else if !v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        Err("may contain only ASCII letters, digits, '_', '.' and '-'")
    } else {
        Ok(())
    }
);
