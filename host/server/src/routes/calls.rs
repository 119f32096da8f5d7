//! The tool-call path (ARCHITECTURE.md): agent allowlist → bundle → grants → runtime → event →
//! response. The event is durable before the response is sent.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use stockade_policy::{AgentProfile, Allowlist, Finding, Redactor, ToolKind};
use stockade_runtime::{CallError, LogFilter, LogScrubber, ReadableSecrets};
use stockade_storage::events::{NewEvent, kinds};

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::agents::policy_mode;
use crate::routes::{bundles, grants, shell};
use crate::snapshot::ProjectSnapshot;

/// `GET /v1/projects/{project}/tools?agent=NAME`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ToolsQuery {
    /// The agent whose allowlist filters the list.
    pub agent: String,
}

/// A tool the agent may call.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ToolView {
    name: String,
    description: String,
    #[schema(value_type = Object)]
    input_schema: Value,
}

/// `POST /v1/projects/{project}/tool-calls` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallRequest {
    /// The calling agent.
    pub agent: String,
    /// `bundle.tool`.
    pub tool: String,
    /// The tool input.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub input: Value,
}

fn empty_object() -> Value {
    json!({})
}

/// A successful call.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CallResponse {
    #[schema(value_type = Object)]
    output: Value,
    duration_ms: f64,
    event_seq: i64,
}

fn allowlist(
    state: &AppState,
    snapshot: &ProjectSnapshot,
    agent: &str,
) -> Result<Allowlist, ApiError> {
    let agent = snapshot.agents.get(agent).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "agent_not_found",
            format!("no agent `{agent}` in this project"),
        )
    })?;
    let profile = AgentProfile {
        allow: agent.allow.clone(),
        deny: agent.deny.clone(),
        read_only: agent.read_only,
    };
    // Stored profiles were valid when written; re-check so a mode change takes effect.
    profile
        .validate(policy_mode(state.config.mode))
        .map_err(|err| ApiError::new(StatusCode::FORBIDDEN, err.code(), err.to_string()))
}

/// `GET /v1/projects/{project}/tools?agent=A`: the tools agent A may call, with schemas.
#[utoipa::path(get, path = "/v1/projects/{project}/tools", tag = "tools", params(("project" = String, Path, description = "Project name"), ToolsQuery), responses((status = 200, body = Vec<ToolView>), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc)))]
pub async fn list_tools(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<ToolsQuery>, QueryRejection>,
) -> Result<Json<Vec<ToolView>>, ApiError> {
    let Path(project) = path?;
    let snapshot = caller.snapshot(&state, &project).await?;
    let Query(query) = query?;
    let allowlist = allowlist(&state, &snapshot, &query.agent)?;
    let mut tools = Vec::new();
    let mut installed: Vec<_> = snapshot.bundles.values().collect();
    installed.sort_by(|a, b| a.name.cmp(&b.name));
    for installed in installed {
        let bundle = bundles::load(&state, &snapshot.project.id, installed).await?;
        for (name, tool) in bundle.tools() {
            let full = format!("{}.{name}", installed.name);
            let grant = snapshot.grant(&installed.name, name);
            if allowlist.decide(&full, kind(&grant)).is_allowed() {
                tools.push(ToolView {
                    name: full,
                    description: tool.descriptor.description.clone(),
                    input_schema: serde_json::from_str(&tool.descriptor.input_schema)
                        .unwrap_or(Value::Null),
                });
            }
        }
    }
    if state.workspaces.available()
        && allowlist
            .decide(shell::SHELL_TOOL, ToolKind::Write)
            .is_allowed()
    {
        tools.push(ToolView {
            name: shell::SHELL_TOOL.to_owned(),
            description: shell::DESCRIPTION.to_owned(),
            input_schema: shell::input_schema(),
        });
    }
    Ok(Json(tools))
}

/// A tool whose grant can write is a write tool (read-only agents may not call it).
fn kind(grant: &grants::GrantSpec) -> ToolKind {
    ToolKind::from_writes(grant.dirs.iter().any(|d| d.access.can_write()))
}

/// [`kind`], where `workspace.shell` always writes (the project is mounted read-write).
fn tool_kind(tool: &str, grant: &grants::GrantSpec) -> ToolKind {
    if tool == shell::SHELL_TOOL {
        ToolKind::Write
    } else {
        kind(grant)
    }
}

