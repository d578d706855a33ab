//! # The guest SDK for OCR3 reporting plugins
//!
//! A reporting plugin decides what the oracles observe, how observations become
//! an outcome, and which reports the network signs and sends on chain. You
//! implement [`ReportingPlugin`] for a type, export it with [`export_plugin!`],
//! and build with `cargo build --release --target wasm32-wasip2`: the result is
//! a WebAssembly component of the `ocr:plugin/reporting-plugin-world@0.1.0`
//! world (see `wit/` in the repository) that any node can load. The same type
//! also runs natively, so you can unit-test it and run it in simulators without
//! wasm.
//!
//! ## A complete minimal plugin
//!
//! Every oracle observes a counter from a data source; the outcome is the
//! median of at least 2f+1 observations, and each outcome becomes one report.
//!
//! ```
//! use ocr_plugin_sdk::{
//!     abi, AttributedObservationRef, DataSources, OutcomeContext, PluginConfig, PluginError,
//!     PluginInfo, PluginLimits, Quorum, ReportPlus, ReportingPlugin, SeqNr,
//! };
//!
//! pub struct Counter {
//!     config: PluginConfig,
//! }
//!
//! impl ReportingPlugin for Counter {
//!     fn new(config: &PluginConfig) -> Result<(Self, PluginInfo), PluginError> {
//!         let info = PluginInfo {
//!             name: "counter".into(),
//!             limits: PluginLimits {
//!                 max_query_length: 0,
//!                 max_observation_length: 16,
//!                 max_outcome_length: 16,
//!                 max_report_length: 32,
//!                 max_report_count: 1,
//!             },
//!         };
//!         Ok((Counter { config: config.clone() }, info))
//!     }
//!
//!     fn observation(
//!         &self,
//!         _ctx: &OutcomeContext,
//!         _query: &[u8],
//!         sources: &dyn DataSources,
//!     ) -> Result<Vec<u8>, PluginError> {
//!         Ok(sources.read_integer("counter")?.to_be_bytes().to_vec())
//!     }
//!
//!     fn validate_observation(
//!         &self,
//!         _ctx: &OutcomeContext,
//!         _query: &[u8],
//!         ao: AttributedObservationRef<'_>,
//!     ) -> Result<(), PluginError> {
//!         if ao.observation.len() != 16 {
//!             return Err(PluginError::invalid_input("observation is not 16 bytes"));
//!         }
//!         Ok(())
//!     }
//!
//!     fn observation_quorum(
//!         &self,
//!         _ctx: &OutcomeContext,
//!         _query: &[u8],
//!         aos: &[AttributedObservationRef<'_>],
//!     ) -> Result<bool, PluginError> {
//!         Ok(self.config.is_quorum(Quorum::TwoFPlusOne, aos.len()))
//!     }
//!
//!     fn outcome(
//!         &self,
//!         _ctx: &OutcomeContext,
//!         _query: &[u8],
//!         aos: &[AttributedObservationRef<'_>],
//!     ) -> Result<Vec<u8>, PluginError> {
//!         let mut values: Vec<i128> = aos
//!             .iter()
//!             .filter_map(|ao| ao.observation.try_into().ok().map(i128::from_be_bytes))
//!             .collect();
//!         values.sort_unstable();
//!         let median = values.get(values.len() / 2).ok_or_else(|| PluginError::invalid_input("no observations"))?;
//!         Ok(median.to_be_bytes().to_vec())
//!     }
//!
//!     fn reports(&self, _seq_nr: SeqNr, outcome: &[u8]) -> Result<Vec<ReportPlus>, PluginError> {
//!         let value = i128::from_be_bytes(outcome.try_into().map_err(|_| PluginError::invalid_input("outcome"))?);
//!         Ok(vec![ReportPlus::new(abi::encode(&[abi::Token::Int(value)]))])
//!     }
//! }
//!
//! // In the plugin crate (crate-type = ["cdylib", "rlib"]):
//! ocr_plugin_sdk::export_plugin!(Counter);
//!
//! // Natively, the same type runs directly:
//! let (plugin, _info) = Counter::new(&PluginConfig::for_tests(4, 1, vec![])).unwrap();
//! let sources = ocr_plugin_sdk::StaticDataSources::new().with("counter", 7);
//! let ctx = OutcomeContext { seq_nr: 1, ..Default::default() };
//! let obs = plugin.observation(&ctx, &[], &sources).unwrap();
//! let aos: Vec<_> = (0..3).map(|i| AttributedObservationRef { observation: &obs, observer: i }).collect();
//! assert!(plugin.observation_quorum(&ctx, &[], &aos).unwrap());
//! assert_eq!(plugin.outcome(&ctx, &[], &aos).unwrap(), 7i128.to_be_bytes());
//! ```
//!
//! ## What the host guarantees and enforces
//!
//! - `validate_observation`, `observation_quorum`, `outcome` and `reports` run
//!   under a fixed fuel budget, with clocks frozen at zero, randomness seeded
//!   from (config digest, method, seq-nr), NaNs canonicalised and no data
//!   sources. Their results must be identical on every honest node.
//! - `query`, `observation` and the should-* calls run under wall-clock
//!   deadlines from the config; the first two may read [`DataSources`].
//! - Memory is capped; outputs above the declared [`PluginLimits`] (capped by
//!   the OCR3 maxima) are errors of the call; a trap or timeout discards the
//!   instance and the host builds a fresh one.
//! - No filesystem and no network: a component importing them is refused.
//!
//! ## Starting a plugin
//!
//! `ocr-node plugin new my-feed` makes a crate that depends on this SDK and
//! the test kit, with a working one-source median feed, its unit tests and
//! its test-kit tests; it builds to wasm32-wasip2 and its tests pass as
//! generated. Replace the logic and keep the tests' shape.
//!
//! ## Testing with the kit
//!
//! `ocr_sim::TestKit` (crate `ocr-sim` in `host/sim`) runs your plugin in a
//! simulated network of n oracles on the deterministic simulator: virtual
//! time, data sources scripted per oracle, faults from the simulator's
//! classes (crashes, partitions, an equivocating leader, ...). Its report
//! lists the committed outcomes and attested reports for your assertions,
//! and `check()` fails on a safety violation, on plugin faults, and on
//! non-determinism: when honest oracles compute different outputs for the
//! same inputs, it names them, the seq-nr and the method.
//!
//! ```ignore
//! use ocr_sim::kit::{component, native};
//! let report = TestKit::new(br#"{"source":"price"}"#, native::<MyFeed>(), script)
//!     .faults(FaultClass::Crash)
//!     .seed(7)
//!     .run();
//! report.check()?;
//! // The built component through the node's real wasm host:
//! let report = TestKit::new(config, component(&wasm_path)?, script).run();
//! ```
//!
//! ## Building
//!
//! Use a release profile with `panic = "abort"`, `strip = true`, `lto = true`,
//! `codegen-units = 1` and `opt-level = 3`: a plugin is then tens to a few
//! hundred kilobytes. `opt-level = "s"` saves ~7% of size but made the median
//! outcome ~50% slower when measured here. `ocr-node plugin inspect FILE`
//! shows what a node will see (world, version, sha256, limits, imports), and
//! `ocr-node plugin bench FILE` what each method costs through the host.
//!
//! ## Shipping and versioning
//!
//! Operators add the `.wasm` to their nodes (`ocr-node plugin add`, or the
//! node's watched `plugin_dir`), then a network config names it by sha256;
//! every node switches at the instance boundary. The component exports the
//! contract version it was built against ([`WIT_VERSION`]); nodes run
//! components of their own minor version (0.1.*) and refuse others with an
//! error naming both. `docs/plugin-guide.md` in the repository is the
//! complete guide.

