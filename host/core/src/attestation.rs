//! Report attestation (reference §6): every oracle computes the reports of
//! each committed outcome, signs each with its onchain key and broadcasts
//! the signatures; a report is attested once f+1 oracles' signatures verify
//! (at least one of them honest). An oracle that missed an outcome but sees
//! more than f oracles sign it asks one of them for the certified commit.
//!
//! Memory is bounded by a high-water mark (the (f+1)-th highest seq-nr
//! oracles have signed for, which at least one honest oracle reached):
//! signatures far below it expire, signatures far above it are refused.
//! Report signatures are never persisted.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use ocr_plugin_api::{ReportPlus, ReportWithInfo, TransmissionSchedule};

use crate::certificate::{Certificate, CertifiedCommit, Verifier};
use crate::config::{Address, PublicConfig};
use crate::messages::Message;
use crate::onchain::{self, OnchainKey};
use crate::plugin_call::{CallId, PluginCall, PluginRequest};
use crate::signing::PublicKey;

/// A report with f+1 valid onchain signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttestedReport {
    /// The outcome's seq-nr.
    pub seq_nr: u64,
    /// The report's index among the outcome's reports.
    pub index: usize,
    /// The report and its local info.
    pub report: ReportWithInfo,
    /// f+1 signatures by distinct oracles, ascending by oracle.
    pub signatures: Vec<(u8, Vec<u8>)>,
    /// The plugin's transmission schedule for it, if it set one.
    pub schedule_override: Option<TransmissionSchedule>,
}

/// What the driver must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttestationAction {
    /// Send to every oracle, this one included.
    Broadcast(Message),
    /// Send to one oracle.
    Send {
        /// Recipient.
        to: u8,
        /// Message.
        message: Message,
    },
    /// Make a plugin call.
    CallPlugin(PluginCall),
    /// Call [`ReportAttestation::on_fetch_timer`] for this seq-nr after the delay.
    SetFetchTimer(u64, Duration),
    /// A report is attested.
    Attested(AttestedReport),
}

#[derive(Default)]
struct Round {
    commit: Option<CertifiedCommit>,
    reports_requested: bool,
    reports: Option<Vec<ReportPlus>>,
    signatures: BTreeMap<u8, Vec<Vec<u8>>>,
    verified: BTreeMap<u8, bool>,
    asked: BTreeSet<u8>,
    served: BTreeSet<u8>,
    fetch_scheduled: bool,
    complete: bool,
}

/// Report attestation of one oracle.
pub struct ReportAttestation {
    /// This oracle's id (the position of its onchain key among the signers).
    me: Option<u8>,
    config: Arc<PublicConfig>,
    key: Arc<OnchainKey>,
    offchain_keys: Vec<PublicKey>,
    signers: Vec<Address>,
    rounds: BTreeMap<u64, Round>,
    highest_signed: Vec<u64>,
    high_water_mark: u64,
    expiry: u64,
    lookahead: u64,
}

fn rounds_in(window: Duration, min_round_interval: Duration, low: u64, high: u64) -> u64 {
    if min_round_interval.is_zero() {
        return high;
    }
    (window.as_nanos().div_ceil(min_round_interval.as_nanos()) as u64).clamp(low, high)
}

impl ReportAttestation {
    /// Attestation for one oracle.
    pub fn new(config: Arc<PublicConfig>, key: Arc<OnchainKey>) -> Self {
        let interval = config.min_round_interval();
        let me =
            config.oracles.iter().position(|o| o.onchain_signer == key.address()).and_then(|i| u8::try_from(i).ok());
        Self {
            me,
            offchain_keys: config.oracles.iter().map(|o| o.offchain_public_key).collect(),
            signers: config.oracles.iter().map(|o| o.onchain_signer).collect(),
            highest_signed: vec![0; config.n()],
            rounds: BTreeMap::new(),
            high_water_mark: 0,
            expiry: rounds_in(Duration::from_secs(60), interval, 10, 50),
            lookahead: rounds_in(Duration::from_secs(30), interval, 4, 10),
            config,
            key,
        }
    }

