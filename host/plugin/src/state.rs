//! What a store carries for one plugin instance: WASI context and resource
//! table, the memory limiter, per-call entropy, the data sources and the
//! log budget; and the host side of the `logging` and `data-sources` imports.

use std::sync::Arc;

use ocr_plugin_api::Method;
use ocr_plugin_sdk::{DataSourceError, DataSources};
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::WasiCliCtxView;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::ocr::plugin::{data_sources, logging, types};
use crate::sandbox::SandboxLimits;
use crate::wasi::Entropy;

/// Memory and table caps; remembers whether the memory cap was hit so the
/// resulting trap is classified as a memory limit.
pub(crate) struct Limiter {
    max_memory_bytes: usize,
    max_table_elements: usize,
    pub(crate) memory_limit_hit: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.max_memory_bytes {
            self.memory_limit_hit = true;
            wasmtime::bail!("memory growth to {desired} bytes exceeds the {} byte cap", self.max_memory_bytes);
        }
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

/// The current call, for import policy and log fields.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CurrentCall {
    pub(crate) method: Method,
    pub(crate) seq_nr: u64,
    pub(crate) log_lines: u32,
    pub(crate) log_lines_dropped: u32,
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
            table: ResourceTable::new(),
            limiter: Limiter {
                max_memory_bytes: limits.max_memory_bytes,
                max_table_elements: limits.max_table_elements,
                memory_limit_hit: false,
            },
            entropy,
            call: CurrentCall { method: Method::Create, seq_nr: 0, log_lines: 0, log_lines_dropped: 0 },
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

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

impl logging::Host for StoreState {
    fn log(&mut self, level: logging::Level, message: String, fields: Vec<(String, String)>) {
        if self.call.log_lines >= self.max_log_lines {
            self.call.log_lines_dropped += 1;
            return;
        }
        self.call.log_lines += 1;
        let message = truncate(message, self.max_log_message_bytes);
        let fields = truncate(
            fields.iter().take(32).map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "),
            self.max_log_message_bytes,
        );
        let (plugin, method, seq_nr, oracle) =
            (&*self.plugin_name, self.call.method.wit_name(), self.call.seq_nr, self.oracle_id);
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
    }
}

impl data_sources::Host for StoreState {
    fn read(&mut self, name: String) -> Result<String, data_sources::SourceError> {
        if !self.call.method.may_read_data_sources() {
            return Err(data_sources::SourceError::NotPermitted);
        }
        self.sources.read(&name).map_err(|e| match e {
            DataSourceError::Unknown(n) => data_sources::SourceError::Unknown(n),
            DataSourceError::Unavailable(why) => data_sources::SourceError::Unavailable(why),
            DataSourceError::NotPermitted => data_sources::SourceError::NotPermitted,
        })
    }
}
