//! # The median price-feed plugin
//!
//! The OCR2 numerical median ported to OCR3. Every oracle observes
//! (timestamp, value, juels per fee coin) from the data sources its operator
//! configured; with at least 2f+1 valid observations the outcome is their
//! median. An outcome reports on the first round, when the median deviates
//! from the last reported one by the configured threshold, or when the
//! heartbeat interval has passed. Both decisions are made from the previous
//! committed outcome and the observations' own timestamps, never from a local
//! clock, so every honest node reaches the same outcome. Reports use the OCR2
//! median EVM layout, so existing aggregator contracts decode them.
//!
//! Observations and the previous outcome are untrusted input: every decoder
//! returns an error instead of panicking.

use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use ocr_plugin_sdk::{
    AttributedObservationRef, DataSources, OutcomeContext, PluginConfig, PluginError, PluginInfo, PluginLimits, Quorum,
    ReportPlus, ReportWithInfo, ReportingPlugin, SeqNr, logging,
};

mod config;
mod observation;
mod outcome;
mod report;

pub use config::{AnswerBounds, MedianConfig, OFFCHAIN_CONFIG_VERSION};
pub use observation::MedianObservation;
pub use outcome::{Decision, LastReport, MedianOutcome, deviates, max_outcome_length};
pub use report::{MedianReport, max_report_length};

/// The plugin instance.
pub struct MedianPlugin {
    config: PluginConfig,
    median: MedianConfig,
    bounds: AnswerBounds,
    /// Highest seq-nr accepted for transmission: node-local, best-effort.
    last_accepted: Mutex<Option<SeqNr>>,
}

impl MedianPlugin {
    /// The name in [`PluginInfo`].
    pub const NAME: &'static str = "median";

    fn decode_valid(&self, ao: AttributedObservationRef<'_>) -> Result<MedianObservation, PluginError> {
        if ao.observer >= self.config.n {
            return Err(PluginError::invalid_input(format!(
                "observer {} is not below n={}",
                ao.observer, self.config.n
            )));
        }
        // Values outside the onchain answer bounds stay valid observations:
        // the median decides (OCR2's rule), so a market that leaves the
        // bounds pauses reports instead of halting outcome generation.
        let obs = MedianObservation::decode(ao.observation)?;
        if obs.juels_per_fee_coin < 0 {
            return Err(PluginError::invalid_input("negative juels per fee coin"));
        }
        if obs.timestamp == 0 {
            return Err(PluginError::invalid_input("zero timestamp"));
        }
        Ok(obs)
    }

    fn decide(&self, previous: Option<&LastReport>, median: i128, timestamp: u32) -> Decision {
        if !self.bounds.contains(median) {
            return Decision::OutOfBounds;
        }
        match previous {
            None => Decision::FirstRound,
            Some(last) if deviates(last.value, median, self.median.deviation_threshold_ppb) => Decision::Deviation,
            Some(last) if timestamp.saturating_sub(last.timestamp) >= self.median.heartbeat_seconds => {
                Decision::Heartbeat
            }
            Some(_) => Decision::Skip,
        }
    }
}

/// The upper median of a non-empty list (the caller checked the quorum).
fn median_of<T: Ord + Copy + Default>(mut values: Vec<T>) -> T {
    let middle = values.len() / 2;
    if values.is_empty() {
        return T::default();
    }
    *values.select_nth_unstable(middle).1
}

/// The median plugin never queries: a non-empty query is a faulty leader's.
fn expect_empty_query(query: &[u8]) -> Result<(), PluginError> {
    if query.is_empty() { Ok(()) } else { Err(PluginError::invalid_input("the median plugin takes no query")) }
}

impl ReportingPlugin for MedianPlugin {
    fn new(config: &PluginConfig) -> Result<(Self, PluginInfo), PluginError> {
        let median = MedianConfig::decode(&config.offchain_config)?;
        let bounds = AnswerBounds::decode(&config.onchain_config)?;
        config.check_committee()?;
        let info = PluginInfo {
            name: Self::NAME.into(),
            limits: PluginLimits {
                max_query_length: 0,
                max_observation_length: MedianObservation::ENCODED_LEN as u32,
                max_outcome_length: max_outcome_length(config.n) as u32,
                max_report_length: max_report_length(config.n) as u32,
                max_report_count: 1,
            },
        };
        let plugin = Self { config: config.clone(), median, bounds, last_accepted: Mutex::new(None) };
        Ok((plugin, info))
    }

