//! The simulation: n oracles running the real core with the native median
//! plugin, driven by one event queue in virtual time and one seeded RNG.
//! Everything that happens is folded into a trace hash, so one seed always
//! gives one trace. Storage keeps exactly what the core asked to persist, in
//! order; a crash loses everything else (and may strike between two actions
//! of one batch, after a persist and before the message that depended on it).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;

use median::MedianPlugin;
use ocr_core::attestation::AttestedReport;
use ocr_core::certificate::CertifiedCommit;
use ocr_core::messages::Message;
use ocr_core::onchain::{self, OnchainKey};
use ocr_core::oracle::{Action, Oracle, OracleSetup, Persisted, Timer};
use ocr_core::plugin_call::PluginRequest;
use ocr_core::plugin_call::{self, CallId, PluginResponse};
use ocr_core::signing::OffchainKey;
use ocr_core::{OracleIdentity, PublicConfig};
use ocr_plugin_api::{Plugin, PluginCallError};
use ocr_plugin_sdk::DataSources;
use ocr_plugin_sdk::{ConfigDigest, PluginConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};
use std::fmt;

use crate::network::{Nanos, NetworkModel};
use crate::sources::{SimulatedSources, VirtualClock};

const MS: Nanos = 1_000_000;
const SECOND: Nanos = 1_000_000_000;

/// A crash and, optionally, a restart.
#[derive(Clone, Debug)]
pub struct Crash {
    /// The oracle.
    pub node: u8,
    /// When it crashes.
    pub at: Nanos,
    /// How long it stays down (`None`: forever).
    pub down_for: Option<Nanos>,
}

/// One scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Number of oracles.
    pub n: u8,
    /// Faulty oracles tolerated.
    pub f: u8,
    /// The seed of everything random.
    pub seed: u64,
    /// How long to run.
    pub duration: Nanos,
    /// The network.
    pub network: NetworkModel,
    /// Crashes.
    pub crashes: Vec<Crash>,
    /// Probability of crashing between two actions of a batch, for crashing
    /// nodes, while faults last.
    pub mid_batch_crash_rate: f64,
    /// Byzantine oracles and what they do (at most f of them for the checks
    /// to apply).
    pub byzantine: Vec<(u8, Byzantine)>,
    /// A second instance of one oracle (counts as its Byzantine behaviour).
    pub twin: Option<Twin>,
    /// Fold every event into the trace hash (off only to measure the
    /// protocol's own cost).
    pub record_trace: bool,
}

/// Twins: oracle `of` runs twice, with the same keys. The original talks
/// with the oracles in `side` (a bitmask), the twin with the others, so each
/// half of the network sees a different, individually honest, oracle `of`.
#[derive(Clone, Copy, Debug)]
pub struct Twin {
    /// The duplicated oracle.
    pub of: u8,
    /// The oracles the original talks with.
    pub side: u64,
}

/// What a Byzantine oracle does on top of running the honest code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Byzantine {
    /// As leader, equivocates: another query to half the followers in even
    /// rounds, and in odd rounds two valid proposals with different outcomes
    /// to two camps (its own observation re-signed for one of them).
    EquivocatingLeader,
    /// Corrupts every signature it sends (offchain and report signatures),
    /// and forges the certificates it sends (another outcome, signatures
    /// that cannot verify).
    InvalidSignatures,
    /// Also resends each message it sends later with its epoch lowered.
    ReplaysOldEpochs,
    /// Pads its observations and queries far beyond the plugin's limits.
    Oversized,
    /// As leader, attributes observations in its proposals to the wrong
    /// oracles.
    WrongObserverIds,
}

enum Event {
    Deliver { to: u8, from: u8, message: Message },
    Timer { node: u8, timer: Timer, generation: u64 },
    PluginDone { node: u8, incarnation: u64, id: CallId, response: PluginResponse },
    Crash { node: u8, down_for: Option<Nanos> },
    Restart { node: u8 },
}

