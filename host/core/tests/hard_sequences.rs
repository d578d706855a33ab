//! The protocol's hard sequences, driven step by step: four oracles wired
//! through an in-memory network the test controls (messages can be
//! dropped), with timers fired explicitly and plugin calls answered at once.
//!
//! - a leader that crashes after its round prepared (nobody committed):
//!   the next leader re-proposes the prepared outcome, and that outcome, not
//!   a new one, commits;
//! - the crashed leader restarts from storage in the middle of the next
//!   epoch and rejoins without contradicting anything;
//! - an equivocating leader's conflicting proposals never commit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use ocr_core::certificate::Certificate;
use ocr_core::messages::Message;
use ocr_core::onchain::OnchainKey;
use ocr_core::oracle::{Action, Oracle, OracleSetup, Persisted, Timer};
use ocr_core::plugin_call::{self, CallId, PluginResponse};
use ocr_core::signing::OffchainKey;
use ocr_core::{OracleIdentity, PublicConfig};
use ocr_plugin_api::{LimitChecked, NativePlugin, Plugin};
use ocr_plugin_sdk::{
    AttributedObservationRef, ConfigDigest, DataSources, OutcomeContext, PluginConfig, PluginError, PluginInfo,
    PluginLimits, Quorum, ReportPlus, ReportingPlugin, SeqNr,
};

/// Observes its oracle id and the seq-nr; the outcome lists the observers.
struct Echo {
    config: PluginConfig,
}

