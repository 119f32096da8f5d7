//! The [`Runtime`]: one engine, one linker, the compiled-component cache and the epoch ticker.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::Linker;
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig,
};

use crate::bindings::{Plugin, PluginPre, ToolDescriptor};
use crate::cache::{CacheOutcome, ComponentCache};
use crate::call::{self, CallOutput, CallState, ToolCall};
use crate::error::CallError;
use crate::limits::Limits;

/// How the runtime is sized. The defaults suit a 2-core server.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Directory for compiled components. `None` compiles on every load.
    pub cache_dir: Option<PathBuf>,
    /// Instances that may run at once (pool slots). Default 256.
    pub max_instances: u32,
    /// The highest per-call memory cap a tool may be given. Default 1 GiB.
    pub max_memory_bytes: u64,
    /// The longest deadline a tool may be given. Default 5 minutes.
    pub max_deadline: Duration,
    /// Interval of the epoch ticker; deadlines are checked at this granularity. Default 10 ms.
    pub epoch_tick: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            max_instances: 256,
            max_memory_bytes: 1 << 30,
            max_deadline: Duration::from_secs(300),
            epoch_tick: Duration::from_millis(10),
        }
    }
}

/// Why the runtime could not start or load a component.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The engine could not be configured.
    #[error("cannot configure the WebAssembly engine: {0}")]
    Engine(String),
    /// The cache directory is unusable.
    #[error("compiled-component cache at {path}: {source}")]
    Cache {
        /// The cache directory.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The bytes are not a valid component.
    #[error("`{name}` is not a valid WebAssembly component: {reason}")]
    InvalidComponent {
        /// Label of the component.
        name: String,
        /// The compiler's message.
        reason: String,
    },
    /// The component does not implement the plugin world (missing exports or unknown imports).
    #[error("`{name}` is not a Stockade plugin: {reason}")]
    NotAPlugin {
        /// Label of the component.
        name: String,
        /// What is missing or unsupported.
        reason: String,
    },
    /// `describe` failed or returned unusable descriptors.
    #[error("`{name}` failed to describe its tools: {reason}")]
    Describe {
        /// Label of the component.
        name: String,
        /// What went wrong.
        reason: String,
    },
}

/// The plugin runtime. Cheap to share behind an `Arc`; calls run concurrently.
pub struct Runtime {
    engine: Engine,
    linker: Linker<CallState>,
    cache: Option<ComponentCache>,
    config: RuntimeConfig,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A compiled, pre-instantiated and described component, ready for calls.
pub struct LoadedComponent {
    name: Arc<str>,
    sha256: [u8; 32],
    pre: PluginPre<CallState>,
    tools: Vec<ToolDescriptor>,
    cache: CacheOutcome,
    load_time: Duration,
}

impl std::fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedComponent")
            .field("name", &self.name)
            .field("sha256", &self.sha256_hex())
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl LoadedComponent {
    /// The label given at load.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// SHA-256 of the component bytes.
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }

    /// SHA-256 of the component bytes, lowercase hex.
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }

    /// The tools the component described.
    pub fn tools(&self) -> &[ToolDescriptor] {
        &self.tools
    }

    /// Whether the compiled code came from the cache.
    pub fn cache_outcome(&self) -> &CacheOutcome {
        &self.cache
    }

    /// Time to compile or load, pre-instantiate and describe.
    pub fn load_time(&self) -> Duration {
        self.load_time
    }
}