struct Node {
    oracle: Option<Oracle>,
    incarnation: u64,
    key: Arc<OffchainKey>,
    onchain_key: Arc<OnchainKey>,
    plugin: Box<dyn Plugin + Send>,
    storage: Persisted,
    timers: BTreeMap<Timer, u64>,
    /// (seq-nr, sha256 of the outcome, incarnation) in delivery order.
    committed: Vec<(u64, [u8; 32], u64)>,
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// sha256 over every event: equal seeds give equal traces.
    pub trace_hash: String,
    /// Committed outcomes delivered, over all nodes.
    pub deliveries: u64,
    /// The highest seq-nr committed anywhere.
    pub highest_seq_nr: u64,
    /// Virtual time of the last commit anywhere.
    pub last_commit_at: Nanos,
    /// Safety or liveness violations found.
    pub violations: Vec<String>,
    /// Reports attested, over all nodes.
    pub attested_reports: u64,
    /// Inbound messages refused by the size checks.
    pub refused_messages: u64,
    /// Reports transmitted, over all nodes.
    pub transmissions: u64,
    /// Events processed.
    pub events: u64,
    /// Deterministic calls that gave honest oracles different outputs (only
    /// with [`PluginSpec::check_determinism`]).
    pub divergences: Vec<Divergence>,
    /// The committed outcome of every seq-nr.
    pub committed: BTreeMap<u64, Vec<u8>>,
    /// Attested reports by (seq-nr, index) (only with
    /// [`PluginSpec::check_determinism`]).
    pub reports: BTreeMap<(u64, usize), Vec<u8>>,
    /// Calls of honest oracles that failed through the plugin's fault (only
    /// with [`PluginSpec::check_determinism`]; the first 100).
    pub plugin_errors: Vec<String>,
}

/// A simulation in progress.
pub struct Simulation {
    scenario: Scenario,
    config: Arc<PublicConfig>,
    secret: [u8; 16],
    now: Nanos,
    next_seq: u64,
    queue: BinaryHeap<Reverse<(Nanos, u64)>>,
    events: BTreeMap<u64, Event>,
    rng: ChaCha20Rng,
    clock: VirtualClock,
    nodes: Vec<Node>,
    trace: Sha256,
    /// seq-nr -> the outcome first committed for it, anywhere.
    decided: BTreeMap<u64, Vec<u8>>,
    /// An independent instance of the plugin that recomputes reports.
    reference: Box<dyn Plugin + Send>,
    plugin: PluginSpec,
    /// (seq-nr, method, inputs) → honest oracle → outputs, of deterministic
    /// calls, when the spec asks for determinism checks.
    determinism: DeterminismLog,
    plugin_errors: Vec<String>,
    reports: BTreeMap<(u64, usize), Vec<u8>>,
    attested: u64,
    refused: u64,
    transmissions: u64,
    violations: Vec<String>,
    last_commit_at: Nanos,
    processed: u64,
    /// The queries equivocating leaders sent, by (leader, epoch, seq-nr).
    queries_sent: crate::byzantine::QueriesSent,
}

/// Builds one oracle's plugin instance from its factory config and sources.
pub type PluginFactory = Arc<
    dyn Fn(&PluginConfig, Arc<dyn DataSources + Send + Sync>) -> Result<Box<dyn Plugin + Send>, String> + Send + Sync,
>;

/// Builds one oracle's data sources from the virtual clock.
pub type SourcesFactory = Arc<dyn Fn(VirtualClock, u8) -> Arc<dyn DataSources + Send + Sync> + Send + Sync>;

/// The plugin a simulation runs: its offchain config, how each oracle's
/// instance and sources are made, and whether deterministic calls are
/// compared across oracles (the plugin test kit's divergence report).
#[derive(Clone)]
pub struct PluginSpec {
    /// The plugin's offchain config, in the public config.
    pub offchain_config: Vec<u8>,
    /// Makes an instance.
    pub factory: PluginFactory,
    /// Makes an oracle's sources.
    pub sources: SourcesFactory,
    /// Compare the outputs of deterministic calls across honest oracles.
    pub check_determinism: bool,
}

impl fmt::Debug for PluginSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginSpec")
            .field("offchain_config", &String::from_utf8_lossy(&self.offchain_config))
            .field("check_determinism", &self.check_determinism)
            .finish_non_exhaustive()
    }
}

/// The median plugin's config in the simulations.
pub const MEDIAN_CONFIG: &[u8] = br#"{"version":1,"value_source":"price","juels_per_fee_coin_source":"juels","deviation_threshold_ppb":1000000,"heartbeat_seconds":10}"#;

