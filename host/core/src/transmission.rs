//! Transmission scheduling (reference §7): who sends an attested report on
//! chain, and when. By default oracles are ordered by a keyed permutation
//! per (seq-nr, report index) and grouped into stages by S: stage k waits
//! k·DeltaStage, so one oracle usually transmits and the next stage only if
//! it did not. A report's own schedule overrides that: its transmitters, each
//! with a delay, the delays assigned through the same keyed permutation. An
//! oracle with a slot asks the plugin to accept the report, waits its delay,
//! asks whether to transmit it now, and only then transmits.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::attestation::AttestedReport;
use crate::config::PublicConfig;
use crate::permutation::{PermutationKeys, permutation};
use crate::plugin_call::{CallId, PluginCall, PluginRequest};

/// What the driver must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransmissionAction {
    /// Make a plugin call.
    CallPlugin(PluginCall),
    /// Call [`Transmission::on_timer`] for (seq-nr, index) after the delay.
    SetTimer(u64, u32, Duration),
    /// Send this report to the chain now.
    Transmit(AttestedReport),
}

/// Pending reports at most; the oldest is dropped beyond it.
const MAX_PENDING: usize = 1024;

const TAG_ACCEPT: u32 = 0;
const TAG_TRANSMIT: u32 = 1;

/// Transmission scheduling of one oracle.
pub struct Transmission {
    config: Arc<PublicConfig>,
    me: u8,
    keys: PermutationKeys,
    /// (seq-nr, index) -> (report, its delay for this oracle).
    pending: BTreeMap<(u64, u32), (AttestedReport, Duration)>,
}

impl Transmission {
    /// Scheduling for oracle `me`.
    pub fn new(config: Arc<PublicConfig>, me: u8, keys: PermutationKeys) -> Self {
        Self { config, me, keys, pending: BTreeMap::new() }
    }

    /// This oracle's delay for a report, if it transmits it at all.
    pub fn delay_for(&self, report: &AttestedReport) -> Option<Duration> {
        let n = self.config.n();
        let key = self.keys.transmission_key(report.seq_nr, report.index as u64);
        match &report.schedule_override {
            None => {
                let order = permutation(n, &key);
                let position = order.iter().position(|o| *o == self.me)?;
                let mut end = 0usize;
                for (stage, size) in self.config.s.iter().enumerate() {
                    end += usize::from(*size);
                    if position < end {
                        return Some(self.config.delta_stage * stage as u32);
                    }
                }
                None
            }
            Some(schedule) => {
                let transmitters = &schedule.transmitters;
                let mut seen = [false; 256];
                let valid = transmitters.len() == schedule.transmission_delays.len()
                    && transmitters
                        .iter()
                        .all(|t| usize::from(*t) < n && !std::mem::replace(&mut seen[usize::from(*t)], true));
                if !valid {
                    return None;
                }
                let slot = transmitters.iter().position(|t| *t == self.me)?;
                let pi = permutation(transmitters.len(), &key);
                schedule.transmission_delays.get(usize::from(pi[slot])).copied()
            }
        }
    }

    /// The call id names the report (seq-nr, index) and the question.
    fn call(seq_nr: u64, index: u32, kind: u32, request: PluginRequest) -> TransmissionAction {
        TransmissionAction::CallPlugin(PluginCall {
            id: CallId { epoch: 0, seq_nr, tag: (index << 1) | kind },
            request,
        })
    }

    /// A report was attested.
    pub fn on_attested(&mut self, report: AttestedReport) -> Vec<TransmissionAction> {
        let Some(delay) = self.delay_for(&report) else { return Vec::new() };
        // Indices are below the OCR3 maximum of 2000 reports per outcome.
        let Ok(index) = u32::try_from(report.index) else { return Vec::new() };
        if self.pending.len() >= MAX_PENDING {
            self.pending.pop_first();
        }
        let request = PluginRequest::ShouldAccept { seq_nr: report.seq_nr, report: report.report.clone() };
        let action = Self::call(report.seq_nr, index, TAG_ACCEPT, request);
        self.pending.insert((report.seq_nr, index), (report, delay));
        vec![action]
    }

