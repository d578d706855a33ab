//! Output limits at the plugin boundary (libocr's `LimitCheckOCR3ReportingPlugin`):
//! nothing a plugin returns reaches the protocol before it is checked against
//! the plugin's declared limits, capped by the OCR3 maxima, and against the
//! shape OCR3 requires (valid transmission schedules).

use crate::{
    AttributedObservation, Method, OutcomeContext, Plugin, PluginCallError, PluginInfo, PluginLimits, ReportPlus,
    ReportWithInfo, SeqNr,
};

/// The OCR3 maxima ("MaxMax" in libocr): no plugin may declare more.
pub const OCR3_MAX: PluginLimits = PluginLimits {
    max_query_length: 5 << 20,
    max_observation_length: 1 << 20,
    max_outcome_length: 5 << 20,
    max_report_length: 5 << 20,
    max_report_count: 2000,
};

/// The limits actually enforced: the declared ones, each capped by
/// [`OCR3_MAX`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EffectiveLimits {
    /// Longest query.
    pub max_query_length: usize,
    /// Longest observation.
    pub max_observation_length: usize,
    /// Longest outcome.
    pub max_outcome_length: usize,
    /// Longest report.
    pub max_report_length: usize,
    /// Most reports per outcome.
    pub max_report_count: usize,
}

impl EffectiveLimits {
    /// The declared limits capped by the OCR3 maxima.
    pub fn new(declared: &PluginLimits) -> Self {
        let cap = |d: u32, m: u32| d.min(m) as usize;
        Self {
            max_query_length: cap(declared.max_query_length, OCR3_MAX.max_query_length),
            max_observation_length: cap(declared.max_observation_length, OCR3_MAX.max_observation_length),
            max_outcome_length: cap(declared.max_outcome_length, OCR3_MAX.max_outcome_length),
            max_report_length: cap(declared.max_report_length, OCR3_MAX.max_report_length),
            max_report_count: cap(declared.max_report_count, OCR3_MAX.max_report_count),
        }
    }

    /// Whether any declared limit was above the OCR3 maximum.
    pub fn was_capped(declared: &PluginLimits) -> bool {
        declared.max_query_length > OCR3_MAX.max_query_length
            || declared.max_observation_length > OCR3_MAX.max_observation_length
            || declared.max_outcome_length > OCR3_MAX.max_outcome_length
            || declared.max_report_length > OCR3_MAX.max_report_length
            || declared.max_report_count > OCR3_MAX.max_report_count
    }

    fn check(method: Method, what: &'static str, len: usize, limit: usize) -> Result<(), PluginCallError> {
        if len > limit {
            return Err(PluginCallError::OutputTooLarge { method, what, len, limit });
        }
        Ok(())
    }
}

/// A plugin whose outputs are checked before they are returned.
pub struct LimitChecked<P> {
    inner: P,
    limits: EffectiveLimits,
    n: u8,
}

impl<P: Plugin> LimitChecked<P> {
    /// Wraps `inner`, enforcing its declared limits; `n` bounds the oracle ids
    /// in transmission schedules.
    pub fn new(inner: P, n: u8) -> Self {
        let limits = EffectiveLimits::new(&inner.info().limits);
        Self { inner, limits, n }
    }

    /// The enforced limits.
    pub fn limits(&self) -> &EffectiveLimits {
        &self.limits
    }

    /// The wrapped plugin.
    pub fn inner_mut(&mut self) -> &mut P {
        &mut self.inner
    }

    /// An invalid result discards the instance, as a trap does.
    fn discard_on_error<T>(&mut self, result: Result<T, PluginCallError>) -> Result<T, PluginCallError> {
        if result.is_err() {
            self.inner.discard_instance();
        }
        result
    }

    fn check_reports(&self, reports: &[ReportPlus]) -> Result<(), PluginCallError> {
        if reports.len() > self.limits.max_report_count {
            return Err(PluginCallError::TooManyReports { count: reports.len(), limit: self.limits.max_report_count });
        }
        for report in reports {
            EffectiveLimits::check(Method::Reports, "report", report.report.len(), self.limits.max_report_length)?;
            if let Some(schedule) = &report.transmission_schedule_override {
                let malformed = |reason: String| PluginCallError::Malformed { method: Method::Reports, reason };
                if schedule.transmitters.len() != schedule.transmission_delays.len() {
                    return Err(malformed(format!(
                        "transmission schedule has {} transmitters but {} delays",
                        schedule.transmitters.len(),
                        schedule.transmission_delays.len()
                    )));
                }
                if let Some(bad) = schedule.transmitters.iter().find(|t| **t >= self.n) {
                    return Err(malformed(format!("transmission schedule names oracle {bad}, but n = {}", self.n)));
                }
            }
        }
        Ok(())
    }
}

impl<P: Plugin> Plugin for LimitChecked<P> {
    fn info(&self) -> &PluginInfo {
        self.inner.info()
    }

    fn discard_instance(&mut self) {
        self.inner.discard_instance()
    }

    fn query(&mut self, ctx: &OutcomeContext) -> Result<Vec<u8>, PluginCallError> {
        let query = self.inner.query(ctx)?;
        let checked = EffectiveLimits::check(Method::Query, "query", query.len(), self.limits.max_query_length);
        self.discard_on_error(checked.map(|_| query))
    }

    fn observation(&mut self, ctx: &OutcomeContext, query: &[u8]) -> Result<Vec<u8>, PluginCallError> {
        let observation = self.inner.observation(ctx, query)?;
        let checked = EffectiveLimits::check(
            Method::Observation,
            "observation",
            observation.len(),
            self.limits.max_observation_length,
        );
        self.discard_on_error(checked.map(|_| observation))
    }

    fn validate_observation(
        &mut self,
        ctx: &OutcomeContext,
        query: &[u8],
        observation: &AttributedObservation,
    ) -> Result<(), PluginCallError> {
        self.inner.validate_observation(ctx, query, observation)
    }

    fn observation_quorum(
        &mut self,
        ctx: &OutcomeContext,
        query: &[u8],
        observations: &[AttributedObservation],
    ) -> Result<bool, PluginCallError> {
        self.inner.observation_quorum(ctx, query, observations)
    }

    fn outcome(
        &mut self,
        ctx: &OutcomeContext,
        query: &[u8],
        observations: &[AttributedObservation],
    ) -> Result<Vec<u8>, PluginCallError> {
        let outcome = self.inner.outcome(ctx, query, observations)?;
        let checked = EffectiveLimits::check(Method::Outcome, "outcome", outcome.len(), self.limits.max_outcome_length);
        self.discard_on_error(checked.map(|_| outcome))
    }

    fn reports(&mut self, seq_nr: SeqNr, outcome: &[u8]) -> Result<Vec<ReportPlus>, PluginCallError> {
        let reports = self.inner.reports(seq_nr, outcome)?;
        let checked = self.check_reports(&reports);
        self.discard_on_error(checked.map(|_| reports))
    }

    fn should_accept_attested_report(
        &mut self,
        seq_nr: SeqNr,
        report: &ReportWithInfo,
    ) -> Result<bool, PluginCallError> {
        self.inner.should_accept_attested_report(seq_nr, report)
    }

    fn should_transmit_accepted_report(
        &mut self,
        seq_nr: SeqNr,
        report: &ReportWithInfo,
    ) -> Result<bool, PluginCallError> {
        self.inner.should_transmit_accepted_report(seq_nr, report)
    }

    fn close(&mut self) -> Result<(), PluginCallError> {
        self.inner.close()
    }
}