impl PluginSpec {
    /// The native median plugin over the simulated market.
    pub fn median() -> Self {
        Self {
            offchain_config: MEDIAN_CONFIG.to_vec(),
            factory: crate::kit::native::<MedianPlugin>(),
            sources: Arc::new(|clock, oracle| Arc::new(SimulatedSources::new(clock, oracle))),
            check_determinism: false,
        }
    }
}

/// (seq-nr, method, sha256 of the inputs) → oracle → sha256 of the output.
/// An oracle with two outputs for the same inputs (across a restart) is
/// caught too.
type DeterminismLog = BTreeMap<(u64, &'static str, [u8; 32]), BTreeMap<u8, std::collections::BTreeSet<[u8; 32]>>>;

/// Oracles whose deterministic call gave different outputs for the same
/// inputs: the plugin is not deterministic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// The seq-nr of the call.
    pub seq_nr: u64,
    /// The method.
    pub method: &'static str,
    /// Oracles grouped by the output they got, largest group first.
    pub groups: Vec<Vec<u8>>,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seq_nr {}: {} gave different outputs for the same inputs: oracles", self.seq_nr, self.method)?;
        for (i, group) in self.groups.iter().enumerate() {
            write!(f, "{}{group:?}", if i == 0 { " " } else { " vs " })?;
        }
        Ok(())
    }
}

/// The method of a deterministic request, if it is one.
fn deterministic_method(request: &PluginRequest) -> Option<&'static str> {
    match request {
        PluginRequest::ValidateObservation { .. } => Some("validate-observation"),
        PluginRequest::ObservationQuorum { .. } => Some("observation-quorum"),
        PluginRequest::ProposalOutcome { .. } => Some("outcome"),
        PluginRequest::Reports { .. } => Some("reports"),
        _ => None,
    }
}

/// The public config every scenario uses (timers in development ranges),
/// with `plugin_config` as the plugin's offchain config.
pub fn public_config(
    n: u8,
    f: u8,
    keys: &[Arc<OffchainKey>],
    onchain: &[Arc<OnchainKey>],
    plugin_config: &[u8],
) -> PublicConfig {
    let oracles = (0..n)
        .map(|i| OracleIdentity {
            offchain_public_key: keys[usize::from(i)].public_key(),
            onchain_signer: onchain[usize::from(i)].address(),
            peer_id: [i + 1; 32],
            transmit_account: [i + 101; 20],
        })
        .collect();
    PublicConfig {
        reporting_plugin_config: plugin_config.to_vec(),
        ..PublicConfig::development(ConfigDigest([0x5a; 32]), oracles, f)
    }
}

impl Simulation {
    /// Sets up the scenario and starts every oracle.
    pub fn new(scenario: Scenario) -> Self {
        Self::with_plugin(scenario, PluginSpec::median())
    }

