//! One oracle of one protocol instance: the pacemaker and outcome
//! generation wired together behind one input/output interface. Inputs are
//! [`Oracle::on_message`], [`Oracle::on_timer`] and
//! [`Oracle::on_plugin_response`]; each returns [`Action`]s to perform in
//! order, where a persist must be durable before the actions after it.
//! Internal events (a new epoch for outcome generation, progress and
//! new-epoch requests for the pacemaker) are routed here and never leave.

use std::sync::Arc;
use std::time::Duration;

use crate::attestation::{AttestationAction, AttestedReport, ReportAttestation};
use crate::certificate::{Certificate, CertifiedCommit};
use crate::config::PublicConfig;
use crate::messages::{Message, MessageLimits, SizeError};
use crate::onchain::OnchainKey;
use crate::outgen::{OutcomeGeneration, OutgenAction, OutgenConfig, OutgenTimer};
use crate::pacemaker::{Pacemaker, PacemakerAction, PacemakerConfig, PacemakerState, PacemakerTimer};
use crate::permutation::PermutationKeys;
use crate::plugin_call::{CallId, PluginCall, PluginResponse};
use crate::signing::OffchainKey;
use crate::transmission::{Transmission, TransmissionAction};

/// Every timer of an oracle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// No progress for DeltaProgress.
    Progress,
    /// Resend the newest epoch wish.
    Resend,
    /// No valid epoch start in time.
    Initial,
    /// The leader's round spacing.
    Round,
    /// The leader's grace period.
    Grace,
    /// Ask for the certified commit of this seq-nr.
    FetchCommit(u64),
    /// This oracle's turn to transmit report (seq-nr, index).
    Transmit(u64, u32),
}

/// What the driver must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send to one oracle (possibly this one).
    Send {
        /// Recipient.
        to: u8,
        /// Message.
        message: Message,
    },
    /// Send to every oracle, this one included.
    Broadcast(Message),
    /// (Re)arm a timer.
    SetTimer(Timer, Duration),
    /// Disarm a timer.
    CancelTimer(Timer),
    /// Make the pacemaker state durable before any later action.
    PersistPacemaker(PacemakerState),
    /// Make the certificate the durable lock before any later action.
    PersistCertificate(Certificate),
    /// Make a plugin call; answer with [`Oracle::on_plugin_response`].
    CallPlugin(PluginCall),
    /// An outcome committed (its certificate is already durable).
    Committed(CertifiedCommit),
    /// A report has f+1 valid onchain signatures.
    Attested(AttestedReport),
    /// Send this attested report to the chain now (the plugin agreed).
    Transmit(AttestedReport),
    /// An inbound message was refused before any signature work.
    Refused {
        /// The sender.
        from: u8,
        /// Why.
        error: SizeError,
    },
}

/// What an oracle restores from storage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Persisted {
    /// The pacemaker state.
    pub pacemaker: Option<PacemakerState>,
    /// The lock.
    pub certificate: Option<Certificate>,
}

/// Everything an oracle is started with.
pub struct OracleSetup {
    /// The instance's public config.
    pub config: Arc<PublicConfig>,
    /// This oracle's id.
    pub me: u8,
    /// Its offchain (consensus) key.
    pub offchain_key: Arc<OffchainKey>,
    /// Its onchain (report) key.
    pub onchain_key: Arc<OnchainKey>,
    /// The instance's shared secret (leader and transmission order).
    pub shared_secret: [u8; 16],
    /// The plugin's limits (from its factory), bounding inbound messages.
    pub plugin_limits: ocr_plugin_api::PluginLimits,
}

/// One oracle.
pub struct Oracle {
    pacemaker: Pacemaker,
    outgen: OutcomeGeneration,
    attestation: ReportAttestation,
    transmission: Transmission,
    limits: MessageLimits,
}

