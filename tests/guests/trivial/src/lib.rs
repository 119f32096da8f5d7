//! The smallest possible Stockade plugin: one tool, `noop`, that takes `{}` and returns `{}`.
//!
//! The host's benchmarks call it to measure the fixed cost of a tool call (fresh instance,
//! input parsing, output) with no work of its own in the way.

#![forbid(unsafe_code)]

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use stockade_plugin_sdk::{ToolError, Tools};

/// Input of `noop`: an empty object.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Noop {}

/// Output of `noop`: an empty object.
#[derive(Debug, Serialize)]
pub struct Empty {}

fn noop(_: Noop) -> Result<Empty, ToolError> {
    Ok(Empty {})
}

/// The tools of this plugin.
pub fn tools() -> Tools {
    Tools::new().tool("noop", "Does nothing and returns {}.", noop)
}

stockade_plugin_sdk::export_plugin!(tools);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noop_returns_an_empty_object() {
        assert_eq!(tools().call("noop", "{}"), Ok("{}".to_owned()));
        assert_eq!(tools().validate(), Ok(()));
    }
}
