//! `stockade events`: the event log over `/v1/events` (members see their projects' events,
//! admins all). `stockade audit verify` checks the chain itself.

use clap::Args;
use serde::Deserialize;
use serde_json::Value;

use super::client::{ApiArgs, CliError, Client};
use super::output::{Table, clip, timestamp};

/// Arguments of `stockade events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// Only this project's events.
    #[arg(long, short = 'p', value_name = "PROJECT")]
    pub project: Option<String>,
    /// Only this kind: `tool_call`, `auth_failure`, `admin`, ...
    #[arg(long, value_name = "KIND")]
    pub kind: Option<String>,
    /// Only events after this sequence number (for paging: the server says where to go on).
    #[arg(long, value_name = "SEQ")]
    pub after_seq: Option<i64>,
    /// At most this many events (server default 100, at most 1000).
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
}

/// One event.
#[derive(Debug, Deserialize)]
struct EventView {
    seq: i64,
    ts: i64,
    kind: String,
    actor: String,
    project: Option<String>,
    payload: Value,
}

/// A page of events.
#[derive(Debug, Deserialize)]
struct EventsPage {
    events: Vec<EventView>,
    next_after_seq: Option<i64>,
}

/// Runs `stockade events`.
pub fn run(args: EventsArgs) -> Result<(), CliError> {
    let client = Client::new(&args.api)?;
    let mut query = Vec::new();
    if let Some(project) = args.project {
        query.push(("project", project));
    }
    if let Some(kind) = args.kind {
        query.push(("kind", kind));
    }
    if let Some(after) = args.after_seq {
        query.push(("after_seq", after.to_string()));
    }
    if let Some(limit) = args.limit {
        query.push(("limit", limit.to_string()));
    }
    client
        .get("/v1/events", &query)?
        .show(&client, |page: EventsPage| {
            let mut table = Table::new(["SEQ", "TIME", "KIND", "ACTOR", "PROJECT", "DETAIL"]);
            for e in page.events {
                table.row([
                    e.seq.to_string(),
                    timestamp(e.ts),
                    e.kind,
                    e.actor,
                    e.project.unwrap_or_else(|| "-".into()),
                    clip(&summary(&e.payload), 80),
                ]);
            }
            table.print("no events");
            if let Some(next) = page.next_after_seq {
                eprintln!("more events: --after-seq {next}");
            }
        })
}

/// The payload as `key=value` pairs, the most telling keys first.
fn summary(payload: &Value) -> String {
    let Some(object) = payload.as_object() else {
        return payload.to_string();
    };
    const FIRST: [&str; 3] = ["action", "tool", "outcome"];
    let first = FIRST.iter().filter_map(|key| object.get_key_value(*key));
    let rest = object
        .iter()
        .filter(|(key, _)| !FIRST.contains(&key.as_str()));
    first
        .chain(rest)
        .map(|(key, value)| match value {
            Value::String(s) => format!("{key}={s}"),
            other => format!("{key}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn summaries_lead_with_the_action_or_tool() {
        let payload = json!({ "root": "/srv/demo", "action": "project_create" });
        assert_eq!(
            super::summary(&payload),
            "action=project_create root=/srv/demo"
        );
        let payload =
            json!({ "duration_ms": 1.5, "outcome": { "ok": true }, "tool": "fs.read_file" });
        assert_eq!(
            super::summary(&payload),
            "tool=fs.read_file outcome={\"ok\":true} duration_ms=1.5"
        );
    }
}
