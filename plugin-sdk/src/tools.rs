//! [`Tools`]: the set of tools a plugin offers, and dispatch of one call to one of them.

use std::fmt;

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{ToolError, input};

/// The description of one tool, as `describe` reports it to the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolDescriptor {
    /// Tool name, unique within the plugin: lowercase letters, digits and `_`.
    pub name: String,
    /// One or two sentences for the agent: what the tool does and when to use it.
    pub description: String,
    /// JSON Schema (draft 2020-12) of the input object, as JSON text.
    pub input_schema: String,
}

/// A handler with its input and output types erased: JSON text in, JSON text out.
type Handler = Box<dyn Fn(&str) -> Result<String, ToolError>>;

struct Tool {
    name: String,
    description: String,
    /// Generated only when `describe` asks: the host makes a fresh instance per call and
    /// builds [`Tools`] each time, so the call path must not pay for schema generation.
    schema: fn() -> schemars::Schema,
    handler: Handler,
}

/// The tools a plugin offers: name, description, input schema and the function that runs it.
///
/// Build it in a plain function and hand that function to [`export_plugin!`](crate::export_plugin).
/// The SDK builds it afresh for every call (the host gives every call a fresh instance anyway),
/// so keep the function cheap: register tools, do no I/O.
///
/// ```
/// use schemars::JsonSchema;
/// use serde::Deserialize;
/// use stockade_plugin_sdk::{ToolError, Tools};
///
/// #[derive(Deserialize, JsonSchema)]
/// struct Add {
///     a: i64,
///     b: i64,
/// }
///
/// fn add(input: Add) -> Result<i64, ToolError> {
///     input.a.checked_add(input.b).ok_or_else(|| ToolError::invalid_input("b: sum overflows"))
/// }
///
/// let tools = Tools::new().tool("add", "Adds two integers.", add);
/// assert_eq!(tools.call("add", r#"{"a": 2, "b": 3}"#), Ok("5".to_owned()));
/// assert!(matches!(tools.call("add", r#"{"a": 2}"#), Err(ToolError::InvalidInput(m)) if m == "missing field `b`"));
/// assert!(matches!(tools.call("sub", "{}"), Err(ToolError::NotFound(_))));
/// ```
#[derive(Default)]
pub struct Tools {
    tools: Vec<Tool>,
}

impl Tools {
    /// An empty set of tools.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a tool.
    ///
    /// `name` must be lowercase letters, digits and `_`, starting with a letter, and unique in
    /// this plugin (see [`Tools::validate`]). `description` is what the agent reads to decide
    /// whether to call the tool. `handler` takes the deserialized input; its input type's JSON
    /// Schema (from [`schemars`]) is what `describe` reports, and its output is serialized to
    /// JSON. An input that does not deserialize never reaches the handler: the caller gets
    /// [`ToolError::InvalidInput`] naming the field.
    pub fn tool<I, O, F>(mut self, name: &str, description: &str, handler: F) -> Self
    where
        I: DeserializeOwned + JsonSchema,
        O: Serialize,
        F: Fn(I) -> Result<O, ToolError> + 'static,
    {
        let tool_name = name.to_owned();
        self.tools.push(Tool {
            name: name.to_owned(),
            description: description.to_owned(),
            schema: schema_of::<I>,
            handler: Box::new(move |text| {
                let output = handler(input::parse::<I>(text)?)?;
                serde_json::to_string(&output).map_err(|err| {
                    ToolError::failed(format!("{tool_name}: output is not valid JSON: {err}"))
                })
            }),
        });
        self
    }

    /// The registered tools, in registration order, with their input schemas.
    pub fn describe(&self) -> Vec<ToolDescriptor> {
        self.tools
            .iter()
            .map(|tool| ToolDescriptor {
                name: tool.name.clone(),
                description: tool.description.clone(),
                input_schema: (tool.schema)().as_value().to_string(),
            })
            .collect()
    }