/// `POST /v1/projects/{project}/tool-calls`.
#[utoipa::path(post, path = "/v1/projects/{project}/tool-calls", tag = "tools", params(("project" = String, Path, description = "Project name")), request_body = CallRequest, responses((status = 200, body = CallResponse), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc), (status = "5XX", body = crate::error::ErrorDoc)))]
pub async fn call(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<CallRequest>, JsonRejection>,
) -> Result<Json<CallResponse>, ApiError> {
    let started = Instant::now();
    let Path(project) = path?;
    let snapshot = caller.snapshot(&state, &project).await?;
    let project = &snapshot.project;
    let Json(request) = body?;
    let allowlist = allowlist(&state, &snapshot, &request.agent)?;
    let (bundle_name, tool_name) = request
        .tool
        .split_once('.')
        .ok_or_else(|| ApiError::bad_request("invalid_tool", "tool must be `bundle.tool`"))?;
    let grant = snapshot.grant(bundle_name, tool_name);
    let actor = format!("agent:{}/{}", project.name, request.agent);
    let event = |outcome: Value| {
        NewEvent::new(
            kinds::TOOL_CALL,
            actor.clone(),
            Some(project.name.clone()),
            json!({ "user": caller.user.name, "tool": request.tool, "grants": grant, "outcome": outcome,
                    "duration_ms": started.elapsed().as_secs_f64() * 1e3 }),
        )
    };

    if let Err(denial) = allowlist
        .decide(&request.tool, tool_kind(&request.tool, &grant))
        .into_result()
    {
        state.metrics.denied(crate::metrics::Denial::Tool);
        state
            .record(event(
                json!({ "verdict": "denied", "code": denial.code(), "reason": denial.reason() }),
            ))
            .await?;
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "tool_not_allowed",
            denial.to_string(),
        ));
    }
    let redaction = |place: &str, findings: &[Finding]| {
        NewEvent::new(
            kinds::REDACTION,
            actor.clone(),
            Some(project.name.clone()),
            json!({ "tool": request.tool, "in": place, "findings": findings }),
        )
    };
    if request.tool == shell::SHELL_TOOL {
        let grant = grants::shell_grant(&state, &project.id).await?;
        let result = shell::run(
            &state,
            project,
            &request.agent,
            &actor,
            &grant,
            &request.input,
        )
        .await;
        let outcome = match result {
            Ok(output) => Ok(Settled {
                bytes: output.to_string().len(),
                value: output,
                duration: started.elapsed(),
            }),
            Err(err) => {
                let (status, code) = (err.status(), err.code());
                Err(Failed {
                    code,
                    message: err.message().to_owned(),
                    error: Box::new(move |text| ApiError::new(status, code, text)),
                })
            }
        };
        return finish(&state, &state.redactor(), &event, &redaction, outcome).await;
    }
    let installed = snapshot.bundles.get(bundle_name).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_tool",
            format!("no bundle `{bundle_name}` installed"),
        )
    })?;
    let bundle = bundles::load(&state, &project.id, installed).await?;
    let mut egress = grants::egress(&state, &grant, &project.name, &request.agent)?;
    let mut readable = ReadableSecrets::none();
    if !grant.secrets.is_empty() {
        let (injections, read) = grants::call_secrets(&state, &grant, &project.id).await?;
        for injection in injections {
            egress = egress.with_secret(injection);
        }
        readable = read;
    }
    // Nothing leaves the server carrying a stored secret or a secret-shaped string: log
    // records, outputs and error messages are scrubbed, and each scrub is an event (naming
    // secrets, never values).
    let redactor = state.redactor();
    let log_redaction = Arc::new(LogRedaction::new(Arc::clone(&redactor)));
    let tool_grants = grants::resolve(project, &grant)?
        .with_egress(egress)
        .with_secrets(readable)
        .with_log_filter(LogFilter::new(log_redaction.clone()));
    let input = request.input.to_string();
    let result = bundle
        .call(
            &state.runtime,
            tool_name,
            &input,
            &tool_grants,
            &grant.limits,
        )
        .await;
    // Every outbound request and refusal is its own event, committed with the call's.
    let egress = tool_grants.egress.log.records();
    let egress_events = egress.iter().map(|record| {
        state.record(NewEvent::new(
            kinds::EGRESS,
            actor.clone(),
            Some(project.name.clone()),
            json!({ "tool": request.tool, "request": record }),
        ))
    });
    for appended in futures_util::future::join_all(egress_events).await {
        appended?;
    }
    for secret in tool_grants.secrets.reads() {
        state
            .record(NewEvent::new(
                kinds::SECRET_READ,
                actor.clone(),
                Some(project.name.clone()),
                json!({ "tool": request.tool, "secret": secret }),
            ))
            .await?;
    }
    let log_findings = log_redaction.take();
    if !log_findings.is_empty() {
        state.record(redaction("log", &log_findings)).await?;
    }
    let outcome = match result {
        Ok(output) => Ok(Settled {
            bytes: output.output.len(),
            value: serde_json::from_str(&output.output).unwrap_or(Value::String(output.output)),
            duration: output.duration,
        }),
        Err(err) => Err(Failed {
            code: err.code(),
            message: err.to_string(),
            error: Box::new(move |text| call_error(&err, text)),
        }),
    };
    finish(&state, &redactor, &event, &redaction, outcome).await
}

