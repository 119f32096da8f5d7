//! Canonical JSON: the exact bytes that are hashed and signed.
//!
//! Object keys sorted by their UTF-8 bytes, no whitespace, strings escaped as `serde_json`
//! does. Sorting is done here, not left to `serde_json`'s map type, so the bytes do not change
//! if some other crate in the build turns on its `preserve_order` feature.

use serde::Serialize;
use serde_json::Value;

use crate::error::Error;

/// The canonical JSON bytes of `value`.
pub fn to_vec(value: &impl Serialize) -> Result<Vec<u8>, Error> {
    let value = serde_json::to_value(value)
        .map_err(|err| Error::invalid("document", format!("not serializable: {err}")))?;
    let mut out = Vec::new();
    write(&value, &mut out);
    Ok(out)
}

fn write(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(&Value::String(key.clone()), out);
                out.push(b':');
                write(value, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out);
            }
            out.push(b']');
        }
        // Scalars have one spelling in serde_json's compact output.
        scalar => out.extend_from_slice(scalar.to_string().as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_nested_keys_and_drops_whitespace() {
        let value = serde_json::json!({"b": [ {"z": 1, "a": "x\n"} ], "a": null});
        let bytes = to_vec(&value).ok();
        assert_eq!(
            bytes.as_deref(),
            Some(&br#"{"a":null,"b":[{"a":"x\n","z":1}]}"#[..])
        );
    }
}