    /// Runs `tool` with `input` (JSON text) and returns its output as JSON text.
    ///
    /// This is exactly what the host's `call` reaches, minus the WebAssembly boundary, so a
    /// plugin's unit tests can drive their tools natively through it.
    pub fn call(&self, tool: &str, input: &str) -> Result<String, ToolError> {
        match self.tools.iter().find(|t| t.name == tool) {
            Some(found) => (found.handler)(input),
            None => Err(ToolError::not_found(format!(
                "no tool named `{tool}`; this plugin offers: {}",
                self.names().collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    /// The names of the registered tools, in registration order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tools.iter().map(|t| t.name.as_str())
    }

    /// Checks that every name is well formed and unique. The host refuses a plugin whose
    /// `describe` breaks these rules; call this from a unit test to find out before that.
    pub fn validate(&self) -> Result<(), String> {
        for (index, tool) in self.tools.iter().enumerate() {
            let name = tool.name.as_str();
            let mut chars = name.chars();
            let well_formed = chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                && name.len() <= 64;
            if !well_formed {
                return Err(format!(
                    "tool name `{name}` must be 1-64 lowercase letters, digits or `_`, \
                     starting with a letter"
                ));
            }
            if self.tools[..index].iter().any(|t| t.name == name) {
                return Err(format!("tool name `{name}` is registered twice"));
            }
        }
        Ok(())
    }
}

fn schema_of<I: JsonSchema>() -> schemars::Schema {
    schemars::schema_for!(I)
}

impl fmt::Debug for Tools {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

#[cfg(test)]
mod tests {
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Greet {
        /// Who to greet.
        name: String,
    }

    #[derive(Serialize)]
    struct Greeting {
        text: String,
    }

    fn greet(input: Greet) -> Result<Greeting, ToolError> {
        if input.name.is_empty() {
            return Err(ToolError::invalid_input("name: must not be empty"));
        }
        Ok(Greeting {
            text: format!("hello {}", input.name),
        })
    }

    #[derive(Deserialize, JsonSchema)]
    struct Nothing {}

    fn tools() -> Tools {
        Tools::new()
            .tool("greet", "Greets someone by name.", greet)
            .tool("noop", "Does nothing.", |_: Nothing| {
                Ok(serde_json::json!({}))
            })
    }

    #[test]
    fn dispatches_by_name_and_serializes_output() {
        assert_eq!(
            tools().call("greet", r#"{"name": "ada"}"#),
            Ok(r#"{"text":"hello ada"}"#.to_owned())
        );
        assert_eq!(tools().call("noop", "{}"), Ok("{}".to_owned()));
    }

    #[test]
    fn handler_errors_pass_through() {
        assert_eq!(
            tools().call("greet", r#"{"name": ""}"#),
            Err(ToolError::invalid_input("name: must not be empty"))
        );
    }

    #[test]
    fn bad_input_is_invalid_input_naming_the_field() {
        let cases = [
            (
                r#"{"name": 3}"#,
                "name: invalid type: integer `3`, expected a string",
            ),
            (r#"{}"#, "missing field `name`"),
            (
                r#"{"name": "a", "loud": true}"#,
                "loud: unknown field `loud`, expected `name`",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                tools().call("greet", input),
                Err(ToolError::invalid_input(expected)),
                "{input}"
            );
        }
    }

    #[test]
    fn unknown_tool_is_not_found_and_lists_the_tools() {
        match tools().call("shout", "{}") {
            Err(ToolError::NotFound(message)) => {
                assert!(
                    message.contains("`shout`") && message.contains("greet, noop"),
                    "{message}"
                );
            }
            other => panic!("expected not found, got {other:?}"),
        }
    }

    #[test]
    fn describe_reports_draft_2020_12_schemas() {
        let described = tools().describe();
        assert_eq!(described.len(), 2);
        assert_eq!(described[0].name, "greet");
        assert_eq!(described[0].description, "Greets someone by name.");
        let schema: serde_json::Value = match serde_json::from_str(&described[0].input_schema) {
            Ok(schema) => schema,
            Err(err) => panic!("schema is not JSON: {err}"),
        };
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["required"], serde_json::json!(["name"]));
        assert_eq!(schema["properties"]["name"]["description"], "Who to greet.");
        assert_eq!(schema["additionalProperties"], false);
    }

    #[test]
    fn validate_catches_bad_and_duplicate_names() {
        assert_eq!(tools().validate(), Ok(()));
        let noop = |_: Nothing| Ok(());
        for bad in ["", "Greet", "1st", "read-file", "a b"] {
            assert!(
                Tools::new().tool(bad, "x", noop).validate().is_err(),
                "{bad:?}"
            );
        }
        let twice = Tools::new().tool("a", "x", noop).tool("a", "y", noop);
        assert!(twice.validate().is_err_and(|e| e.contains("twice")));
    }
}