    /// The plugin answered should-accept or should-transmit.
    pub fn on_plugin_response(&mut self, id: CallId, yes: bool) -> Vec<TransmissionAction> {
        let key = (id.seq_nr, id.tag >> 1);
        if !yes {
            self.pending.remove(&key);
            return Vec::new();
        }
        match id.tag & 1 {
            TAG_ACCEPT => match self.pending.get(&key) {
                Some((_, delay)) => vec![TransmissionAction::SetTimer(key.0, key.1, *delay)],
                None => Vec::new(),
            },
            TAG_TRANSMIT => {
                self.pending.remove(&key).map(|(r, _)| TransmissionAction::Transmit(r)).into_iter().collect()
            }
            _ => Vec::new(),
        }
    }

    /// This oracle's delay for (seq-nr, index) has passed.
    pub fn on_timer(&mut self, seq_nr: u64, index: u32) -> Vec<TransmissionAction> {
        let Some((report, _)) = self.pending.get(&(seq_nr, index)) else { return Vec::new() };
        let request = PluginRequest::ShouldTransmit { seq_nr, report: report.report.clone() };
        vec![Self::call(seq_nr, index, TAG_TRANSMIT, request)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocr_plugin_api::{ReportWithInfo, TransmissionSchedule};

    fn config(n: u8, s: Vec<u8>) -> Arc<PublicConfig> {
        let mut c = crate::config::tests::config(n, (n - 1) / 3);
        c.s = s;
        c.delta_stage = Duration::from_secs(10);
        Arc::new(c)
    }

    fn report(seq_nr: u64, schedule: Option<TransmissionSchedule>) -> AttestedReport {
        AttestedReport {
            seq_nr,
            index: 0,
            report: ReportWithInfo { report: vec![1], info: vec![] },
            signatures: vec![],
            schedule_override: schedule,
        }
    }

    fn delays(config: &Arc<PublicConfig>, r: &AttestedReport) -> Vec<Option<Duration>> {
        let keys = PermutationKeys::new(&[7; 16], &config.config_digest);
        (0..config.n() as u8).map(|me| Transmission::new(config.clone(), me, keys.clone()).delay_for(r)).collect()
    }

    #[test]
    fn stages_follow_s() {
        let config = config(7, vec![1, 2, 3]);
        for seq_nr in 1..20 {
            let d = delays(&config, &report(seq_nr, None));
            let count = |secs| d.iter().filter(|x| **x == Some(Duration::from_secs(secs))).count();
            assert_eq!((count(0), count(10), count(20)), (1, 2, 3), "seq_nr {seq_nr}: {d:?}");
            assert_eq!(d.iter().filter(|x| x.is_none()).count(), 1, "the seventh oracle has no slot");
        }
        // The first transmitter rotates between reports.
        let firsts: std::collections::BTreeSet<usize> = (1..40)
            .map(|s| delays(&config, &report(s, None)).iter().position(|x| *x == Some(Duration::ZERO)).unwrap())
            .collect();
        assert!(firsts.len() > 3, "{firsts:?}");
    }

    #[test]
    fn an_override_assigns_its_delays_and_invalid_ones_transmit_nothing() {
        let config = config(4, vec![4]);
        let schedule = TransmissionSchedule {
            transmitters: vec![2, 0],
            transmission_delays: vec![Duration::from_secs(1), Duration::from_secs(5)],
        };
        let d = delays(&config, &report(3, Some(schedule)));
        assert_eq!((d[1], d[3]), (None, None));
        let mut assigned = vec![d[0].unwrap(), d[2].unwrap()];
        assigned.sort();
        assert_eq!(assigned, vec![Duration::from_secs(1), Duration::from_secs(5)]);
        let duplicate = TransmissionSchedule {
            transmitters: vec![2, 2],
            transmission_delays: vec![Duration::ZERO, Duration::ZERO],
        };
        assert!(delays(&config, &report(3, Some(duplicate))).iter().all(Option::is_none));
        let out_of_range = TransmissionSchedule { transmitters: vec![9], transmission_delays: vec![Duration::ZERO] };
        assert!(delays(&config, &report(3, Some(out_of_range))).iter().all(Option::is_none));
    }
}
