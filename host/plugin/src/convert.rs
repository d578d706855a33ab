//! Conversions between the SDK's types and the generated WIT types.

use std::time::Duration;

use ocr_plugin_api::{Method, PluginCallError};
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
        name: cut(i.name),
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

/// Unpacks reports (see `packed-reports`), refusing more than `max_count`
/// before anything per report is allocated.
pub(crate) fn unpack_reports(p: wit::PackedReports, max_count: usize) -> Result<Vec<ReportPlus>, PluginCallError> {
    let count = p.report_ends.len();
    if count > max_count {
        return Err(PluginCallError::TooManyReports { count, limit: max_count });
    }
    let malformed = |reason: &str| PluginCallError::Malformed { method: Method::Reports, reason: reason.to_owned() };
    if [p.info_ends.len(), p.has_schedule.len(), p.schedule_ends.len()].iter().any(|l| *l != count)
        || p.transmitters.len() != p.transmission_delays_ms.len()
    {
        return Err(malformed("packed report lists have different lengths"));
    }
    let range = |ends: &[u32], i: usize, len: usize| -> Result<std::ops::Range<usize>, PluginCallError> {
        let start = if i == 0 { 0 } else { ends[i - 1] as usize };
        let end = ends[i] as usize;
        if start > end || end > len {
            return Err(malformed("packed report offsets out of order or out of range"));
        }
        Ok(start..end)
    };
    let mut reports = Vec::with_capacity(count);
    for i in 0..count {
        let report = p.reports[range(&p.report_ends, i, p.reports.len())?].to_vec();
        let info = p.infos[range(&p.info_ends, i, p.infos.len())?].to_vec();
        let schedule = range(&p.schedule_ends, i, p.transmitters.len())?;
        let transmission_schedule_override = p.has_schedule[i].then(|| TransmissionSchedule {
            transmitters: p.transmitters[schedule.clone()].to_vec(),
            transmission_delays: p.transmission_delays_ms[schedule]
                .iter()
                .map(|ms| Duration::from_millis(*ms))
                .collect(),
        });
        reports.push(ReportPlus { report, info, transmission_schedule_override });
    }
    Ok(reports)
}

/// Guest error messages are cut to this length: they end up in logs.
const MAX_ERROR_MESSAGE: usize = 4096;

fn cut(mut message: String) -> String {
    if message.len() > MAX_ERROR_MESSAGE {
        let mut at = MAX_ERROR_MESSAGE;
        while !message.is_char_boundary(at) {
            at -= 1;
        }
        message.truncate(at);
        message.push('…');
    }
    message
}

pub(crate) fn error(e: wit::PluginError) -> PluginError {
    match e {
        wit::PluginError::InvalidConfig(m) => PluginError::InvalidConfig(cut(m)),
        wit::PluginError::InvalidInput(m) => PluginError::InvalidInput(cut(m)),
        wit::PluginError::DataSource(m) => PluginError::DataSource(cut(m)),
        wit::PluginError::Other(m) => PluginError::Other(cut(m)),
    }
}
