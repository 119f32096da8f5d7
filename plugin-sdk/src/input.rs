//! Turning the JSON text the host passes into a tool's typed input, with errors that name the
//! offending field.

use serde::de::DeserializeOwned;

use crate::ToolError;

/// Parses `input` as JSON and deserializes it into `I`.
///
/// The text is first parsed into a [`serde_json::Value`] so that syntax errors and type errors
/// read differently: a syntax error says where in the text it is ("line 1 column 9"), while a
/// type error says which field is wrong (`path: invalid type: integer `3`, expected a string`).
/// Line and column are useless to an agent for the second kind, and the field path is what it
/// needs to fix its call, so [`serde_path_to_error`] tracks the path through the value.
pub(crate) fn parse<I: DeserializeOwned>(input: &str) -> Result<I, ToolError> {
    let value: serde_json::Value = serde_json::from_str(input)
        .map_err(|err| ToolError::invalid_input(format!("input is not valid JSON: {err}")))?;
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        // The root path renders as "."; a message like "missing field `path`" already names
        // the field, so a leading ".: " would only add noise.
        if path == "." {
            ToolError::invalid_input(inner.to_string())
        } else {
            ToolError::invalid_input(format!("{path}: {inner}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // Fields exist to be deserialized.
    struct ReadFile {
        path: String,
        #[serde(default)]
        options: Options,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Options {
        #[serde(default)]
        max_bytes: Option<u32>,
        #[serde(default)]
        globs: Vec<String>,
    }

    /// Each bad input is refused as invalid input whose message names the field.
    #[test]
    fn invalid_input_names_the_field() {
        let cases: &[(&str, &str, &str)] = &[
            ("not JSON", "{path:", "input is not valid JSON: "),
            ("empty text", "", "input is not valid JSON: "),
            (
                "wrong type",
                r#"{"path": 3}"#,
                "path: invalid type: integer `3`, expected a string",
            ),
            ("missing field", r#"{}"#, "missing field `path`"),
            (
                "not an object",
                r#""a.txt""#,
                "invalid type: string \"a.txt\", expected struct ReadFile",
            ),
            (
                "unknown field",
                r#"{"path": "a", "mode": 1}"#,
                "mode: unknown field `mode`",
            ),
            (
                "nested wrong type",
                r#"{"path": "a", "options": {"max_bytes": -1}}"#,
                "options.max_bytes: invalid value: integer `-1`, expected u32",
            ),
            (
                "array element",
                r#"{"path": "a", "options": {"globs": ["*.rs", 7]}}"#,
                "options.globs[1]: invalid type: integer `7`, expected a string",
            ),
            (
                "nested unknown field",
                r#"{"path": "a", "options": {"depth": 1}}"#,
                "options.depth: unknown field `depth`",
            ),
        ];
        for (name, input, expected) in cases {
            match parse::<ReadFile>(input) {
                Err(ToolError::InvalidInput(message)) => assert!(
                    message.starts_with(expected) || message.contains(expected),
                    "{name}: {message:?} does not mention {expected:?}"
                ),
                other => panic!("{name}: expected invalid input, got {other:?}"),
            }
        }
    }

    #[test]
    fn valid_input_parses() {
        let parsed = parse::<ReadFile>(r#"{"path": "src/lib.rs", "options": {"max_bytes": 10}}"#);
        assert!(matches!(parsed, Ok(ReadFile { ref path, .. }) if path == "src/lib.rs"));
    }
}