impl Oracle {
    /// Starts (or restarts from `persisted`) an oracle.
    pub fn start(setup: OracleSetup, persisted: Persisted) -> (Self, Vec<Action>) {
        let OracleSetup { config, me, offchain_key: key, onchain_key, shared_secret, plugin_limits } = setup;
        let keys = PermutationKeys::new(&shared_secret, &config.config_digest);
        let limits = MessageLimits::new(&config, &plugin_limits);
        let attestation = ReportAttestation::new(config.clone(), onchain_key);
        let transmission = Transmission::new(config.clone(), me, keys.clone());
        let pacemaker_config = PacemakerConfig {
            n: config.n(),
            f: usize::from(config.f),
            delta_progress: config.delta_progress,
            delta_resend: config.delta_resend,
            keys,
        };
        let outgen = OutcomeGeneration::new(OutgenConfig { config, me, key }, persisted.certificate);
        let (pacemaker, actions) = Pacemaker::start(pacemaker_config, persisted.pacemaker);
        let mut oracle = Self { pacemaker, outgen, attestation, transmission, limits };
        let actions = oracle.route_pacemaker(actions);
        (oracle, actions)
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.pacemaker.epoch()
    }

    /// The last committed seq-nr known here.
    pub fn committed_seq_nr(&self) -> Option<u64> {
        self.outgen.committed_seq_nr()
    }

    /// A message from oracle `from`. Sizes and shapes are checked before
    /// anything else: an oversized or malformed message costs no signature
    /// verification and changes nothing.
    pub fn on_message(&mut self, from: u8, message: Message) -> Vec<Action> {
        if usize::from(from) >= self.limits.n {
            return Vec::new();
        }
        if let Err(error) = message.check_size(&self.limits) {
            return vec![Action::Refused { from, error }];
        }
        match message {
            Message::NewEpochWish { epoch } => {
                let actions = self.pacemaker.on_wish(from, epoch);
                self.route_pacemaker(actions)
            }
            Message::ReportSignatures { seq_nr, signatures } => {
                let a = self.attestation.on_report_signatures(from, seq_nr, signatures);
                self.route_attestation(a)
            }
            Message::CertifiedCommitRequest { seq_nr } => {
                let a = self.attestation.on_certified_commit_request(from, seq_nr);
                self.route_attestation(a)
            }
            Message::CertifiedCommit(commit) => {
                let a = self.attestation.on_certified_commit(from, commit);
                self.route_attestation(a)
            }
            other => {
                let actions = self.outgen.on_message(from, other);
                self.route_outgen(actions)
            }
        }
    }

    /// A timer fired.
    pub fn on_timer(&mut self, timer: Timer) -> Vec<Action> {
        match timer {
            Timer::Progress => {
                let a = self.pacemaker.on_timer(PacemakerTimer::Progress);
                self.route_pacemaker(a)
            }
            Timer::Resend => {
                let a = self.pacemaker.on_timer(PacemakerTimer::Resend);
                self.route_pacemaker(a)
            }
            Timer::Initial => self.outgen_timer(OutgenTimer::Initial),
            Timer::Round => self.outgen_timer(OutgenTimer::Round),
            Timer::Grace => self.outgen_timer(OutgenTimer::Grace),
            Timer::Transmit(seq_nr, index) => {
                let a = self.transmission.on_timer(seq_nr, index);
                self.route_transmission(a)
            }
            Timer::FetchCommit(seq_nr) => {
                let a = self.attestation.on_fetch_timer(seq_nr);
                self.route_attestation(a)
            }
        }
    }

    fn outgen_timer(&mut self, timer: OutgenTimer) -> Vec<Action> {
        let actions = self.outgen.on_timer(timer);
        self.route_outgen(actions)
    }

    /// A plugin call finished.
    pub fn on_plugin_response(&mut self, id: CallId, response: PluginResponse) -> Vec<Action> {
        match response {
            PluginResponse::Reports(reports) => {
                let a = self.attestation.on_reports(id.seq_nr, reports);
                return self.route_attestation(a);
            }
            PluginResponse::ShouldAccept(yes) | PluginResponse::ShouldTransmit(yes) => {
                let a = self.transmission.on_plugin_response(id, yes);
                return self.route_transmission(a);
            }
            _ => {}
        }
        let actions = self.outgen.on_plugin_response(id, response);
        self.route_outgen(actions)
    }

