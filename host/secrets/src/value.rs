//! A secret's plaintext: wiped from memory on drop, never printed.

use std::fmt;

use zeroize::Zeroizing;

use crate::error::SecretError;

/// Largest value accepted: 64 KiB is room for a PEM key bundle, and small enough that secrets
/// stay cheap to re-encrypt during rotation.
pub const MAX_VALUE_LEN: usize = 64 * 1024;

/// The plaintext of a secret. Wiped on drop; `Debug` shows only the length; there is no
/// `Display`, so a value reaches a log or a response only through an explicit `expose_*` call.
#[derive(Clone)]
pub struct SecretValue(Zeroizing<Vec<u8>>);

impl SecretValue {
    /// Wraps bytes (any content, including non-UTF-8).
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    pub(crate) fn from_zeroizing(bytes: Zeroizing<Vec<u8>>) -> Self {
        Self(bytes)
    }

    /// The plaintext bytes.
    pub fn expose_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The plaintext as text, if it is UTF-8.
    pub fn expose_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the value is empty (the store refuses to set empty values).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Refuses empty values and values over [`MAX_VALUE_LEN`].
    pub(crate) fn check(&self) -> Result<(), SecretError> {
        if self.is_empty() {
            return Err(SecretError::invalid(
                "value",
                "is empty (an empty secret is almost always an unset variable)",
            ));
        }
        if self.len() > MAX_VALUE_LEN {
            return Err(SecretError::invalid(
                "value",
                format!("is {} bytes; the limit is {MAX_VALUE_LEN}", self.len()),
            ));
        }
        Ok(())
    }
}

impl From<String> for SecretValue {
    fn from(text: String) -> Self {
        Self::new(text.into_bytes())
    }
}

impl From<&str> for SecretValue {
    fn from(text: &str) -> Self {
        Self::new(text.as_bytes().to_vec())
    }
}

impl From<Vec<u8>> for SecretValue {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(bytes)
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretValue(<redacted, {} bytes>)", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts() {
        let value = SecretValue::from("hunter2");
        assert_eq!(format!("{value:?}"), "SecretValue(<redacted, 7 bytes>)");
    }

    #[test]
    fn size_limits() {
        assert!(SecretValue::from("x").check().is_ok());
        assert!(SecretValue::new(vec![0; MAX_VALUE_LEN]).check().is_ok());
        for (case, value) in [
            ("empty", SecretValue::from("")),
            ("over the cap", SecretValue::new(vec![0; MAX_VALUE_LEN + 1])),
        ] {
            assert_eq!(
                value.check().expect_err(case).code(),
                "invalid_input",
                "{case}"
            );
        }
    }

    #[test]
    fn text_and_bytes() {
        assert_eq!(SecretValue::from("é").expose_str(), Some("é"));
        assert_eq!(SecretValue::new(vec![0xff]).expose_str(), None);
        assert_eq!(SecretValue::new(vec![0xff]).expose_bytes(), &[0xff]);
    }
}