impl ReportingPlugin for Echo {
    fn new(config: &PluginConfig) -> Result<(Self, PluginInfo), PluginError> {
        let limits = PluginLimits {
            max_query_length: 16,
            max_observation_length: 16,
            max_outcome_length: 1024,
            max_report_length: 1024,
            max_report_count: 1,
        };
        Ok((Echo { config: config.clone() }, PluginInfo { name: "echo".into(), limits }))
    }
    fn observation(&self, ctx: &OutcomeContext, _q: &[u8], _s: &dyn DataSources) -> Result<Vec<u8>, PluginError> {
        Ok(vec![self.config.oracle_id, ctx.seq_nr as u8])
    }
    fn observation_quorum(
        &self,
        _: &OutcomeContext,
        _: &[u8],
        aos: &[AttributedObservationRef<'_>],
    ) -> Result<bool, PluginError> {
        Ok(self.config.is_quorum(Quorum::TwoFPlusOne, aos.len()))
    }
    fn outcome(
        &self,
        ctx: &OutcomeContext,
        _: &[u8],
        aos: &[AttributedObservationRef<'_>],
    ) -> Result<Vec<u8>, PluginError> {
        let mut out = vec![ctx.seq_nr as u8];
        out.extend(aos.iter().map(|a| a.observer));
        Ok(out)
    }
    fn reports(&self, _: SeqNr, outcome: &[u8]) -> Result<Vec<ReportPlus>, PluginError> {
        Ok(vec![ReportPlus::new(outcome.to_vec())])
    }
}

const N: u8 = 4;

/// Decides whether to drop a message (from, to, message).
type DropRule = Box<dyn Fn(u8, u8, &Message) -> bool>;

struct Harness {
    config: Arc<PublicConfig>,
    offchain: Vec<Arc<OffchainKey>>,
    onchain: Vec<Arc<OnchainKey>>,
    oracles: Vec<Option<Oracle>>,
    plugins: Vec<LimitChecked<NativePlugin<Echo>>>,
    storage: Vec<Persisted>,
    armed: Vec<BTreeSet<Timer>>,
    queue: VecDeque<(u8, u8, Message)>,
    responses: VecDeque<(u8, CallId, PluginResponse)>,
    committed: Vec<BTreeMap<u64, Vec<u8>>>,
    /// Drop a message (from, to, message) when this says so.
    drop: DropRule,
    /// What each oracle broadcast, for inspection.
    sent: Vec<Vec<Message>>,
}

impl Harness {
    fn new() -> Self {
        let offchain: Vec<Arc<OffchainKey>> = (0..N).map(|i| Arc::new(OffchainKey::from_seed([i + 1; 32]))).collect();
        let onchain: Vec<Arc<OnchainKey>> =
            (0..N).map(|i| Arc::new(OnchainKey::from_bytes(&[i + 1; 32]).unwrap())).collect();
        let oracles = (0..N as usize)
            .map(|i| OracleIdentity {
                offchain_public_key: offchain[i].public_key(),
                onchain_signer: onchain[i].address(),
                peer_id: [i as u8; 32],
                transmit_account: [i as u8 + 10; 20],
            })
            .collect();
        let config = Arc::new(PublicConfig {
            delta_grace: Duration::from_millis(10),
            r_max: 100,
            ..PublicConfig::development(ConfigDigest([7; 32]), oracles, 1)
        });
        let plugins = (0..N)
            .map(|i| {
                let mut c = PluginConfig::for_tests(N, 1, vec![]);
                c.oracle_id = i;
                NativePlugin::<Echo>::create(&c, Arc::new(ocr_plugin_sdk::NoDataSources)).unwrap()
            })
            .collect();
        let mut h = Self {
            config,
            offchain,
            onchain,
            oracles: (0..N).map(|_| None).collect(),
            plugins,
            storage: vec![Persisted::default(); usize::from(N)],
            armed: vec![BTreeSet::new(); usize::from(N)],
            queue: VecDeque::new(),
            responses: VecDeque::new(),
            committed: vec![BTreeMap::new(); usize::from(N)],
            drop: Box::new(|_, _, _| false),
            sent: vec![Vec::new(); usize::from(N)],
        };
        for i in 0..N {
            h.start(i);
        }
        h.run();
        h
    }

    fn start(&mut self, i: u8) {
        let setup = OracleSetup {
            config: self.config.clone(),
            me: i,
            offchain_key: self.offchain[usize::from(i)].clone(),
            onchain_key: self.onchain[usize::from(i)].clone(),
            shared_secret: [9; 16],
            plugin_limits: self.plugins[usize::from(i)].info().limits,
        };
        self.armed[usize::from(i)].clear();
        let (oracle, actions) = Oracle::start(setup, self.storage[usize::from(i)].clone());
        self.oracles[usize::from(i)] = Some(oracle);
        self.perform(i, actions);
    }

    fn crash(&mut self, i: u8) {
        self.oracles[usize::from(i)] = None;
        self.armed[usize::from(i)].clear();
        self.queue.retain(|(to, _, _)| *to != i);
        self.responses.retain(|(node, _, _)| *node != i);
    }

    fn perform(&mut self, i: u8, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Send { to, message } => self.queue.push_back((to, i, message)),
                Action::Broadcast(message) => {
                    self.sent[usize::from(i)].push(message.clone());
                    for to in 0..N {
                        self.queue.push_back((to, i, message.clone()));
                    }
                }
                Action::SetTimer(t, _) => {
                    self.armed[usize::from(i)].insert(t);
                }
                Action::CancelTimer(t) => {
                    self.armed[usize::from(i)].remove(&t);
                }
                Action::PersistPacemaker(s) => self.storage[usize::from(i)].pacemaker = Some(s),
                Action::PersistCertificate(c) => self.storage[usize::from(i)].certificate = Some(c),
                Action::CallPlugin(call) => {
                    let (response, _) = plugin_call::execute(&mut self.plugins[usize::from(i)], &call.request);
                    self.responses.push_back((i, call.id, response));
                }
                Action::Committed(c) => {
                    let previous = self.committed[usize::from(i)].insert(c.seq_nr, c.outcome.clone());
                    assert!(
                        previous.is_none_or(|p| p == c.outcome),
                        "oracle {i} committed seq_nr {} twice, differently",
                        c.seq_nr
                    );
                }
                _ => {}
            }
        }
    }

    /// Delivers messages and plugin results until nothing is left.
    fn run(&mut self) {
        loop {
            if let Some((node, id, response)) = self.responses.pop_front() {
                if let Some(o) = self.oracles[usize::from(node)].as_mut() {
                    let actions = o.on_plugin_response(id, response);
                    self.perform(node, actions);
                }
                continue;
            }
            let Some((to, from, message)) = self.queue.pop_front() else { return };
            if (self.drop)(from, to, &message) {
                continue;
            }
            if let Some(o) = self.oracles[usize::from(to)].as_mut() {
                let actions = o.on_message(from, message);
                self.perform(to, actions);
            }
        }
    }

    /// Fires `timer` at every live oracle that has it armed, then runs.
    fn fire(&mut self, timer: Timer) {
        for i in 0..N {
            if self.armed[usize::from(i)].remove(&timer)
                && let Some(o) = self.oracles[usize::from(i)].as_mut()
            {
                let actions = o.on_timer(timer);
                self.perform(i, actions);
            }
        }
        self.run();
    }

    /// One round: the leader's round timer, then its grace timer.
    fn round(&mut self) {
        self.fire(Timer::Round);
        self.fire(Timer::Grace);
    }

    fn epoch(&self, i: u8) -> u64 {
        self.oracles[usize::from(i)].as_ref().unwrap().epoch()
    }