    /// Number of rounds tracked (bounded by the window).
    pub fn tracked_rounds(&self) -> usize {
        self.rounds.len()
    }

    fn f(&self) -> usize {
        usize::from(self.config.f)
    }

    /// Outcome generation committed `commit` (or it was fetched).
    pub fn on_committed(&mut self, commit: CertifiedCommit) -> Vec<AttestationAction> {
        let seq_nr = commit.seq_nr;
        if seq_nr.saturating_add(self.expiry) < self.high_water_mark {
            return Vec::new();
        }
        let round = self.rounds.entry(seq_nr).or_default();
        if round.commit.is_some() {
            return Vec::new();
        }
        let outcome = commit.outcome.clone();
        round.commit = Some(commit);
        round.reports_requested = true;
        vec![AttestationAction::CallPlugin(PluginCall {
            id: CallId { epoch: 0, seq_nr, tag: 0 },
            request: PluginRequest::Reports { seq_nr, outcome },
        })]
    }

    /// The plugin computed the reports of `seq_nr` (`None`: it failed).
    pub fn on_reports(&mut self, seq_nr: u64, reports: Option<Vec<ReportPlus>>) -> Vec<AttestationAction> {
        let digest = self.config.config_digest;
        let Some(round) = self.rounds.get_mut(&seq_nr) else { return Vec::new() };
        if round.reports.is_some() {
            return Vec::new();
        }
        let Some(reports) = reports else {
            // Without reports this oracle can neither sign nor verify.
            round.complete = true;
            return Vec::new();
        };
        let signatures: Vec<Vec<u8>> =
            reports.iter().map(|r| self.key.sign(&digest, seq_nr, &r.report).to_vec()).collect();
        round.reports = Some(reports);
        if let Some(me) = self.me {
            // Made here, over these reports: valid without a recovery, and
            // counted now rather than when the transport loops them back.
            round.signatures.insert(me, signatures.clone());
            round.verified.insert(me, true);
        }
        let mut actions = vec![AttestationAction::Broadcast(Message::ReportSignatures { seq_nr, signatures })];
        actions.extend(self.try_complete(seq_nr));
        actions
    }

    /// Report signatures from oracle `from`.
    pub fn on_report_signatures(&mut self, from: u8, seq_nr: u64, signatures: Vec<Vec<u8>>) -> Vec<AttestationAction> {
        let Some(highest) = self.highest_signed.get_mut(usize::from(from)) else { return Vec::new() };
        *highest = (*highest).max(seq_nr);
        self.update_high_water_mark();
        if seq_nr.saturating_add(self.expiry) < self.high_water_mark
            || seq_nr > self.high_water_mark.saturating_add(self.lookahead)
        {
            return Vec::new();
        }
        let round = self.rounds.entry(seq_nr).or_default();
        round.signatures.entry(from).or_insert(signatures);
        self.try_complete(seq_nr)
    }

    fn update_high_water_mark(&mut self) {
        let mut highest = self.highest_signed.clone();
        highest.sort_unstable_by(|a, b| b.cmp(a));
        let mark = highest.get(self.f()).copied().unwrap_or(0);
        if mark > self.high_water_mark {
            self.high_water_mark = mark;
            let budget = (self.expiry + self.lookahead) as usize * 4 / 3;
            if self.rounds.len() > budget {
                let floor = mark.saturating_sub(self.expiry);
                self.rounds.retain(|seq, _| *seq >= floor);
            }
        }
    }

