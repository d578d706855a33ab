//! A native [`ReportingPlugin`] behind the [`Plugin`] trait: the same plugin
//! type that ships as wasm, run in-process for protocol tests and simulators.
//! A panic in the plugin is caught and reported as a trap, as in wasm.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use ocr_plugin_sdk::{DataSources, ReportingPlugin};

use crate::{
    AttributedObservation, LimitChecked, Method, OutcomeContext, Plugin, PluginCallError, PluginConfig, PluginInfo,
    ReportPlus, ReportWithInfo, SeqNr, TrapKind,
};

/// A native plugin instance.
pub struct NativePlugin<P> {
    plugin: P,
    info: PluginInfo,
    sources: Arc<dyn DataSources + Send + Sync>,
    closed: bool,
}

fn guarded<T>(
    method: Method,
    f: impl FnOnce() -> Result<T, ocr_plugin_sdk::PluginError>,
) -> Result<T, PluginCallError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(PluginCallError::Guest { method, error }),
        Err(panic) => {
            let detail = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_owned());
            Err(PluginCallError::Trap { method, kind: TrapKind::Panic, detail })
        }
    }
}

impl<P: ReportingPlugin> NativePlugin<P> {
    /// Runs the factory and wraps the instance in the boundary's limit checks.
    pub fn create(
        config: &PluginConfig,
        sources: Arc<dyn DataSources + Send + Sync>,
    ) -> Result<LimitChecked<Self>, PluginCallError> {
        let (plugin, info) = guarded(Method::Create, || P::new(config))?;
        Ok(LimitChecked::new(Self { plugin, info, sources, closed: false }, config.n))
    }

    /// The plugin value itself.
    pub fn plugin(&self) -> &P {
        &self.plugin
    }

    fn open(&self, method: Method) -> Result<&P, PluginCallError> {
        if self.closed {
            return Err(PluginCallError::Closed { method });
        }
        Ok(&self.plugin)
    }
}

impl<P: ReportingPlugin> Plugin for NativePlugin<P> {
    fn info(&self) -> &PluginInfo {
        &self.info
    }

    fn query(&mut self, ctx: &OutcomeContext) -> Result<Vec<u8>, PluginCallError> {
        let p = self.open(Method::Query)?;
        guarded(Method::Query, || p.query(ctx, self.sources.as_ref()))
    }

    fn observation(&mut self, ctx: &OutcomeContext, query: &[u8]) -> Result<Vec<u8>, PluginCallError> {
        let p = self.open(Method::Observation)?;
        guarded(Method::Observation, || p.observation(ctx, query, self.sources.as_ref()))
    }

    fn validate_observation(
        &mut self,
        ctx: &OutcomeContext,
        query: &[u8],
        observation: &AttributedObservation,
    ) -> Result<(), PluginCallError> {
        let p = self.open(Method::ValidateObservation)?;
        guarded(Method::ValidateObservation, || p.validate_observation(ctx, query, observation.as_ref()))
    }

    fn observation_quorum(
        &mut self,
        ctx: &OutcomeContext,
        query: &[u8],
        observations: &[AttributedObservation],
    ) -> Result<bool, PluginCallError> {
        let p = self.open(Method::ObservationQuorum)?;
        let refs = ocr_plugin_sdk::observation_refs(observations);
        guarded(Method::ObservationQuorum, || p.observation_quorum(ctx, query, &refs))
    }

    fn outcome(
        &mut self,
        ctx: &OutcomeContext,
        query: &[u8],
        observations: &[AttributedObservation],
    ) -> Result<Vec<u8>, PluginCallError> {
        let p = self.open(Method::Outcome)?;
        let refs = ocr_plugin_sdk::observation_refs(observations);
        guarded(Method::Outcome, || p.outcome(ctx, query, &refs))
    }

    fn reports(&mut self, seq_nr: SeqNr, outcome: &[u8]) -> Result<Vec<ReportPlus>, PluginCallError> {
        let p = self.open(Method::Reports)?;
        guarded(Method::Reports, || p.reports(seq_nr, outcome))
    }

    fn should_accept_attested_report(
        &mut self,
        seq_nr: SeqNr,
        report: &ReportWithInfo,
    ) -> Result<bool, PluginCallError> {
        let p = self.open(Method::ShouldAcceptAttestedReport)?;
        guarded(Method::ShouldAcceptAttestedReport, || p.should_accept_attested_report(seq_nr, report))
    }

    fn should_transmit_accepted_report(
        &mut self,
        seq_nr: SeqNr,
        report: &ReportWithInfo,
    ) -> Result<bool, PluginCallError> {
        let p = self.open(Method::ShouldTransmitAcceptedReport)?;
        guarded(Method::ShouldTransmitAcceptedReport, || p.should_transmit_accepted_report(seq_nr, report))
    }

    fn close(&mut self) -> Result<(), PluginCallError> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        guarded(Method::Close, || self.plugin.close())
    }
}