impl Runtime {
    /// Builds the engine (pooling allocator, epoch interruption), the linker and the cache, and
    /// starts the epoch ticker. The ticker stops when the runtime is dropped.
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let engine = Engine::new(&engine_config(&config))
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        Plugin::add_to_linker::<_, wasmtime::component::HasSelf<CallState>>(&mut linker, |state| {
            state
        })
        .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let cache =
            match &config.cache_dir {
                Some(dir) => Some(ComponentCache::open(&engine, dir).map_err(|source| {
                    RuntimeError::Cache {
                        path: dir.clone(),
                        source,
                    }
                })?),
                None => None,
            };
        start_epoch_ticker(&engine, config.epoch_tick)
            .map_err(|err| RuntimeError::Engine(format!("cannot start the epoch ticker: {err}")))?;
        Ok(Self {
            engine,
            linker,
            cache,
            config,
        })
    }

    /// The engine, for embedders that need it (benchmarks, tooling).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The configuration the runtime was built with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Compiles `wasm` (or loads it from the cache), pre-instantiates it against the plugin
    /// world and calls `describe` once. `name` labels logs and errors.
    pub async fn load(&self, name: &str, wasm: Vec<u8>) -> Result<LoadedComponent, RuntimeError> {
        let started = Instant::now();
        let name: Arc<str> = name.into();
        let engine = self.engine.clone();
        let cache = self.cache.clone();
        let label = name.to_string();
        // Compiling takes tens of milliseconds of CPU: keep it off the async workers.
        let (component, sha256, outcome) = tokio::task::spawn_blocking(move || {
            crate::cache::compile_or_load(&engine, cache.as_ref(), &wasm)
        })
        .await
        .map_err(|err| RuntimeError::Engine(err.to_string()))?
        .map_err(|reason| RuntimeError::InvalidComponent {
            name: label.clone(),
            reason,
        })?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(PluginPre::new)
            .map_err(|err| RuntimeError::NotAPlugin {
                name: name.to_string(),
                reason: format!("{err:#}"),
            })?;
        let tools = call::describe(&self.engine, &pre, name.clone(), Limits::default())
            .await
            .map_err(|err| RuntimeError::Describe {
                name: name.to_string(),
                reason: err.to_string(),
            })?;
        validate_descriptors(&tools).map_err(|reason| RuntimeError::Describe {
            name: name.to_string(),
            reason,
        })?;
        Ok(LoadedComponent {
            name,
            sha256,
            pre,
            tools,
            cache: outcome,
            load_time: started.elapsed(),
        })
    }

    /// Runs one tool call in a fresh instance with exactly `call.grants` and `call.limits`.
    pub async fn call(
        &self,
        component: &LoadedComponent,
        call: ToolCall<'_>,
    ) -> Result<CallOutput, CallError> {
        if !component.tools.iter().any(|tool| tool.name == call.tool) {
            return Err(CallError::UnknownTool(call.tool.to_owned()));
        }
        self.check_limits(&call.limits)?;
        call::call(&self.engine, &component.pre, component.name.clone(), call).await
    }

    /// Benchmark baseline only: calls `tool` on a fresh instance of the same component with
    /// bare wasmtime (a default WASI context, no grants, limits, deadline or error mapping), so
    /// the cost of the policy layer can be measured. Never use it to serve calls.
    #[doc(hidden)]
    pub async fn baseline_call(
        &self,
        component: &LoadedComponent,
        tool: &str,
        input: &str,
    ) -> Result<String, String> {
        match call::bare_call(&self.engine, &component.pre, tool, input).await {
            Ok(Ok(output)) => Ok(output),
            Ok(Err(err)) => Err(format!("{err:?}")),
            Err(err) => Err(format!("{err:#}")),
        }
    }

    fn check_limits(&self, limits: &Limits) -> Result<(), CallError> {
        if limits.memory_bytes > self.config.max_memory_bytes {
            return Err(CallError::LimitOutOfRange(format!(
                "memory {} MiB is above this server's maximum of {} MiB",
                limits.memory_bytes >> 20,
                self.config.max_memory_bytes >> 20
            )));
        }
        if limits.deadline > self.config.max_deadline || limits.deadline.is_zero() {
            return Err(CallError::LimitOutOfRange(format!(
                "deadline {} ms is outside 1..={} ms",
                limits.deadline.as_millis(),
                self.config.max_deadline.as_millis()
            )));
        }
        Ok(())
    }
}

fn engine_config(config: &RuntimeConfig) -> Config {
    let mut pool = PoolingAllocationConfig::default();
    let slots = config.max_instances;
    // A plugin component is a handful of core instances (the module plus adapter shims).
    pool.total_component_instances(slots)
        .total_core_instances(slots.saturating_mul(8))
        .total_memories(slots.saturating_mul(2))
        .total_tables(slots.saturating_mul(8))
        .total_stacks(slots)
        .max_memory_size(usize::try_from(config.max_memory_bytes).unwrap_or(usize::MAX))
        // Keeping the first pages of each slot resident turns re-zeroing into a memset instead
        // of a page fault storm; this is what lets fresh-instance calls scale across cores.
        .linear_memory_keep_resident(1 << 20)
        .table_keep_resident(64 << 10)
        .async_stack_keep_resident(64 << 10)
        .pagemap_scan(Enabled::Auto);

    let mut wasm = Config::new();
    wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .epoch_interruption(true)
        .cranelift_opt_level(OptLevel::Speed)
        .wasm_component_model(true)
        // Plugins are synchronous exports; component-model async state is dead weight per call.
        .concurrency_support(false);
    wasm
}

/// Advances the engine epoch every `tick` until the engine is dropped.
fn start_epoch_ticker(engine: &Engine, tick: Duration) -> std::io::Result<()> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("stockade-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(tick);
            }
        })
        .map(drop)
}

fn validate_descriptors(tools: &[ToolDescriptor]) -> Result<(), String> {
    for (i, tool) in tools.iter().enumerate() {
        if tools[..i].iter().any(|t| t.name == tool.name) {
            return Err(format!("tool `{}` is described twice", tool.name));
        }
        let schema: serde_json::Value =
            serde_json::from_str(&tool.input_schema).map_err(|err| {
                format!(
                    "tool `{}` has an input schema that is not JSON: {err}",
                    tool.name
                )
            })?;
        if !schema.is_object() {
            return Err(format!(
                "tool `{}` has an input schema that is not a JSON object",
                tool.name
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_and_components_are_shareable_across_tasks() {
        fn check<T: Send + Sync>() {}
        check::<Runtime>();
        check::<LoadedComponent>();
    }
}