    /// A simulation of `scenario` running `plugin`. Panics if the plugin's
    /// factory refuses the config: a test setup error.
    pub fn with_plugin(scenario: Scenario, plugin: PluginSpec) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(scenario.seed);
        let keys: Vec<Arc<OffchainKey>> =
            (0..scenario.n).map(|_| Arc::new(OffchainKey::from_seed(rng.random()))).collect();
        let onchain: Vec<Arc<OnchainKey>> = (0..scenario.n)
            .map(|i| {
                let mut secret = [0x11u8; 32];
                secret[0] = i + 1;
                Arc::new(OnchainKey::from_bytes(&secret).unwrap_or_else(|_| unreachable!("a valid scalar")))
            })
            .collect();
        let config = Arc::new(public_config(scenario.n, scenario.f, &keys, &onchain, &plugin.offchain_config));
        let secret: [u8; 16] = rng.random();
        let clock = VirtualClock::default();
        let instances = scenario.n + u8::from(scenario.twin.is_some());
        let nodes = (0..instances)
            .map(|internal| {
                let i = match scenario.twin {
                    Some(t) if internal == scenario.n => t.of,
                    _ => internal,
                };
                let mut plugin_config =
                    PluginConfig::for_tests(scenario.n, scenario.f, config.reporting_plugin_config.clone());
                plugin_config.oracle_id = i;
                plugin_config.config_digest = config.config_digest;
                let sources = (plugin.sources)(clock.clone(), i);
                let instance = (plugin.factory)(&plugin_config, sources)
                    .unwrap_or_else(|e| panic!("the plugin refused the simulation's config: {e}"));
                Node {
                    oracle: None,
                    incarnation: 0,
                    key: keys[usize::from(i)].clone(),
                    onchain_key: onchain[usize::from(i)].clone(),
                    plugin: instance,
                    storage: Persisted::default(),
                    timers: BTreeMap::new(),
                    committed: Vec::new(),
                }
            })
            .collect();
        let reference_config = PluginConfig {
            config_digest: config.config_digest,
            ..PluginConfig::for_tests(scenario.n, scenario.f, config.reporting_plugin_config.clone())
        };
        let reference = (plugin.factory)(&reference_config, (plugin.sources)(clock.clone(), 0))
            .unwrap_or_else(|e| panic!("the plugin refused the simulation's config: {e}"));
        let mut sim = Self {
            scenario,
            config,
            secret,
            now: 0,
            next_seq: 0,
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            rng,
            clock,
            nodes,
            trace: Sha256::new(),
            decided: BTreeMap::new(),
            reference,
            plugin,
            determinism: BTreeMap::new(),
            plugin_errors: Vec::new(),
            reports: BTreeMap::new(),
            attested: 0,
            refused: 0,
            transmissions: 0,
            violations: Vec::new(),
            last_commit_at: 0,
            processed: 0,
            queries_sent: Default::default(),
        };
        for crash in sim.scenario.crashes.clone() {
            sim.schedule(crash.at, Event::Crash { node: crash.node, down_for: crash.down_for });
        }
        for node in 0..sim.nodes.len() as u8 {
            sim.boot(node);
        }
        sim
    }

    /// The oracle id an instance speaks as.
    fn identity(&self, internal: u8) -> u8 {
        match self.scenario.twin {
            Some(t) if internal == self.scenario.n => t.of,
            _ => internal,
        }
    }

    /// Whether an instance is faulty (its own deliveries are not checked).
    fn is_faulty(&self, internal: u8) -> bool {
        let identity = self.identity(internal);
        self.scenario.byzantine.iter().any(|(b, _)| *b == identity)
            || self.scenario.twin.is_some_and(|t| t.of == identity)
    }

    /// The instances a message from `sender` (internal) to oracle `to` reaches.
    fn recipients(&self, sender: u8, to: u8) -> Vec<u8> {
        let Some(t) = self.scenario.twin else { return vec![to] };
        let on_side = |oracle: u8| (t.side >> oracle) & 1 == 1;
        let from = self.identity(sender);
        if from == t.of {
            if to == t.of {
                return vec![sender];
            }
            let original = sender == t.of;
            return if on_side(to) == original { vec![to] } else { Vec::new() };
        }
        if to == t.of {
            return vec![if on_side(from) { t.of } else { self.scenario.n }];
        }
        vec![to]
    }

    fn schedule(&mut self, at: Nanos, event: Event) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queue.push(Reverse((at, seq)));
        self.events.insert(seq, event);
    }

    fn boot(&mut self, node: u8) {
        let me = self.identity(node);
        let n = &mut self.nodes[usize::from(node)];
        let setup = OracleSetup {
            config: self.config.clone(),
            me,
            offchain_key: n.key.clone(),
            onchain_key: n.onchain_key.clone(),
            shared_secret: self.secret,
            plugin_limits: n.plugin.info().limits,
        };
        let (oracle, actions) = Oracle::start(setup, n.storage.clone());
        n.oracle = Some(oracle);
        self.perform(node, actions);
    }

    fn record(&mut self, line: impl FnOnce() -> String) {
        if !self.scenario.record_trace {
            return;
        }
        let line = line();
        self.trace.update(self.now.to_be_bytes());
        self.trace.update(line.as_bytes());
    }

    /// Runs to the end of the scenario and checks the run.
    pub fn run(mut self) -> Outcome {
        while let Some(Reverse((at, seq))) = self.queue.pop() {
            if at > self.scenario.duration {
                break;
            }
            self.now = at;
            self.clock.set(at);
            self.processed += 1;
            let Some(event) = self.events.remove(&seq) else { continue };
            self.handle(event);
        }
        self.check_liveness();
        let deliveries = self.nodes.iter().map(|n| n.committed.len() as u64).sum();
        let divergences = self.divergences();
        Outcome {
            trace_hash: hex::encode(self.trace.clone().finalize()),
            deliveries,
            highest_seq_nr: self.decided.keys().next_back().copied().unwrap_or(0),
            last_commit_at: self.last_commit_at,
            violations: self.violations,
            attested_reports: self.attested,
            refused_messages: self.refused,
            transmissions: self.transmissions,
            events: self.processed,
            divergences,
            committed: self.decided,
            reports: self.reports,
            plugin_errors: self.plugin_errors,
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Deliver { to, from, message } => {
                self.record(|| format!("deliver {from}->{to} {message:?}"));
                let Some(oracle) = self.nodes[usize::from(to)].oracle.as_mut() else { return };
                let actions = oracle.on_message(from, message);
                self.perform(to, actions);
            }
            Event::Timer { node, timer, generation } => {
                let n = &mut self.nodes[usize::from(node)];
                if n.timers.get(&timer) != Some(&generation) {
                    return;
                }
                n.timers.remove(&timer);
                self.record(|| format!("timer {node} {timer:?}"));
                let Some(oracle) = self.nodes[usize::from(node)].oracle.as_mut() else { return };
                let actions = oracle.on_timer(timer);
                self.perform(node, actions);
            }
            Event::PluginDone { node, incarnation, id, response } => {
                let n = &mut self.nodes[usize::from(node)];
                if n.incarnation != incarnation {
                    return;
                }
                self.record(|| format!("plugin {node} {id:?} {response:?}"));
                let Some(oracle) = self.nodes[usize::from(node)].oracle.as_mut() else { return };
                let actions = oracle.on_plugin_response(id, response);
                self.perform(node, actions);
            }
            Event::Crash { node, down_for } => self.crash(node, down_for),
            Event::Restart { node } => {
                self.record(|| format!("restart {node}"));
                self.boot(node);
            }
        }
    }

    fn crash(&mut self, node: u8, down_for: Option<Nanos>) {
        let n = &mut self.nodes[usize::from(node)];
        if n.oracle.is_none() {
            return;
        }
        n.oracle = None;
        n.incarnation += 1;
        n.timers.clear();
        self.record(|| format!("crash {node}"));
        if let Some(down) = down_for {
            self.schedule(self.now + down, Event::Restart { node });
        }
    }

    fn crashes_mid_batch(&mut self, node: u8) -> bool {
        let rate = self.scenario.mid_batch_crash_rate;
        rate > 0.0
            && self.now < self.scenario.network.faults_until
            && self.scenario.crashes.iter().any(|c| c.node == node)
            && self.rng.random_bool(rate)
    }

    fn perform(&mut self, node: u8, actions: Vec<Action>) {
        for action in actions {
            if self.crashes_mid_batch(node) {
                let down = self.scenario.crashes.iter().find(|c| c.node == node).and_then(|c| c.down_for);
                self.crash(node, down);
                return;
            }
            if let Some(problem) = crate::persistence::violation(&self.nodes[usize::from(node)].storage, &action) {
                self.violations.push(format!("persistence: oracle {node} {problem}"));
            }
            match action {
                Action::Send { to, message } => self.send(node, to, message),
                Action::Broadcast(message) => {
                    for to in 0..self.scenario.n {
                        self.send(node, to, message.clone());
                    }
                }
                Action::SetTimer(timer, after) => {
                    // Generations are unique for the whole run, so an event of
                    // a cancelled or replaced timer can never match a later one.
                    let generation = self.next_seq;
                    self.next_seq += 1;
                    self.nodes[usize::from(node)].timers.insert(timer, generation);
                    let at = self.now + u64::try_from(after.as_nanos()).unwrap_or(u64::MAX / 2);
                    self.schedule(at, Event::Timer { node, timer, generation });
                }
                Action::CancelTimer(timer) => {
                    self.nodes[usize::from(node)].timers.remove(&timer);
                }
                Action::PersistPacemaker(state) => self.nodes[usize::from(node)].storage.pacemaker = Some(state),
                Action::PersistCertificate(c) => self.nodes[usize::from(node)].storage.certificate = Some(c),
                Action::CallPlugin(call) => {
                    let n = &mut self.nodes[usize::from(node)];
                    let (response, error) = plugin_call::execute(n.plugin.as_mut(), &call.request);
                    let incarnation = n.incarnation;
                    if self.plugin.check_determinism && !self.is_faulty(node) {
                        self.compare(node, call.id.seq_nr, &call.request, &response);
                        if let Some(error) = &error {
                            self.plugin_failed(node, call.id.seq_nr, error);
                        }
                    }
                    let latency = self.rng.random_range(50_000..500_000);
                    self.schedule(self.now + latency, Event::PluginDone { node, incarnation, id: call.id, response });
                }
                Action::Committed(commit) => self.committed(node, commit),
                Action::Attested(report) => self.attested(node, report),
                Action::Transmit(report) => {
                    self.transmissions += 1;
                    self.record(|| format!("transmit {node} {} {}", report.seq_nr, report.index));
                }
                Action::Refused { from, error } => {
                    self.refused += 1;
                    self.record(|| format!("refused {from}->{node} {error}"));
                }
            }
        }
    }

    /// Records a deterministic call's output, keyed by its inputs. The
    /// deprecated epoch and round are left out of the key: they may differ
    /// between oracles, and a plugin they influence is non-deterministic.
    fn compare(&mut self, node: u8, seq_nr: u64, request: &PluginRequest, response: &PluginResponse) {
        let Some(method) = deterministic_method(request) else { return };
        let mut request = request.clone();
        if let PluginRequest::ValidateObservation { ctx, .. }
        | PluginRequest::ObservationQuorum { ctx, .. }
        | PluginRequest::ProposalOutcome { ctx, .. } = &mut request
        {
            ctx.epoch = 0;
            ctx.round = 0;
        }
        let inputs: [u8; 32] = Sha256::digest(format!("{request:?}").as_bytes()).into();
        let outputs: [u8; 32] = Sha256::digest(format!("{response:?}").as_bytes()).into();
        let identity = self.identity(node);
        self.determinism.entry((seq_nr, method, inputs)).or_default().entry(identity).or_default().insert(outputs);
    }

    /// Records a failed call of an honest oracle that is the plugin's fault
    /// whatever its inputs: a trap, an output over its limits, a malformed
    /// result, or `reports` refusing a committed outcome.
    fn plugin_failed(&mut self, node: u8, seq_nr: u64, error: &PluginCallError) {
        let blameless = matches!(error, PluginCallError::Guest { .. })
            && !matches!(error.method(), ocr_plugin_api::Method::Reports);
        if !blameless && self.plugin_errors.len() < 100 {
            self.plugin_errors.push(format!("oracle {node}, seq_nr {seq_nr}: {error}"));
        }
    }

    /// Calls whose honest oracles disagree, in seq-nr order.
    fn divergences(&self) -> Vec<Divergence> {
        let mut found = Vec::new();
        for ((seq_nr, method, _), outputs) in &self.determinism {
            let mut groups: BTreeMap<[u8; 32], Vec<u8>> = BTreeMap::new();
            for (oracle, outputs) in outputs {
                for output in outputs {
                    groups.entry(*output).or_default().push(*oracle);
                }
            }
            if groups.len() > 1 {
                let mut groups: Vec<Vec<u8>> = groups.into_values().collect();
                groups.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
                found.push(Divergence { seq_nr: *seq_nr, method, groups });
            }
        }
        found.dedup_by(|a, b| a.seq_nr == b.seq_nr && a.method == b.method && a.groups == b.groups);
        found
    }

    /// What Byzantine `sender` sends `to` instead of `message`.
    fn tamper(&mut self, behaviour: Byzantine, sender: u8, to: u8, message: Message) -> Option<Message> {
        let signer = crate::byzantine::Signer {
            from: self.identity(sender),
            key: &self.nodes[usize::from(sender)].key,
            config_digest: self.config.config_digest,
        };
        crate::byzantine::tamper(behaviour, &signer, &mut self.queries_sent, to, message)
    }

    fn byzantine(&self, node: u8) -> Option<Byzantine> {
        self.scenario.byzantine.iter().find(|(b, _)| *b == node).map(|(_, behaviour)| *behaviour)
    }

    fn send(&mut self, sender: u8, to: u8, message: Message) {
        let from = self.identity(sender);
        let message = match (self.byzantine(from), from == to) {
            (Some(behaviour), false) => match self.tamper(behaviour, sender, to, message) {
                Some(m) => m,
                None => return,
            },
            _ => message,
        };
        if self.byzantine(from) == Some(Byzantine::ReplaysOldEpochs) && from != to {
            let replay = crate::byzantine::with_lower_epoch(&message);
            let later = self.now + self.rng.random_range(MS..500 * MS);
            for instance in self.recipients(sender, to) {
                self.schedule(later, Event::Deliver { to: instance, from, message: replay.clone() });
            }
        }
        for instance in self.recipients(sender, to) {
            let delays = self.scenario.network.deliveries(&mut self.rng, self.now, from, to);
            for delay in delays {
                self.schedule(self.now + delay, Event::Deliver { to: instance, from, message: message.clone() });
            }
        }
    }

    fn committed(&mut self, node: u8, commit: CertifiedCommit) {
        let digest: [u8; 32] = Sha256::digest(&commit.outcome).into();
        self.record(|| format!("commit {node} {} {}", commit.seq_nr, hex::encode(digest)));
        if self.is_faulty(node) {
            return;
        }
        // Liveness counts honest oracles' commits only.
        self.last_commit_at = self.now;
        match self.decided.get(&commit.seq_nr) {
            Some(d) if *d != commit.outcome => self.violations.push(format!(
                "safety: oracle {node} committed a different outcome for seq_nr {} at {} ms",
                commit.seq_nr,
                self.now / MS
            )),
            Some(_) => {}
            None => {
                self.decided.insert(commit.seq_nr, commit.outcome.clone());
            }
        }
        let n = &mut self.nodes[usize::from(node)];
        if let Some((last, _, incarnation)) = n.committed.last()
            && *incarnation == n.incarnation
            && commit.seq_nr <= *last
        {
            self.violations.push(format!(
                "safety: oracle {node} delivered seq_nr {} after {last} in one incarnation",
                commit.seq_nr
            ));
        }
        n.committed.push((commit.seq_nr, digest, n.incarnation));
    }

    /// An attested report must carry f+1 valid signatures by distinct oracles
    /// over a report of a committed outcome.
    fn attested(&mut self, node: u8, report: AttestedReport) {
        self.attested += 1;
        self.record(|| format!("attested {node} {} {}", report.seq_nr, report.index));
        if self.is_faulty(node) {
            return;
        }
        if self.plugin.check_determinism {
            self.reports.entry((report.seq_nr, report.index)).or_insert_with(|| report.report.report.clone());
        }
        let f = usize::from(self.scenario.f);
        let expected = self
            .decided
            .get(&report.seq_nr)
            .cloned()
            .and_then(|outcome| self.reference.reports(report.seq_nr, &outcome).ok())
            .and_then(|reports| reports.get(report.index).map(|r| r.report.clone()));
        if expected.as_deref() != Some(report.report.report.as_slice()) {
            self.violations.push(format!(
                "attestation: oracle {node} attested report {} of seq_nr {} that no committed outcome produces",
                report.index, report.seq_nr
            ));
        }
        let mut signers: Vec<u8> = report.signatures.iter().map(|(s, _)| *s).collect();
        signers.sort_unstable();
        signers.dedup();
        let all_valid = report.signatures.iter().all(|(signer, signature)| {
            self.config.oracles.get(usize::from(*signer)).is_some_and(|o| {
                onchain::verify(
                    &o.onchain_signer,
                    &self.config.config_digest,
                    report.seq_nr,
                    &report.report.report,
                    signature,
                )
            })
        });
        if signers.len() != f + 1 || report.signatures.len() != f + 1 || !all_valid {
            self.violations.push(format!(
                "attestation: oracle {node} attested seq_nr {} without f+1 valid distinct signatures",
                report.seq_nr
            ));
        }
    }

    /// Once faults stop, outcomes must commit again within the bound.
    fn check_liveness(&mut self) {
        let faults_end = self
            .scenario
            .crashes
            .iter()
            .filter_map(|c| c.down_for.map(|d| c.at + d))
            .chain([self.scenario.network.faults_until])
            .max()
            .unwrap_or(0);
        let bound = LIVENESS_BOUND;
        if self.scenario.duration >= faults_end + bound && self.last_commit_at < faults_end {
            self.violations.push(format!(
                "liveness: nothing committed in the {} s after faults stopped at {} ms",
                (self.scenario.duration - faults_end) / SECOND,
                faults_end / MS
            ));
        }
    }
}

/// How long after the last fault outcomes must commit again.
pub const LIVENESS_BOUND: Nanos = 20 * SECOND;
