//! `stockade tools` and `stockade call`: what an agent may call, and calling it, exactly as the
//! agent would (`/v1/projects/{project}/tools` and `/tool-calls`).

use std::io::Read;

use clap::Args;
use serde::Deserialize;
use serde_json::{Value, json};

use super::ProjectOpt;
use super::client::{ApiArgs, CliError, Client, print_json, segment};
use super::output::{Table, clip};

/// Arguments of `stockade tools`.
#[derive(Debug, Args)]
pub struct ToolsArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(flatten)]
    pub project: ProjectOpt,
    /// The agent whose allowlist (and read-only flag) filters the list.
    #[arg(long, value_name = "AGENT")]
    pub agent: String,
}

/// Arguments of `stockade call`.
#[derive(Debug, Args)]
pub struct CallArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(flatten)]
    pub project: ProjectOpt,
    /// The agent to call as: its allowlist decides, and the event log records it.
    #[arg(long, value_name = "AGENT")]
    pub agent: String,
    /// The tool, as `bundle.tool` (see `stockade tools`).
    pub tool: String,
    /// The tool's input as a JSON object, or `-` to read it from stdin.
    #[arg(long, value_name = "JSON", default_value = "{}")]
    pub input: String,
}

/// A tool the agent may call.
#[derive(Debug, Deserialize)]
struct ToolView {
    name: String,
    description: String,
}

/// A successful call.
#[derive(Debug, Deserialize)]
struct CallResponse {
    output: Value,
    duration_ms: f64,
    event_seq: i64,
}

/// Runs `stockade tools`.
pub fn tools(args: ToolsArgs) -> Result<(), CliError> {
    let client = Client::new(&args.api)?;
    let path = format!("/v1/projects/{}/tools", segment(&args.project.project));
    client
        .get(&path, &[("agent", args.agent.clone())])?
        .show(&client, |tools: Vec<ToolView>| {
            let mut table = Table::new(["TOOL", "DESCRIPTION"]);
            for tool in tools {
                let description = tool.description.lines().next().unwrap_or_default();
                table.row([tool.name, clip(description, 100)]);
            }
            table.print(&format!(
                "agent {} may call no tools (check its --allow globs and the tools' grants)",
                args.agent
            ));
        })
}

/// Runs `stockade call`.
pub fn call(args: CallArgs) -> Result<(), CliError> {
    let input = if args.input == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|err| CliError::Usage(format!("cannot read the input from stdin: {err}")))?;
        text
    } else {
        args.input
    };
    let input: Value = serde_json::from_str(&input)
        .map_err(|err| CliError::Usage(format!("--input is not valid JSON: {err}")))?;
    let client = Client::new(&args.api)?;
    let path = format!("/v1/projects/{}/tool-calls", segment(&args.project.project));
    let body = json!({ "agent": args.agent, "tool": args.tool, "input": input });
    client.post(&path, &body)?.show(&client, |r: CallResponse| {
        print_json(&r.output);
        eprintln!(
            "ok: {} in {:.1} ms (event seq {})",
            args.tool, r.duration_ms, r.event_seq
        );
    })
}
