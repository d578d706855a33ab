//! Outcome generation (reference §5): the leader-based consensus on one
//! outcome per seq-nr, with epoch-start recovery of the highest certified
//! prepare or commit. Sans-IO: inputs return ordered [`OutgenAction`]s, and a
//! [`OutgenAction::Persist`] must be durable before any later action of the
//! same list is performed. That is what makes the lock survive crashes: a
//! commit signature never leaves before its prepare certificate is stored,
//! and an outcome is never delivered before its commit certificate is.
//!
//! Every signature is bound to (config digest, epoch); messages from past
//! epochs are dropped, a few from future epochs are buffered per sender and
//! replayed when the epoch starts; per-round pools hold at most one message
//! per sender for the current and the next seq-nr.

mod epoch_start;
mod round;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use ocr_plugin_api::OutcomeContext;

use crate::certificate::{Certificate, CertifiedCommit, Verifier};
use crate::config::PublicConfig;
use crate::messages::{AttributedSignedObservation, Message, SignedCertifiedTimestamp, SignedObservation};
use crate::payload::{Hash, Ogid};
use crate::plugin_call::{CallId, PluginCall, PluginResponse};
use crate::signing::{OffchainKey, PublicKey, Signature};

/// Outcome generation's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutgenTimer {
    /// Waiting for a valid EpochStart.
    Initial,
    /// The leader's minimum spacing of round starts.
    Round,
    /// The leader's grace period after the observation quorum.
    Grace,
}

/// What the driver must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutgenAction {
    /// Send to one oracle (possibly this one).
    Send {
        /// The recipient.
        to: u8,
        /// The message.
        message: Message,
    },
    /// Send to every oracle, this one included.
    Broadcast(Message),
    /// (Re)arm a timer.
    SetTimer(OutgenTimer, Duration),
    /// Disarm a timer.
    CancelTimer(OutgenTimer),
    /// Make this certificate the durable lock before any later action.
    Persist(Certificate),
    /// Make a plugin call and answer with its id.
    CallPlugin(PluginCall),
    /// An outcome is committed (after its certificate is durable).
    Committed(CertifiedCommit),
    /// Tell the pacemaker the protocol progressed.
    Progress,
    /// Ask the pacemaker for a new epoch.
    NewEpochRequest,
}

