//! # The node's view of a reporting plugin
//!
//! One trait, [`Plugin`], through which the protocol reaches its reporting
//! plugin, whether that is a sandboxed wasm component (`ocr-plugin-host`) or a
//! native [`ReportingPlugin`](ocr_plugin_sdk::ReportingPlugin) type
//! ([`NativePlugin`]), with one error type that says which method failed and
//! how. [`LimitChecked`] enforces the plugin's declared output limits, capped
//! by the OCR3 maxima, at that boundary for both.
//!
//! This crate has no wasm dependency, so the protocol core can use it alone.

mod error;
mod limits;
mod method;
mod native;

pub use error::{PluginCallError, TrapKind};
pub use limits::{EffectiveLimits, LimitChecked, OCR3_MAX};
pub use method::Method;
pub use native::NativePlugin;
pub use ocr_plugin_sdk::{
    AttributedObservation, ConfigDigest, OutcomeContext, PluginConfig, PluginError, PluginInfo, PluginLimits,
    ReportPlus, ReportWithInfo, SeqNr, TransmissionSchedule,
};

/// A live plugin instance as the node sees it. Calls take `&mut self`: one
/// instance serves one protocol instance and the node serialises calls to it
/// (the wasm store behind it is single-threaded).
pub trait Plugin: Send {
    /// The name and limits the factory returned.
    fn info(&self) -> &PluginInfo;

    /// Drops the live instance after it produced an invalid result, so the
    /// next call starts from a fresh one (as after a trap). Default: nothing
    /// to drop.
    fn discard_instance(&mut self) {}

    /// See the WIT `query`.
    fn query(&mut self, ctx: &OutcomeContext) -> Result<Vec<u8>, PluginCallError>;

    /// See the WIT `observation`.
    fn observation(&mut self, ctx: &OutcomeContext, query: &[u8]) -> Result<Vec<u8>, PluginCallError>;

    /// See the WIT `validate-observation`.
    fn validate_observation(
        &mut self,
        ctx: &OutcomeContext,
        query: &[u8],
        observation: &AttributedObservation,
    ) -> Result<(), PluginCallError>;

    /// See the WIT `observation-quorum`.
    fn observation_quorum(
        &mut self,
        ctx: &OutcomeContext,
        query: &[u8],
        observations: &[AttributedObservation],
    ) -> Result<bool, PluginCallError>;

    /// See the WIT `outcome`.
    fn outcome(
        &mut self,
        ctx: &OutcomeContext,
        query: &[u8],
        observations: &[AttributedObservation],
    ) -> Result<Vec<u8>, PluginCallError>;

    /// See the WIT `reports`.
    fn reports(&mut self, seq_nr: SeqNr, outcome: &[u8]) -> Result<Vec<ReportPlus>, PluginCallError>;

    /// See the WIT `should-accept-attested-report`.
    fn should_accept_attested_report(
        &mut self,
        seq_nr: SeqNr,
        report: &ReportWithInfo,
    ) -> Result<bool, PluginCallError>;

    /// See the WIT `should-transmit-accepted-report`.
    fn should_transmit_accepted_report(
        &mut self,
        seq_nr: SeqNr,
        report: &ReportWithInfo,
    ) -> Result<bool, PluginCallError>;

    /// See the WIT `close`.
    fn close(&mut self) -> Result<(), PluginCallError>;
}

impl<P: Plugin + ?Sized> Plugin for Box<P> {
    fn info(&self) -> &PluginInfo {
        (**self).info()
    }
    fn discard_instance(&mut self) {
        (**self).discard_instance()
    }
    fn query(&mut self, ctx: &OutcomeContext) -> Result<Vec<u8>, PluginCallError> {
        (**self).query(ctx)
    }
    fn observation(&mut self, ctx: &OutcomeContext, query: &[u8]) -> Result<Vec<u8>, PluginCallError> {
        (**self).observation(ctx, query)
    }
    fn validate_observation(
        &mut self,
        ctx: &OutcomeContext,
        query: &[u8],
        observation: &AttributedObservation,
    ) -> Result<(), PluginCallError> {
        (**self).validate_observation(ctx, query, observation)
    }
    fn observation_quorum(
        &mut self,
        ctx: &OutcomeContext,
        query: &[u8],
        observations: &[AttributedObservation],
    ) -> Result<bool, PluginCallError> {
        (**self).observation_quorum(ctx, query, observations)
    }
    fn outcome(
        &mut self,
        ctx: &OutcomeContext,
        query: &[u8],
        observations: &[AttributedObservation],
    ) -> Result<Vec<u8>, PluginCallError> {
        (**self).outcome(ctx, query, observations)
    }
    fn reports(&mut self, seq_nr: SeqNr, outcome: &[u8]) -> Result<Vec<ReportPlus>, PluginCallError> {
        (**self).reports(seq_nr, outcome)
    }
    fn should_accept_attested_report(
        &mut self,
        seq_nr: SeqNr,
        report: &ReportWithInfo,
    ) -> Result<bool, PluginCallError> {
        (**self).should_accept_attested_report(seq_nr, report)
    }
    fn should_transmit_accepted_report(
        &mut self,
        seq_nr: SeqNr,
        report: &ReportWithInfo,
    ) -> Result<bool, PluginCallError> {
        (**self).should_transmit_accepted_report(seq_nr, report)
    }
    fn close(&mut self) -> Result<(), PluginCallError> {
        (**self).close()
    }
}