    fn try_complete(&mut self, seq_nr: u64) -> Vec<AttestationAction> {
        let f = self.f();
        let digest = self.config.config_digest;
        let delta = self.config.delta_certified_commit_request;
        let signers = self.signers.clone();
        let me = self.me;
        let Some(round) = self.rounds.get_mut(&seq_nr) else { return Vec::new() };
        if round.complete {
            return Vec::new();
        }
        if round.commit.is_none() {
            let signing = round.signatures.values().filter(|s| !s.is_empty()).count();
            if signing > f && !round.fetch_scheduled {
                round.fetch_scheduled = true;
                return vec![AttestationAction::SetFetchTimer(seq_nr, delta)];
            }
            return Vec::new();
        }
        let Some(reports) = round.reports.as_ref() else { return Vec::new() };
        // Our own signatures first (recorded valid when made), then others',
        // verified (once each) only until f+1 are valid: a recovery costs
        // about three Ed25519 verifications, and signatures beyond f+1 are
        // never used.
        let own = me.filter(|m| round.signatures.contains_key(m));
        let others = round.signatures.keys().copied().filter(|s| Some(*s) != me);
        let mut valid: Vec<u8> = Vec::with_capacity(f + 1);
        for sender in own.into_iter().chain(others) {
            if valid.len() > f {
                break;
            }
            let set = &round.signatures[&sender];
            let ok = *round.verified.entry(sender).or_insert_with(|| {
                set.len() == reports.len()
                    && signers.get(usize::from(sender)).is_some_and(|signer| {
                        set.iter().zip(reports).all(|(sig, r)| onchain::verify(signer, &digest, seq_nr, &r.report, sig))
                    })
            });
            if ok {
                valid.push(sender);
            }
        }
        if valid.len() <= f {
            return Vec::new();
        }
        valid.sort_unstable();
        round.complete = true;
        reports
            .iter()
            .enumerate()
            .map(|(index, r)| {
                AttestationAction::Attested(AttestedReport {
                    seq_nr,
                    index,
                    report: ReportWithInfo { report: r.report.clone(), info: r.info.clone() },
                    signatures: valid.iter().map(|s| (*s, round.signatures[s][index].clone())).collect(),
                    schedule_override: r.transmission_schedule_override.clone(),
                })
            })
            .collect()
    }

    /// The fetch timer of `seq_nr` fired: ask the next oracle that signed it
    /// for the certified commit, and try again later.
    pub fn on_fetch_timer(&mut self, seq_nr: u64) -> Vec<AttestationAction> {
        let delta = self.config.delta_certified_commit_request;
        let n = self.config.n() as u64;
        let Some(round) = self.rounds.get_mut(&seq_nr) else { return Vec::new() };
        if round.commit.is_some() || round.complete {
            return Vec::new();
        }
        // Deterministic rotation over the signers not asked yet.
        let candidates: Vec<u8> = round
            .signatures
            .iter()
            .filter(|(s, set)| !set.is_empty() && !round.asked.contains(s))
            .map(|(s, _)| *s)
            .collect();
        let Some(to) = candidates.get((seq_nr % n) as usize % candidates.len().max(1)).copied() else {
            return Vec::new();
        };
        round.asked.insert(to);
        vec![
            AttestationAction::Send { to, message: Message::CertifiedCommitRequest { seq_nr } },
            AttestationAction::SetFetchTimer(seq_nr, delta),
        ]
    }

    /// Oracle `from` asks for the certified commit of `seq_nr`.
    pub fn on_certified_commit_request(&mut self, from: u8, seq_nr: u64) -> Vec<AttestationAction> {
        let Some(round) = self.rounds.get_mut(&seq_nr) else { return Vec::new() };
        let Some(commit) = round.commit.clone() else { return Vec::new() };
        if !round.served.insert(from) {
            return Vec::new();
        }
        vec![AttestationAction::Send { to: from, message: Message::CertifiedCommit(commit) }]
    }

    /// A certified commit from oracle `from`, answering our request.
    pub fn on_certified_commit(&mut self, from: u8, commit: CertifiedCommit) -> Vec<AttestationAction> {
        let verifier = Verifier {
            config_digest: self.config.config_digest,
            keys: &self.offchain_keys,
            quorum: self.config.byzantine_quorum(),
        };
        let Some(round) = self.rounds.get(&commit.seq_nr) else { return Vec::new() };
        if !round.asked.contains(&from) || round.commit.is_some() || commit.is_genesis() {
            return Vec::new();
        }
        if !Certificate::Commit(commit.clone()).verify(&verifier) {
            return Vec::new();
        }
        self.on_committed(commit)
    }
}
