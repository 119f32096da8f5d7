//! One call in one fresh `Store`: build the sandbox from the tool's grants, run under the
//! deadline and memory cap, and turn whatever happened into output or a [`CallError`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store, Trap, UpdateDeadline};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use stockade_egress::SocketProtocol;

use crate::bindings::{PluginPre, ToolDescriptor, ToolError};
use crate::egress::{Egress, EgressHooks};
use crate::error::CallError;
use crate::grants::ToolGrants;
use crate::limits::{CallLimiter, Limits};
use crate::readable::{LogFilter, ReadableSecrets};

/// A request to run one tool once.
#[derive(Debug, Clone, Copy)]
pub struct ToolCall<'a> {
    /// The tool name, as the component describes it.
    pub tool: &'a str,
    /// The input, JSON text.
    pub input: &'a str,
    /// What this call may touch.
    pub grants: &'a ToolGrants,
    /// Memory, deadline and output caps.
    pub limits: Limits,
}

/// What a successful call returns.
#[derive(Debug, Clone)]
pub struct CallOutput {
    /// The output, JSON text, at most `limits.output_bytes` long.
    pub output: String,
    /// Wall-clock time from store creation to the result.
    pub duration: Duration,
}

/// Data of the per-call `Store`: the WASI context built from the grants, the limiter, and
/// labels for logs. Dropped with the store at the end of the call.
pub(crate) struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    egress: EgressHooks,
    limiter: CallLimiter,
    pub(crate) component: Arc<str>,
    pub(crate) tool: Arc<str>,
    pub(crate) log_records: u32,
    pub(crate) secrets: ReadableSecrets,
    pub(crate) log_filter: LogFilter,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.egress,
        }
    }
}

/// Builds the sandbox: nothing but the granted directories, and outbound network only through
/// the egress policy. No env, args, stdio or name lookup.
fn new_store(
    engine: &Engine,
    component: Arc<str>,
    tool: Arc<str>,
    grants: &ToolGrants,
    limits: &Limits,
) -> Result<Store<CallState>, CallError> {
    let egress = EgressHooks::new(grants.egress.clone());
    let mut wasi = WasiCtx::builder();
    wasi.allow_tcp(grants.egress.allows_sockets(SocketProtocol::Tcp))
        .allow_udp(grants.egress.allows_sockets(SocketProtocol::Udp))
        .allow_ip_name_lookup(false)
        .socket_addr_check(egress.socket_check());
    for dir in &grants.dirs {
        let perms = if dir.access().can_write() {
            FsPerms::ReadWrite
        } else {
            FsPerms::ReadOnly
        };
        wasi.preopened_dir(dir.host(), dir.mount().as_str(), perms)
            .map_err(|err| {
                CallError::Internal(format!(
                    "cannot open granted directory {}: {err}",
                    dir.host().display()
                ))
            })?;
    }
    let state = CallState {
        wasi: wasi.build(),
        table: ResourceTable::new(),
        http: WasiHttpCtx::new(),
        egress,
        limiter: CallLimiter::new(limits),
        component,
        tool,
        log_records: 0,
        secrets: grants.secrets.clone(),
        log_filter: grants.log.clone(),
    };
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limiter);
    let deadline = Instant::now() + limits.deadline;
    store.set_epoch_deadline(1);
    // Each epoch tick either yields to the executor (so a spinning guest does not hold a worker
    // thread) or, past the deadline, interrupts the guest.
    store.epoch_deadline_callback(move |_| {
        Ok(if Instant::now() >= deadline {
            UpdateDeadline::Interrupt
        } else {
            UpdateDeadline::Yield(1)
        })
    });
    Ok(store)
}

/// Calls `describe` in a fresh instance with no grants.
pub(crate) async fn describe(
    engine: &Engine,
    pre: &PluginPre<CallState>,
    component: Arc<str>,
    limits: Limits,
) -> Result<Vec<ToolDescriptor>, CallError> {
    let mut store = new_store(
        engine,
        component,
        "describe".into(),
        &ToolGrants::none(),
        &limits,
    )?;
    let run = async {
        let plugin = pre.instantiate_async(&mut store).await?;
        plugin
            .stockade_plugin_tools()
            .call_describe(&mut store)
            .await
    };
    let result = with_deadline(limits.deadline, run).await;
    settle(result, &store, &limits)
}