    fn leader_of_epoch(&self, epoch: u64) -> u8 {
        ocr_core::permutation::PermutationKeys::new(&[9; 16], &self.config.config_digest).leader(epoch, usize::from(N))
    }
}

#[test]
fn rounds_commit_everywhere() {
    let mut h = Harness::new();
    for _ in 0..3 {
        h.round();
    }
    for i in 0..N {
        assert_eq!(h.committed[usize::from(i)].len(), 3, "oracle {i}: {:?}", h.committed[usize::from(i)]);
    }
}

#[test]
fn a_leader_crashing_after_prepare_has_its_outcome_re_proposed_and_committed() {
    let mut h = Harness::new();
    h.round(); // seq_nr 1 commits
    let leader = h.leader_of_epoch(1);
    // Round 2 prepares everywhere, but every Commit is lost: nobody commits.
    h.drop = Box::new(|_, _, m| matches!(m, Message::Commit { .. }));
    h.round();
    let prepared = match h.storage[0].certificate.clone() {
        Some(Certificate::Prepare(p)) => p,
        other => panic!("oracle 0 should hold the prepare certificate of seq_nr 2 as its lock, has {other:?}"),
    };
    assert_eq!(prepared.seq_nr, 2);
    assert!(h.committed.iter().all(|c| !c.contains_key(&2)));
    // The leader crashes; the network heals; the others give up on epoch 1.
    h.crash(leader);
    h.drop = Box::new(|_, _, _| false);
    h.fire(Timer::Progress);
    let next_leader = h.leader_of_epoch(2);
    assert_ne!(next_leader, leader);
    for i in (0..N).filter(|i| *i != leader) {
        assert_eq!(h.epoch(i), 2, "oracle {i} moved to epoch 2");
    }
    // Epoch 2 started from the prepare certificate: the prepared outcome,
    // not a new one, committed for seq_nr 2.
    for i in (0..N).filter(|i| *i != leader) {
        assert_eq!(h.committed[usize::from(i)].get(&2), Some(&prepared.outcome), "oracle {i}");
    }

    // The old leader restarts from storage in the middle of epoch 2.
    h.start(leader);
    assert_eq!(h.epoch(leader), 1, "it resumes the epoch it had persisted");
    h.fire(Timer::Resend);
    assert_eq!(h.epoch(leader), 2, "the others' wishes bring it to epoch 2");
    // It missed epoch 2's start, so it cannot take part until the next epoch;
    // the others keep committing meanwhile.
    h.round();
    h.fire(Timer::Initial);
    h.fire(Timer::Progress);
    h.fire(Timer::Resend);
    h.round();
    h.round();
    let rejoined = &h.committed[usize::from(leader)];
    assert!(rejoined.keys().any(|s| *s > 2), "the restarted leader commits again: {rejoined:?}");
    // Nothing any oracle committed contradicts anything another committed.
    for seq in 1..=6u64 {
        let values: BTreeSet<&Vec<u8>> = h.committed.iter().filter_map(|c| c.get(&seq)).collect();
        assert!(values.len() <= 1, "seq_nr {seq}: {values:?}");
    }
}

#[test]
fn an_equivocating_leader_cannot_get_two_outcomes_committed() {
    let mut h = Harness::new();
    h.round();
    let leader = h.leader_of_epoch(1);
    // The leader's proposal reaches oracles with even ids intact and the
    // others with its first observation removed: two different outcomes.
    h.drop = Box::new(move |from, _, m| from == leader && matches!(m, Message::Proposal { .. }));
    h.fire(Timer::Round);
    h.fire(Timer::Grace);
    let proposal = h.sent[usize::from(leader)].iter().rev().find_map(|m| match m {
        Message::Proposal { epoch, seq_nr, observations } => Some((*epoch, *seq_nr, observations.clone())),
        _ => None,
    });
    let (epoch, seq_nr, observations) = proposal.expect("the leader proposed");
    h.drop = Box::new(|_, _, _| false);
    for to in 0..N {
        let mut obs = observations.clone();
        if to % 2 == 1 {
            obs.remove(0);
        }
        h.queue.push_back((to, leader, Message::Proposal { epoch, seq_nr, observations: obs }));
    }
    h.run();
    // Neither version can gather byzQuorum = 3 prepares: nothing commits.
    assert!(h.committed.iter().all(|c| !c.contains_key(&seq_nr)), "{:?}", h.committed);
    // The next epoch recovers and goes on.
    h.fire(Timer::Progress);
    h.round();
    assert!(h.committed.iter().filter(|c| c.contains_key(&seq_nr)).count() >= 3);
}
