//! The trait a plugin author implements. Its methods are the nine OCR3
//! methods, with defaults where OCR3 has natural ones; its constructor is the
//! factory. The same type runs natively (tests, simulators) and, exported with
//! [`export_plugin!`](crate::export_plugin), as a wasm component.

use crate::{
    AttributedObservationRef, DataSources, OutcomeContext, PluginConfig, PluginError, PluginInfo, ReportPlus,
    ReportWithInfo, SeqNr,
};

/// An OCR3 reporting plugin.
///
/// Determinism: [`validate_observation`](Self::validate_observation),
/// [`observation_quorum`](Self::observation_quorum),
/// [`outcome`](Self::outcome) and [`reports`](Self::reports) must return the
/// same result on every honest node for the same inputs. Do not iterate a
/// `HashMap` in them, do not read clocks or randomness, and do not let the
/// deprecated `epoch`/`round` fields influence them. The host freezes clocks
/// and seeds randomness in those methods, so a violation shows up as a
/// divergence rather than as a crash.
///
/// All inputs that came from other oracles (query, observations, and
/// defensively the previous outcome) are untrusted: return
/// [`PluginError::InvalidInput`] rather than panicking. In wasm a panic is a
/// trap: the call fails and the host rebuilds the instance.
pub trait ReportingPlugin: Sized + Send + Sync + 'static {
    /// The factory: validates `config` (in particular the plugin's own
    /// offchain config) and builds an instance with its info.
    fn new(config: &PluginConfig) -> Result<(Self, PluginInfo), PluginError>;

    /// Leader only: the query of this round. Default: empty.
    fn query(&self, ctx: &OutcomeContext, sources: &dyn DataSources) -> Result<Vec<u8>, PluginError> {
        let _ = (ctx, sources);
        Ok(Vec::new())
    }

    /// This oracle's observation for the leader's query.
    fn observation(
        &self,
        ctx: &OutcomeContext,
        query: &[u8],
        sources: &dyn DataSources,
    ) -> Result<Vec<u8>, PluginError>;

    /// Checks one observation. Default: every observation is valid.
    fn validate_observation(
        &self,
        ctx: &OutcomeContext,
        query: &[u8],
        observation: AttributedObservationRef<'_>,
    ) -> Result<(), PluginError> {
        let _ = (ctx, query, observation);
        Ok(())
    }

    /// Whether the valid observations suffice. Must be monotone. Use
    /// [`PluginConfig::is_quorum`] with a [`Quorum`](crate::Quorum).
    fn observation_quorum(
        &self,
        ctx: &OutcomeContext,
        query: &[u8],
        observations: &[AttributedObservationRef<'_>],
    ) -> Result<bool, PluginError>;

    /// The outcome of the round.
    fn outcome(
        &self,
        ctx: &OutcomeContext,
        query: &[u8],
        observations: &[AttributedObservationRef<'_>],
    ) -> Result<Vec<u8>, PluginError>;

    /// The reports of a committed outcome.
    fn reports(&self, seq_nr: SeqNr, outcome: &[u8]) -> Result<Vec<ReportPlus>, PluginError>;

    /// Whether to accept an attested report for transmission. Default: yes.
    fn should_accept_attested_report(&self, seq_nr: SeqNr, report: &ReportWithInfo) -> Result<bool, PluginError> {
        let _ = (seq_nr, report);
        Ok(true)
    }

    /// Whether to transmit an accepted report now. Default: yes.
    fn should_transmit_accepted_report(&self, seq_nr: SeqNr, report: &ReportWithInfo) -> Result<bool, PluginError> {
        let _ = (seq_nr, report);
        Ok(true)
    }

    /// Releases resources. May be called more than once. Default: nothing.
    fn close(&self) -> Result<(), PluginError> {
        Ok(())
    }
}