#![cfg_attr(target_arch = "wasm32", allow(unsafe_code))]

// The generated bindings name this crate by its path, also from inside it.
extern crate self as ocr_plugin_sdk;

pub mod abi;
mod data_sources;
pub mod logging;
mod plugin;
mod quorum;
mod types;

#[cfg(target_arch = "wasm32")]
mod guest;

pub use data_sources::{DataSourceError, DataSources, NoDataSources, StaticDataSources};
pub use plugin::ReportingPlugin;
pub use quorum::{Quorum, byzantine_quorum, distinct_observers};
pub use types::*;

/// The version of the WIT contract this SDK implements.
pub const WIT_VERSION: &str = "0.1.0";

/// Exports a [`ReportingPlugin`] type as the plugin's component. Use it once,
/// at the top level of a `cdylib` crate. Natively it expands to nothing.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type __OcrPluginComponent = $crate::__private::Component<$plugin>;
            $crate::__private::bindings::__export_reporting_plugin_world!(
                __OcrPluginComponent with_types_in $crate::__private::bindings
            );
        };
    };
}

#[doc(hidden)]
#[cfg(target_arch = "wasm32")]
pub mod __private {
    pub use crate::guest::bindings;
    pub use crate::guest::{Component, Instance};
    pub use wit_bindgen;
}
