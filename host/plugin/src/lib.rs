//! # The sandboxed plugin host
//!
//! Loads reporting-plugin components (the `ocr:plugin` WIT world) into
//! wasmtime 48 and runs them under the rules of DESIGN.md:
//!
//! - a component is inspected before it is compiled: it must be a component,
//!   export `ocr:plugin/reporting-plugin` at a supported version, and import
//!   nothing beyond logging, data sources and the inert WASI interfaces a Rust
//!   std build needs ([`LoadError`] says exactly what is wrong);
//! - compiled code is cached on disk by sha256 and engine compatibility key,
//!   and instances come from a pre-linked `InstancePre`;
//! - deterministic methods run on a fixed fuel budget with frozen clocks and
//!   seeded randomness; local methods run under wall-clock deadlines; memory
//!   is capped and NaNs canonicalised; data sources are reachable only from
//!   `query` and `observation`;
//! - outputs are checked against the declared limits (capped by the OCR3
//!   maxima); any trap, timeout or over-limit output is a typed
//!   [`PluginCallError`](ocr_plugin_api::PluginCallError), after which the
//!   poisoned store is dropped and the next call runs on a fresh instance.
//!
//! ```no_run
//! # use std::sync::Arc;
//! use ocr_plugin_api::Plugin;
//! use ocr_plugin_host::{EngineOptions, PluginEngine};
//! use ocr_plugin_sdk::{PluginConfig, StaticDataSources};
//!
//! let engine = PluginEngine::new(EngineOptions::default())?;
//! let median = engine.load_file("target/plugins/median.wasm".as_ref())?;
//! let config = PluginConfig::for_tests(4, 1, br#"{"version":1,"value_source":"price","deviation_threshold_ppb":0,"heartbeat_seconds":60}"#.to_vec());
//! let mut plugin = median.instantiate(&config, Arc::new(StaticDataSources::new().with("price", 42)))?;
//! let observation = plugin.observation(&Default::default(), &[])?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod bindings;
mod cache;
mod component;
mod convert;
mod engine;
mod error;
mod instance;
mod sandbox;
mod state;
mod wasi;

pub use cache::{ArtifactCache, CacheOutcome};
pub use component::{CONTRACT_VERSION, ComponentInfo, inspect_component, sha256_hex};
pub use engine::{EngineOptions, LoadedPlugin, PluginEngine};
pub use error::LoadError;
pub use instance::{InstanceStats, WasmPlugin};
pub use sandbox::SandboxLimits;