/// What outcome generation needs to know about the instance.
#[derive(Clone)]
pub struct OutgenConfig {
    /// The public config.
    pub config: Arc<PublicConfig>,
    /// This oracle's id.
    pub me: u8,
    /// This oracle's offchain key.
    pub key: Arc<OffchainKey>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FollowerPhase {
    NewEpoch,
    NewRound,
    BackgroundObservation,
    SentObservation,
    BackgroundProposalOutcome,
    SentPrepare,
    SentCommit,
    EpochEnded,
}

#[derive(Clone, Debug)]
struct Current {
    inputs_digest: Hash,
    outcome: Vec<u8>,
    outcome_digest: Hash,
}

/// What this oracle signed as its observation of one round.
#[derive(Clone)]
struct OwnObservation {
    seq_nr: u64,
    query: Vec<u8>,
    signed: SignedObservation,
}

impl OwnObservation {
    /// Whether `signed` is this very observation, signed over `query` for
    /// `seq_nr`: then its signature is valid without checking it again.
    fn is(&self, seq_nr: u64, query: &[u8], signed: &SignedObservation) -> bool {
        self.seq_nr == seq_nr && self.query == query && self.signed == *signed
    }
}

struct Follower {
    phase: FollowerPhase,
    seq_nr: u64,
    query: Option<Vec<u8>>,
    pending_inputs_digest: Option<Hash>,
    current: Option<Current>,
    round_starts: BTreeMap<u64, Vec<u8>>,
    proposals: BTreeMap<u64, Vec<AttributedSignedObservation>>,
    /// This oracle's own signed observation of the current round, with the
    /// query it signed over: a copy of it (in the leader's proposal, or at
    /// the leader itself) is known valid and needs no verification.
    own_observation: Option<OwnObservation>,
    /// seq-nr -> sender -> (signature, verdict once checked). This oracle's
    /// own signatures go in as valid when it makes them.
    prepares: BTreeMap<u64, BTreeMap<u8, (Signature, Option<bool>)>>,
    commits: BTreeMap<u64, BTreeMap<u8, (Signature, Option<bool>)>>,
}

impl Follower {
    fn new() -> Self {
        Self {
            phase: FollowerPhase::NewEpoch,
            seq_nr: 0,
            query: None,
            pending_inputs_digest: None,
            current: None,
            round_starts: BTreeMap::new(),
            proposals: BTreeMap::new(),
            own_observation: None,
            prepares: BTreeMap::new(),
            commits: BTreeMap::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LeaderPhase {
    NewEpoch,
    SentEpochStart,
    SentRoundStart,
    Grace,
    SentProposal,
}

struct LeaderObservation {
    signed: SignedObservation,
    valid: Option<bool>,
}

struct LeaderState {
    phase: LeaderPhase,
    requests: BTreeMap<u8, Option<(Certificate, SignedCertifiedTimestamp)>>,
    round_timer_expired: bool,
    ready: bool,
    query_in_flight: bool,
    seq_nr: u64,
    ctx: Option<OutcomeContext>,
    query: Vec<u8>,
    observations: BTreeMap<u8, LeaderObservation>,
    quorum_in_flight: bool,
    quorum_checked: usize,
    quorum_reached: bool,
}

impl LeaderState {
    fn new() -> Self {
        Self {
            phase: LeaderPhase::NewEpoch,
            requests: BTreeMap::new(),
            round_timer_expired: false,
            ready: false,
            query_in_flight: false,
            seq_nr: 0,
            ctx: None,
            query: Vec::new(),
            observations: BTreeMap::new(),
            quorum_in_flight: false,
            quorum_checked: 0,
            quorum_reached: false,
        }
    }
}

/// Messages buffered per sender for epochs not started yet.
const FUTURE_BUFFER: usize = 10;

/// Tags of plugin calls within a round.
const TAG_MAIN: u32 = 0;
const TAG_QUORUM: u32 = u32::MAX;

/// Outcome generation of one oracle.
pub struct OutcomeGeneration {
    cfg: OutgenConfig,
    keys: Vec<PublicKey>,
    quorum: usize,
    epoch: u64,
    leader: u8,
    cert: Certificate,
    committed: Option<CertifiedCommit>,
    first_seq_nr: u64,
    follower: Follower,
    leading: Option<LeaderState>,
    future: Vec<VecDeque<(u64, Message)>>,
}

impl OutcomeGeneration {
    /// Outcome generation resuming from the persisted lock (`None` on first
    /// start: genesis). It is idle until [`Self::start_epoch`].
    pub fn new(cfg: OutgenConfig, restored: Option<Certificate>) -> Self {
        let keys = cfg.config.oracles.iter().map(|o| o.offchain_public_key).collect();
        let quorum = cfg.config.byzantine_quorum();
        let n = cfg.config.n();
        let cert = restored.unwrap_or_else(|| Certificate::Commit(CertifiedCommit::genesis()));
        let committed = match &cert {
            Certificate::Commit(c) => Some(c.clone()),
            Certificate::Prepare(_) => None,
        };
        Self {
            cfg,
            keys,
            quorum,
            epoch: 0,
            leader: 0,
            cert,
            committed,
            first_seq_nr: 1,
            follower: Follower::new(),
            leading: None,
            future: (0..n).map(|_| VecDeque::new()).collect(),
        }
    }

    /// The lock this oracle holds.
    pub fn highest_certified(&self) -> &Certificate {
        &self.cert
    }

    /// The last committed seq-nr known here, if any.
    pub fn committed_seq_nr(&self) -> Option<u64> {
        self.committed.as_ref().map(|c| c.seq_nr)
    }

    fn ogid(&self) -> Ogid {
        Ogid { config_digest: self.cfg.config.config_digest, epoch: self.epoch }
    }

    fn verifier(&self) -> Verifier<'_> {
        Verifier { config_digest: self.cfg.config.config_digest, keys: &self.keys, quorum: self.quorum }
    }

    fn key_of(&self, oracle: u8) -> Option<&PublicKey> {
        self.keys.get(usize::from(oracle))
    }

    /// The context of `seq_nr`, if this oracle knows the outcome before it.
    fn ctx(&self, seq_nr: u64) -> Option<OutcomeContext> {
        let committed = self.committed.as_ref()?;
        (committed.seq_nr.checked_add(1) == Some(seq_nr)).then(|| OutcomeContext {
            seq_nr,
            previous_outcome: committed.outcome.clone(),
            epoch: self.epoch,
            round: seq_nr.saturating_sub(self.first_seq_nr) + 1,
        })
    }

    fn call(&self, seq_nr: u64, tag: u32, request: crate::plugin_call::PluginRequest) -> OutgenAction {
        OutgenAction::CallPlugin(PluginCall { id: CallId { epoch: self.epoch, seq_nr, tag }, request })
    }

    /// The pacemaker entered `epoch` led by `leader`.
    pub fn start_epoch(&mut self, epoch: u64, leader: u8) -> Vec<OutgenAction> {
        self.epoch = epoch;
        self.leader = leader;
        self.follower = Follower::new();
        self.leading = (leader == self.cfg.me).then(LeaderState::new);
        let config = &self.cfg.config;
        let ts = self.cert.timestamp();
        let signature = self.cfg.key.sign(&crate::payload::highest_certified_timestamp(&self.ogid(), &ts));
        let mut actions = vec![
            OutgenAction::CancelTimer(OutgenTimer::Grace),
            OutgenAction::SetTimer(OutgenTimer::Initial, config.delta_initial),
            OutgenAction::Send {
                to: leader,
                message: Message::EpochStartRequest {
                    epoch,
                    highest_certified: self.cert.clone(),
                    signed_timestamp: SignedCertifiedTimestamp { timestamp: ts, signature },
                },
            },
        ];
        if self.leading.is_some() {
            actions.push(OutgenAction::SetTimer(OutgenTimer::Round, config.delta_round));
        } else {
            actions.push(OutgenAction::CancelTimer(OutgenTimer::Round));
        }
        // Replay what arrived early for this epoch; drop what is now stale.
        for sender in 0..self.future.len() {
            let buffered: Vec<(u64, Message)> = self.future[sender].drain(..).collect();
            for (e, message) in buffered {
                if e == epoch {
                    actions.extend(self.on_message(sender as u8, message));
                } else if e > epoch {
                    self.future[sender].push_back((e, message));
                }
            }
        }
        actions
    }

    /// A message from oracle `from` (authenticated by the transport).
    pub fn on_message(&mut self, from: u8, message: Message) -> Vec<OutgenAction> {
        if usize::from(from) >= self.keys.len() {
            return Vec::new();
        }
        let Some(epoch) = message.epoch() else { return Vec::new() };
        if epoch < self.epoch {
            return Vec::new();
        }
        if epoch > self.epoch {
            let buffer = &mut self.future[usize::from(from)];
            if buffer.len() == FUTURE_BUFFER {
                buffer.pop_front();
            }
            buffer.push_back((epoch, message));
            return Vec::new();
        }
        match message {
            Message::EpochStartRequest { highest_certified, signed_timestamp, .. } => {
                self.on_epoch_start_request(from, highest_certified, signed_timestamp)
            }
            Message::EpochStart { highest_certified, proof, signature, .. } => {
                self.on_epoch_start(from, highest_certified, proof, signature)
            }
            Message::RoundStart { seq_nr, query, .. } => self.on_round_start(from, seq_nr, query),
            Message::Observation { seq_nr, signed, .. } => self.on_observation(from, seq_nr, signed),
            Message::Proposal { seq_nr, observations, .. } => self.on_proposal(from, seq_nr, observations),
            Message::Prepare { seq_nr, signature, .. } => self.on_prepare(from, seq_nr, signature),
            Message::Commit { seq_nr, signature, .. } => self.on_commit(from, seq_nr, signature),
            _ => Vec::new(),
        }
    }

    /// A timer fired.
    pub fn on_timer(&mut self, timer: OutgenTimer) -> Vec<OutgenAction> {
        match timer {
            OutgenTimer::Initial if self.follower.phase == FollowerPhase::NewEpoch => {
                vec![OutgenAction::NewEpochRequest]
            }
            OutgenTimer::Initial => Vec::new(),
            OutgenTimer::Round => {
                if let Some(l) = self.leading.as_mut() {
                    l.round_timer_expired = true;
                }
                self.try_start_leader_round()
            }
            OutgenTimer::Grace => self.on_grace_expired(),
        }
    }

    /// A plugin call finished. Results for an epoch or round this oracle has
    /// left are dropped.
    pub fn on_plugin_response(&mut self, id: CallId, response: PluginResponse) -> Vec<OutgenAction> {
        if id.epoch != self.epoch {
            return Vec::new();
        }
        match response {
            PluginResponse::Query(query) => self.on_query_done(id, query),
            PluginResponse::Observation(observation) => self.on_observation_done(id, observation),
            PluginResponse::ValidateObservation(valid) => self.on_validation_done(id, valid),
            PluginResponse::ObservationQuorum(quorum) => self.on_quorum_done(id, quorum),
            PluginResponse::ProposalOutcome(outcome) => self.on_proposal_outcome_done(id, outcome),
            PluginResponse::Reports(_) | PluginResponse::ShouldAccept(_) | PluginResponse::ShouldTransmit(_) => {
                Vec::new()
            }
        }
    }
}