/// A tool's output, before redaction.
struct Settled {
    value: Value,
    /// Size of the output as the tool produced it.
    bytes: usize,
    duration: std::time::Duration,
}

/// A failed call, before redaction: its code, its message, and how to answer with the
/// redacted message.
struct Failed {
    code: &'static str,
    message: String,
    error: Box<dyn FnOnce(String) -> ApiError + Send>,
}

/// The end of every tool call, plugin or `workspace.shell`: output or error message scrubbed
/// (each scrub a `redaction` event), then the call's event, then the answer.
async fn finish(
    state: &AppState,
    redactor: &Redactor,
    event: &(dyn Fn(Value) -> NewEvent + Sync),
    redaction: &(dyn Fn(&str, &[Finding]) -> NewEvent + Sync),
    outcome: Result<Settled, Failed>,
) -> Result<Json<CallResponse>, ApiError> {
    match outcome {
        Ok(settled) => {
            let scrubbed = redactor.redact_json(&settled.value);
            if !scrubbed.is_clean() {
                state
                    .record(redaction("output", &scrubbed.findings))
                    .await?;
            }
            let seq = state
                .record(event(
                    json!({ "verdict": "allowed", "ok": true, "output_bytes": settled.bytes }),
                ))
                .await?;
            Ok(Json(CallResponse {
                output: scrubbed.value,
                duration_ms: settled.duration.as_secs_f64() * 1e3,
                event_seq: seq,
            }))
        }
        Err(failed) => {
            let scrubbed = redactor.redact(&failed.message);
            if !scrubbed.is_clean() {
                state.record(redaction("error", &scrubbed.findings)).await?;
            }
            state
                .record(event(json!({ "verdict": "allowed", "ok": false, "code": failed.code, "message": scrubbed.text })))
                .await?;
            Err((failed.error)(scrubbed.text))
        }
    }
}

/// The HTTP status for each runtime error code; `message` is the error's text, redacted.
fn call_error(err: &CallError, message: String) -> ApiError {
    let status = match err.code() {
        "invalid_input" => StatusCode::BAD_REQUEST,
        "not_found" | "unknown_tool" => StatusCode::NOT_FOUND,
        "denied" | "grant_exceeds_request" => StatusCode::FORBIDDEN,
        "deadline_exceeded" => StatusCode::GATEWAY_TIMEOUT,
        "egress_denied" | "secret_not_granted" => StatusCode::FORBIDDEN,
        "egress_rate_limited" | "egress_too_many_requests" => StatusCode::TOO_MANY_REQUESTS,
        "capacity_exhausted" => StatusCode::SERVICE_UNAVAILABLE,
        "internal" => return ApiError::internal(err),
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    ApiError::new(status, err.code(), message)
}

/// A call's plugin log records through the server's redactor, keeping what it removed for the
/// call's redaction event.
struct LogRedaction {
    redactor: Arc<Redactor>,
    findings: Mutex<Vec<Finding>>,
}

impl LogRedaction {
    fn new(redactor: Arc<Redactor>) -> Self {
        Self {
            redactor,
            findings: Mutex::new(Vec::new()),
        }
    }

    /// Everything removed so far, one finding per kind and secret with the counts summed.
    fn take(&self) -> Vec<Finding> {
        let found = std::mem::take(&mut *self.findings.lock().unwrap_or_else(|e| e.into_inner()));
        let mut merged: Vec<Finding> = Vec::with_capacity(found.len());
        for finding in found {
            match merged
                .iter_mut()
                .find(|m| m.kind == finding.kind && m.secret == finding.secret)
            {
                Some(m) => m.count += finding.count,
                None => merged.push(finding),
            }
        }
        merged
    }
}

impl LogScrubber for LogRedaction {
    fn scrub(&self, text: &str) -> Option<String> {
        let redacted = self.redactor.redact(text);
        if redacted.is_clean() {
            return None;
        }
        self.findings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(redacted.findings);
        Some(redacted.text)
    }
}
