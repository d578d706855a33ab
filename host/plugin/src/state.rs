//! What a store carries for one plugin instance: WASI context and resource
//! table, the memory limiter, per-call entropy, the data sources and the
//! log budget; and the host side of the `logging` and `data-sources` imports.

use std::sync::Arc;

use ocr_plugin_api::Method;
use ocr_plugin_sdk::{DataSourceError, DataSources};
use wasmtime::ResourceLimiter;
use wasmtime::StoreContextMut;
use wasmtime::component::{HasSelf, Linker, ResourceTable, WasmList, WasmStr};
use wasmtime_wasi::cli::WasiCliCtxView;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::ocr::plugin::{data_sources, logging, types};
use crate::sandbox::SandboxLimits;
use crate::wasi::Entropy;

/// Memory and table caps; remembers whether the memory cap was hit so the
/// resulting trap is classified as a memory limit.
pub(crate) struct Limiter {
    /// Cap on the sum of all linear memories of the instance.
    max_memory_bytes: usize,
    /// Bytes granted so far, over all memories (they never shrink).
    granted_memory_bytes: usize,
    max_table_elements: usize,
    pub(crate) memory_limit_hit: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let total = self.granted_memory_bytes.saturating_add(desired.saturating_sub(current));
        if total > self.max_memory_bytes {
            self.memory_limit_hit = true;
            wasmtime::bail!("memory growth to {total} bytes in total exceeds the {} byte cap", self.max_memory_bytes);
        }
        self.granted_memory_bytes = total;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.max_table_elements {
            wasmtime::bail!("table growth to {desired} elements exceeds the {} cap", self.max_table_elements);
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        64
    }

    fn tables(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        4
    }
}

impl CurrentCall {
    pub(crate) fn new(method: Method, seq_nr: u64) -> Self {
        Self { method, seq_nr, log_lines: 0, log_lines_dropped: 0, source_reads: 0 }
    }
}

/// The current call, for import policy and log fields.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CurrentCall {
    pub(crate) method: Method,
    pub(crate) seq_nr: u64,
    pub(crate) log_lines: u32,
    pub(crate) log_lines_dropped: u32,
    pub(crate) source_reads: u32,
}

pub(crate) struct StoreState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: Limiter,
    pub(crate) entropy: Entropy,
    pub(crate) call: CurrentCall,
    pub(crate) sources: Arc<dyn DataSources + Send + Sync>,
    pub(crate) plugin_name: Arc<str>,
    pub(crate) oracle_id: u8,
    max_log_lines: u32,
    max_log_message_bytes: usize,
}

/// Resources (pollables, streams) a plugin may hold at once: the cap bounds
/// the host memory a leaking guest can pin.
fn resource_table() -> ResourceTable {
    let mut table = ResourceTable::new();
    table.set_max_capacity(4096);
    table
}

impl StoreState {
    pub(crate) fn new(
        limits: &SandboxLimits,
        entropy: Entropy,
        sources: Arc<dyn DataSources + Send + Sync>,
        plugin_name: Arc<str>,
        oracle_id: u8,
    ) -> Self {
        // The default builder grants no preopens, no environment, no
        // arguments and no network; we add nothing.
        let wasi = WasiCtx::builder().build();
        Self {
            wasi,
            table: resource_table(),
            limiter: Limiter {
                max_memory_bytes: limits.max_memory_bytes,
                granted_memory_bytes: 0,
                max_table_elements: limits.max_table_elements,
                memory_limit_hit: false,
            },
            entropy,
            call: CurrentCall::new(Method::Create, 0),
            sources,
            plugin_name,
            oracle_id,
            max_log_lines: limits.max_log_lines_per_call,
            max_log_message_bytes: limits.max_log_message_bytes,
        }
    }

