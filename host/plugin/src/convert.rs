//! Conversions between the SDK's types and the generated WIT types.

use std::time::Duration;

use ocr_plugin_sdk::{
    AttributedObservation, OutcomeContext, PluginConfig, PluginError, PluginInfo, PluginLimits, ReportPlus,
    ReportWithInfo, TransmissionSchedule,
};

use crate::bindings::wit;

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub(crate) fn config(c: &PluginConfig) -> wit::PluginConfig {
    wit::PluginConfig {
        config_digest: c.config_digest.0.to_vec(),
        oracle_id: c.oracle_id,
        n: c.n,
        f: c.f,
        onchain_config: c.onchain_config.clone(),
        offchain_config: c.offchain_config.clone(),
        estimated_round_interval_ms: ms(c.estimated_round_interval),
        max_duration_query_ms: ms(c.max_duration_query),
        max_duration_observation_ms: ms(c.max_duration_observation),
        max_duration_should_accept_attested_report_ms: ms(c.max_duration_should_accept_attested_report),
        max_duration_should_transmit_accepted_report_ms: ms(c.max_duration_should_transmit_accepted_report),
    }
}

pub(crate) fn info(i: wit::PluginInfo) -> PluginInfo {
    PluginInfo {
        name: i.name,
        limits: PluginLimits {
            max_query_length: i.limits.max_query_length,
            max_observation_length: i.limits.max_observation_length,
            max_outcome_length: i.limits.max_outcome_length,
            max_report_length: i.limits.max_report_length,
            max_report_count: i.limits.max_report_count,
        },
    }
}

pub(crate) fn ctx(c: &OutcomeContext) -> wit::OutcomeContext {
    wit::OutcomeContext {
        seq_nr: c.seq_nr,
        previous_outcome: c.previous_outcome.clone(),
        epoch: c.epoch,
        round: c.round,
    }
}

pub(crate) fn observation(a: &AttributedObservation) -> wit::AttributedObservation {
    wit::AttributedObservation { observation: a.observation.clone(), observer: a.observer }
}

/// Packs observations for the boundary (see `attributed-observations`).
pub(crate) fn observations(aos: &[AttributedObservation]) -> wit::AttributedObservations {
    let mut packed = wit::AttributedObservations {
        observers: Vec::with_capacity(aos.len()),
        ends: Vec::with_capacity(aos.len()),
        data: Vec::with_capacity(aos.iter().map(|a| a.observation.len()).sum()),
    };
    for ao in aos {
        packed.data.extend_from_slice(&ao.observation);
        packed.observers.push(ao.observer);
        // Observations are bounded by the protocol far below 4 GiB in total.
        packed.ends.push(u32::try_from(packed.data.len()).unwrap_or(u32::MAX));
    }
    packed
}

pub(crate) fn report_with_info(r: &ReportWithInfo) -> wit::ReportWithInfo {
    wit::ReportWithInfo { report: r.report.clone(), info: r.info.clone() }
}

pub(crate) fn report_plus(r: wit::ReportPlus) -> ReportPlus {
    ReportPlus {
        report: r.report,
        info: r.info,
        transmission_schedule_override: r.transmission_schedule_override.map(|s| TransmissionSchedule {
            transmitters: s.transmitters,
            transmission_delays: s.transmission_delays_ms.into_iter().map(Duration::from_millis).collect(),
        }),
    }
}

pub(crate) fn error(e: wit::PluginError) -> PluginError {
    match e {
        wit::PluginError::InvalidConfig(m) => PluginError::InvalidConfig(m),
        wit::PluginError::InvalidInput(m) => PluginError::InvalidInput(m),
        wit::PluginError::DataSource(m) => PluginError::DataSource(m),
        wit::PluginError::Other(m) => PluginError::Other(m),
    }
}
