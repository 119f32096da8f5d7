//! Redacting a JSON value in place of its serialised text.
//!
//! Tool outputs are JSON. Redacting the decoded strings rather than the serialised text finds a
//! secret however the serialiser escaped it, and cannot break the document's syntax. Object keys
//! are redacted too (a plugin can key a map by token). A number is redacted through its decimal
//! text and, if that held a secret, becomes the redacted string: a PIN or account number stored
//! as a secret must not survive because it was printed without quotes.
//!
//! Two keys can redact to the same text (two AWS keys both become `[REDACTED:aws_access_key]`).
//! Dropping one would lose output silently, so later ones get a ` (2)`, ` (3)`, ... suffix;
//! keys that needed no redaction keep their exact names.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::{Finding, Redactor, Tally};

/// A redacted JSON value and what was removed from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedactedJson {
    /// The value with every secret in a string, key or number replaced by a marker.
    pub value: Value,
    /// What was redacted, over the whole value; empty if nothing was.
    pub findings: Vec<Finding>,
}

impl RedactedJson {
    /// Whether nothing was redacted.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
}

impl Redactor {
    /// `value` with every string, object key and number redacted as by [`Redactor::redact`].
    /// Findings are summed over the whole value, in document order.
    pub fn redact_json(&self, value: &Value) -> RedactedJson {
        let mut value = value.clone();
        let mut tally = Tally::default();
        let mut stack: Vec<&mut Value> = vec![&mut value];
        while let Some(node) = stack.pop() {
            match node {
                Value::String(text) => {
                    if let Some(redacted) = self.redact_counting(text, &mut tally) {
                        *text = redacted;
                    }
                }
                Value::Number(number) => {
                    let text = number.to_string();
                    if let Some(redacted) = self.redact_counting(&text, &mut tally) {
                        *node = Value::String(redacted);
                    }
                }
                Value::Array(items) => stack.extend(items.iter_mut().rev()),
                Value::Object(map) => {
                    self.redact_keys(map, &mut tally);
                    let mut children: Vec<&mut Value> = map.values_mut().collect();
                    children.reverse();
                    stack.extend(children);
                }
                Value::Bool(_) | Value::Null => {}
            }
        }
        RedactedJson {
            value,
            findings: tally.findings,
        }
    }

    fn redact_keys(&self, map: &mut Map<String, Value>, tally: &mut Tally) {
        let entries: Vec<(String, Option<String>, Value)> = std::mem::take(map)
            .into_iter()
            .map(|(key, value)| {
                let redacted = self.redact_counting(&key, tally);
                (key, redacted, value)
            })
            .collect();
        let clean: HashSet<String> = entries
            .iter()
            .filter(|(_, redacted, _)| redacted.is_none())
            .map(|(key, _, _)| key.clone())
            .collect();
        for (key, redacted, value) in entries {
            let key = match redacted {
                None => key,
                Some(redacted) => {
                    let mut unique = redacted.clone();
                    let mut n = 2;
                    while clean.contains(&unique) || map.contains_key(&unique) {
                        unique = format!("{redacted} ({n})");
                        n += 1;
                    }
                    unique
                }
            };
            map.insert(key, value);
        }
    }
}