    pub(crate) fn cli(&mut self) -> WasiCliCtxView<'_> {
        WasiCliCtxView { ctx: self.wasi.cli(), table: &mut self.table }
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl types::Host for StoreState {}

/// At most `max` bytes of `s` (on a character boundary), marked when cut.
fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &s[..cut])
}

/// Most fields of one log line that are read; the rest are ignored.
const MAX_LOG_FIELDS: usize = 32;

/// Most data-source reads in one call.
const MAX_SOURCE_READS_PER_CALL: u32 = 64;

/// Adds the `ocr:plugin` imports. `logging.log` is defined by hand rather than
/// through the generated trait: generated bindings copy every argument into
/// host memory before the host sees it, and a guest can alias one large
/// string from a million list entries. Here the line budget is checked first
/// and only the bytes that are kept are read.
pub(crate) fn add_imports_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    types::add_to_linker::<StoreState, HasSelf<StoreState>>(linker, |s| s)?;
    data_sources::add_to_linker::<StoreState, HasSelf<StoreState>>(linker, |s| s)?;
    let mut logging = linker.instance("ocr:plugin/logging@0.1.0")?;
    logging.func_wrap(
        "log",
        |mut store: StoreContextMut<'_, StoreState>,
         (level, message, fields): (logging::Level, WasmStr, WasmList<(WasmStr, WasmStr)>)| {
            let state = store.data_mut();
            if state.call.log_lines >= state.max_log_lines {
                state.call.log_lines_dropped += 1;
                return Ok(());
            }
            state.call.log_lines += 1;
            let max = state.max_log_message_bytes;
            let message = truncate(&message.to_str(&store)?, max);
            let mut rendered = String::new();
            for i in 0..fields.len().min(MAX_LOG_FIELDS) {
                if rendered.len() >= max {
                    break;
                }
                if let Some(field) = fields.get(&mut store, i) {
                    let (key, value) = field?;
                    let (key, value) = (truncate(&key.to_str(&store)?, max), truncate(&value.to_str(&store)?, max));
                    rendered.push_str(&format!("{}{key}={value}", if rendered.is_empty() { "" } else { " " }));
                }
            }
            let fields = truncate(&rendered, max);
            let state = store.data();
            let (plugin, method, seq_nr, oracle) =
                (&*state.plugin_name, state.call.method.wit_name(), state.call.seq_nr, state.oracle_id);
            match level {
                logging::Level::Trace => {
                    tracing::trace!(target: "plugin", plugin, method, seq_nr, oracle, fields, "{message}")
                }
                logging::Level::Debug => {
                    tracing::debug!(target: "plugin", plugin, method, seq_nr, oracle, fields, "{message}")
                }
                logging::Level::Info => {
                    tracing::info!(target: "plugin", plugin, method, seq_nr, oracle, fields, "{message}")
                }
                logging::Level::Warn => {
                    tracing::warn!(target: "plugin", plugin, method, seq_nr, oracle, fields, "{message}")
                }
                logging::Level::Error => {
                    tracing::error!(target: "plugin", plugin, method, seq_nr, oracle, fields, "{message}")
                }
            }
            Ok(())
        },
    )?;
    Ok(())
}

impl data_sources::Host for StoreState {
    fn read(&mut self, name: String) -> Result<String, data_sources::SourceError> {
        if !self.call.method.may_read_data_sources() {
            return Err(data_sources::SourceError::NotPermitted);
        }
        if self.call.source_reads >= MAX_SOURCE_READS_PER_CALL {
            return Err(data_sources::SourceError::Unavailable(format!(
                "more than {MAX_SOURCE_READS_PER_CALL} data-source reads in one call"
            )));
        }
        self.call.source_reads += 1;
        self.sources.read(&name).map_err(|e| match e {
            DataSourceError::Unknown(n) => data_sources::SourceError::Unknown(n),
            DataSourceError::Unavailable(why) => data_sources::SourceError::Unavailable(why),
            DataSourceError::NotPermitted => data_sources::SourceError::NotPermitted,
        })
    }
}