    fn observation(
        &self,
        ctx: &OutcomeContext,
        _query: &[u8],
        sources: &dyn DataSources,
    ) -> Result<Vec<u8>, PluginError> {
        let value = sources.read_integer(&self.median.value_source)?;
        let juels_per_fee_coin = match &self.median.juels_per_fee_coin_source {
            Some(name) => sources.read_integer(name)?,
            None => 0,
        };
        let now =
            sources.now().duration_since(UNIX_EPOCH).map_err(|_| PluginError::other("the clock reads before 1970"))?;
        let timestamp = u32::try_from(now.as_secs()).unwrap_or(u32::MAX);
        let value_text = value.to_string();
        let seq_nr = ctx.seq_nr.to_string();
        logging::debug("observed", &[("seq_nr", &seq_nr), ("value", &value_text)]);
        Ok(MedianObservation { timestamp, value, juels_per_fee_coin }.encode())
    }

    fn validate_observation(
        &self,
        _ctx: &OutcomeContext,
        query: &[u8],
        ao: AttributedObservationRef<'_>,
    ) -> Result<(), PluginError> {
        expect_empty_query(query)?;
        self.decode_valid(ao).map(|_| ())
    }

    fn observation_quorum(
        &self,
        _ctx: &OutcomeContext,
        _query: &[u8],
        aos: &[AttributedObservationRef<'_>],
    ) -> Result<bool, PluginError> {
        Ok(self.config.is_quorum(Quorum::TwoFPlusOne, ocr_plugin_sdk::distinct_observers(aos)))
    }

    fn outcome(
        &self,
        ctx: &OutcomeContext,
        query: &[u8],
        aos: &[AttributedObservationRef<'_>],
    ) -> Result<Vec<u8>, PluginError> {
        expect_empty_query(query)?;
        let previous = if ctx.previous_outcome.is_empty() {
            None
        } else {
            MedianOutcome::decode(&ctx.previous_outcome)?.last_report
        };
        // One observation per observer, in observer order, whatever order the
        // leader sent them in: the result must not depend on it.
        let mut seen = [false; 256];
        let mut valid: Vec<(u8, MedianObservation)> = Vec::with_capacity(aos.len());
        for ao in aos {
            if !std::mem::replace(&mut seen[usize::from(ao.observer)], true)
                && let Ok(obs) = self.decode_valid(*ao)
            {
                valid.push((ao.observer, obs));
            }
        }
        if !self.config.is_quorum(Quorum::TwoFPlusOne, valid.len()) {
            return Err(PluginError::invalid_input(format!("only {} valid observations", valid.len())));
        }
        let mut observations: Vec<(u8, i128)> = valid.iter().map(|(o, obs)| (*o, obs.value)).collect();
        observations.sort_unstable_by_key(|(observer, value)| (*value, *observer));
        // Sorted above; the quorum check guarantees it is not empty.
        let median = observations
            .get(observations.len() / 2)
            .map(|(_, value)| *value)
            .ok_or_else(|| PluginError::invalid_input("no valid observations"))?;
        let observations_timestamp = median_of(valid.iter().map(|(_, o)| o.timestamp).collect());
        let juels_per_fee_coin = median_of(valid.iter().map(|(_, o)| o.juels_per_fee_coin).collect());
        let decision = self.decide(previous.as_ref(), median, observations_timestamp);
        let last_report = match decision.reports() {
            true => Some(LastReport { value: median, timestamp: observations_timestamp, seq_nr: ctx.seq_nr }),
            false => previous,
        };
        Ok(MedianOutcome { decision, last_report, observations_timestamp, juels_per_fee_coin, observations }.encode())
    }

    fn reports(&self, _seq_nr: SeqNr, outcome: &[u8]) -> Result<Vec<ReportPlus>, PluginError> {
        let outcome = MedianOutcome::decode(outcome)?;
        if !outcome.decision.reports() {
            return Ok(Vec::new());
        }
        let report = MedianReport {
            observations_timestamp: outcome.observations_timestamp,
            observers: outcome.observations.iter().map(|(o, _)| *o).collect(),
            observations: outcome.observations.iter().map(|(_, v)| *v).collect(),
            juels_per_fee_coin: outcome.juels_per_fee_coin,
        };
        Ok(vec![ReportPlus::new(report.encode())])
    }

    fn should_accept_attested_report(&self, seq_nr: SeqNr, report: &ReportWithInfo) -> Result<bool, PluginError> {
        MedianReport::decode(&report.report)?;
        let mut last = self.last_accepted.lock().map_err(|_| PluginError::other("state lock poisoned"))?;
        if last.is_some_and(|l| seq_nr <= l) {
            return Ok(false);
        }
        *last = Some(seq_nr);
        Ok(true)
    }

    fn should_transmit_accepted_report(&self, seq_nr: SeqNr, _report: &ReportWithInfo) -> Result<bool, PluginError> {
        // A report superseded by a newer accepted one is not worth the gas.
        let last = self.last_accepted.lock().map_err(|_| PluginError::other("state lock poisoned"))?;
        Ok(last.is_none_or(|l| seq_nr >= l))
    }
}

ocr_plugin_sdk::export_plugin!(MedianPlugin);
