//! One oracle of one protocol instance: the pacemaker and outcome
//! generation wired together behind one input/output interface. Inputs are
//! [`Oracle::on_message`], [`Oracle::on_timer`] and
//! [`Oracle::on_plugin_response`]; each returns [`Action`]s to perform in
//! order, where a persist must be durable before the actions after it.
//! Internal events (a new epoch for outcome generation, progress and
//! new-epoch requests for the pacemaker) are routed here and never leave.

use std::sync::Arc;
use std::time::Duration;

use crate::certificate::{Certificate, CertifiedCommit};
use crate::config::PublicConfig;
use crate::messages::Message;
use crate::outgen::{OutcomeGeneration, OutgenAction, OutgenConfig, OutgenTimer};
use crate::pacemaker::{Pacemaker, PacemakerAction, PacemakerConfig, PacemakerState, PacemakerTimer};
use crate::permutation::PermutationKeys;
use crate::plugin_call::{CallId, PluginCall, PluginResponse};
use crate::signing::OffchainKey;

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
}

/// What an oracle restores from storage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Persisted {
    /// The pacemaker state.
    pub pacemaker: Option<PacemakerState>,
    /// The lock.
    pub certificate: Option<Certificate>,
}

/// One oracle.
pub struct Oracle {
    pacemaker: Pacemaker,
    outgen: OutcomeGeneration,
}

impl Oracle {
    /// Starts (or restarts from `persisted`) oracle `me`.
    pub fn start(
        config: Arc<PublicConfig>,
        me: u8,
        key: Arc<OffchainKey>,
        shared_secret: &[u8; 16],
        persisted: Persisted,
    ) -> (Self, Vec<Action>) {
        let keys = PermutationKeys::new(shared_secret, &config.config_digest);
        let pacemaker_config = PacemakerConfig {
            n: config.n(),
            f: usize::from(config.f),
            delta_progress: config.delta_progress,
            delta_resend: config.delta_resend,
            keys,
        };
        let outgen = OutcomeGeneration::new(OutgenConfig { config, me, key }, persisted.certificate);
        let (pacemaker, actions) = Pacemaker::start(pacemaker_config, persisted.pacemaker);
        let mut oracle = Self { pacemaker, outgen };
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

    /// A message from oracle `from`.
    pub fn on_message(&mut self, from: u8, message: Message) -> Vec<Action> {
        match message {
            Message::NewEpochWish { epoch } => {
                let actions = self.pacemaker.on_wish(from, epoch);
                self.route_pacemaker(actions)
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
        }
    }

    fn outgen_timer(&mut self, timer: OutgenTimer) -> Vec<Action> {
        let actions = self.outgen.on_timer(timer);
        self.route_outgen(actions)
    }

    /// A plugin call finished.
    pub fn on_plugin_response(&mut self, id: CallId, response: PluginResponse) -> Vec<Action> {
        let actions = self.outgen.on_plugin_response(id, response);
        self.route_outgen(actions)
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
                OutgenAction::Committed(c) => out.push(Action::Committed(c)),
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