    fn route_attestation(&mut self, actions: Vec<AttestationAction>) -> Vec<Action> {
        let mut out = Vec::with_capacity(actions.len());
        for action in actions {
            match action {
                AttestationAction::Broadcast(m) => out.push(Action::Broadcast(m)),
                AttestationAction::Send { to, message } => out.push(Action::Send { to, message }),
                AttestationAction::CallPlugin(c) => out.push(Action::CallPlugin(c)),
                AttestationAction::SetFetchTimer(seq_nr, d) => {
                    out.push(Action::SetTimer(Timer::FetchCommit(seq_nr), d))
                }
                AttestationAction::Attested(r) => {
                    out.push(Action::Attested(r.clone()));
                    let a = self.transmission.on_attested(r);
                    out.extend(self.route_transmission(a));
                }
            }
        }
        out
    }

    fn route_transmission(&mut self, actions: Vec<TransmissionAction>) -> Vec<Action> {
        actions
            .into_iter()
            .map(|action| match action {
                TransmissionAction::CallPlugin(c) => Action::CallPlugin(c),
                TransmissionAction::SetTimer(seq_nr, index, d) => Action::SetTimer(Timer::Transmit(seq_nr, index), d),
                TransmissionAction::Transmit(r) => Action::Transmit(r),
            })
            .collect()
    }

    fn route_pacemaker(&mut self, actions: Vec<PacemakerAction>) -> Vec<Action> {
        let mut out = Vec::with_capacity(actions.len());
        for action in actions {
            match action {
                PacemakerAction::Persist(state) => out.push(Action::PersistPacemaker(state)),
                PacemakerAction::BroadcastWish { epoch } => {
                    out.push(Action::Broadcast(Message::NewEpochWish { epoch }))
                }
                PacemakerAction::SetTimer(t, d) => out.push(Action::SetTimer(pacemaker_timer(t), d)),
                PacemakerAction::CancelTimer(t) => out.push(Action::CancelTimer(pacemaker_timer(t))),
                PacemakerAction::StartEpoch { epoch, leader } => {
                    let started = self.outgen.start_epoch(epoch, leader);
                    out.extend(self.route_outgen(started));
                }
            }
        }
        out
    }

    fn route_outgen(&mut self, actions: Vec<OutgenAction>) -> Vec<Action> {
        let mut out = Vec::with_capacity(actions.len());
        for action in actions {
            match action {
                OutgenAction::Send { to, message } => out.push(Action::Send { to, message }),
                OutgenAction::Broadcast(m) => out.push(Action::Broadcast(m)),
                OutgenAction::SetTimer(t, d) => out.push(Action::SetTimer(outgen_timer(t), d)),
                OutgenAction::CancelTimer(t) => out.push(Action::CancelTimer(outgen_timer(t))),
                OutgenAction::Persist(c) => out.push(Action::PersistCertificate(c)),
                OutgenAction::CallPlugin(c) => out.push(Action::CallPlugin(c)),
                OutgenAction::Committed(c) => {
                    out.push(Action::Committed(c.clone()));
                    let a = self.attestation.on_committed(c);
                    out.extend(self.route_attestation(a));
                }
                OutgenAction::Progress => {
                    let a = self.pacemaker.on_progress();
                    out.extend(self.route_pacemaker(a));
                }
                OutgenAction::NewEpochRequest => {
                    let a = self.pacemaker.on_new_epoch_request();
                    out.extend(self.route_pacemaker(a));
                }
            }
        }
        out
    }
}

fn pacemaker_timer(t: PacemakerTimer) -> Timer {
    match t {
        PacemakerTimer::Progress => Timer::Progress,
        PacemakerTimer::Resend => Timer::Resend,
    }
}

fn outgen_timer(t: OutgenTimer) -> Timer {
    match t {
        OutgenTimer::Initial => Timer::Initial,
        OutgenTimer::Round => Timer::Round,
        OutgenTimer::Grace => Timer::Grace,
    }
}