/// Runs one tool call in a fresh instance.
pub(crate) async fn call(
    engine: &Engine,
    pre: &PluginPre<CallState>,
    component: Arc<str>,
    call: ToolCall<'_>,
) -> Result<CallOutput, CallError> {
    let started = Instant::now();
    let limits = call.limits;
    let mut store = new_store(engine, component, call.tool.into(), call.grants, &limits)?;
    let run = async {
        let plugin = pre.instantiate_async(&mut store).await?;
        plugin
            .stockade_plugin_tools()
            .call_call(&mut store, call.tool, call.input)
            .await
    };
    let result = with_deadline(limits.deadline, run).await;
    let output = settle(result, &store, &limits)?.map_err(|err| {
        if store.data().limiter.memory_refused {
            return CallError::MemoryLimit(limits.memory_bytes);
        }
        // A refused outbound request explains the failure better than the plugin's wording.
        if let Some((code, reason)) = call.grants.egress.log.first_denial() {
            return CallError::Egress {
                code: egress_code(&code),
                reason,
            };
        }
        match err {
            ToolError::InvalidInput(msg) => CallError::InvalidInput(msg),
            ToolError::NotFound(msg) => CallError::NotFound(msg),
            ToolError::Denied(msg) => CallError::Denied(msg),
            ToolError::Failed(msg) => CallError::ToolFailed(msg),
        }
    })?;
    let size = output.len() as u64;
    if size > limits.output_bytes {
        return Err(CallError::OutputTooLarge {
            size,
            limit: limits.output_bytes,
        });
    }
    Ok(CallOutput {
        output,
        duration: started.elapsed(),
    })
}

/// The benchmark baseline: the same engine, component and instance allocator, with no policy
/// layer (no grants, limiter, deadline, timeout or result mapping).
pub(crate) async fn bare_call(
    engine: &Engine,
    pre: &PluginPre<CallState>,
    tool: &str,
    input: &str,
) -> wasmtime::Result<Result<String, ToolError>> {
    let state = CallState {
        wasi: WasiCtx::builder().build(),
        table: ResourceTable::new(),
        http: WasiHttpCtx::new(),
        egress: EgressHooks::new(Egress::none()),
        limiter: CallLimiter::new(&Limits::default()),
        component: Arc::from("baseline"),
        tool: Arc::from(tool),
        log_records: 0,
        secrets: ReadableSecrets::none(),
        log_filter: LogFilter::default(),
    };
    let mut store = Store::new(engine, state);
    // Far beyond any run (current epoch + u64::MAX would wrap into the past).
    store.set_epoch_deadline(1 << 40);
    let plugin = pre.instantiate_async(&mut store).await?;
    plugin
        .stockade_plugin_tools()
        .call_call(&mut store, tool, input)
        .await
}

/// The call-level code for a recorded refusal: the caps and secret injection keep their own
/// codes, every policy refusal is `egress_denied` (its detailed code is in the event).
fn egress_code(code: &str) -> &'static str {
    use crate::egress::codes;
    match code {
        codes::RATE_LIMITED => codes::RATE_LIMITED,
        codes::TOO_MANY_REQUESTS => codes::TOO_MANY_REQUESTS,
        codes::REQUEST_TOO_LARGE => codes::REQUEST_TOO_LARGE,
        codes::RESPONSE_TOO_LARGE => codes::RESPONSE_TOO_LARGE,
        codes::SECRET_NOT_GRANTED => codes::SECRET_NOT_GRANTED,
        codes::SECRET_INVALID_HEADER => codes::SECRET_INVALID_HEADER,
        _ => "egress_denied",
    }
}

/// The epoch callback interrupts a running guest at the deadline; this outer timeout also ends
/// a call that is blocked in a host function (a sleep, a slow read) past it.
async fn with_deadline<T>(
    deadline: Duration,
    run: impl Future<Output = wasmtime::Result<T>>,
) -> Option<wasmtime::Result<T>> {
    const GRACE: Duration = Duration::from_millis(50);
    tokio::time::timeout(deadline + GRACE, run).await.ok()
}

/// Maps the outcome of running guest code to a [`CallError`], consulting the store for limits
/// the guest ran into.
fn settle<T>(
    result: Option<wasmtime::Result<T>>,
    store: &Store<CallState>,
    limits: &Limits,
) -> Result<T, CallError> {
    let err = match result {
        None => return Err(CallError::DeadlineExceeded(limits.deadline)),
        Some(Ok(value)) => return Ok(value),
        Some(Err(err)) => err,
    };
    if store.data().limiter.memory_refused {
        return Err(CallError::MemoryLimit(limits.memory_bytes));
    }
    if let Some(trap) = err.downcast_ref::<Trap>() {
        return Err(match trap {
            Trap::Interrupt => CallError::DeadlineExceeded(limits.deadline),
            Trap::StackOverflow => CallError::PluginTrapped("stack overflow".into()),
            other => CallError::PluginTrapped(other.to_string()),
        });
    }
    if err
        .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
    {
        return Err(CallError::Capacity(err.to_string()));
    }
    Err(CallError::Internal(format!("{err:#}")))
}
