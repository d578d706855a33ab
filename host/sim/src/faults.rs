//! Fault classes and the scenarios they generate from a seed. Everything
//! about a scenario (sizes, timings, who fails and how) comes from the seed,
//! so `--seed S --faults C --nodes N` replays a failure exactly.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::network::{Nanos, NetworkModel, Partition};
use crate::world::{Byzantine, Crash, Scenario, Twin};

const MS: Nanos = 1_000_000;
const SECOND: Nanos = 1_000_000_000;

/// A class of faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultClass {
    /// Delay, jitter, drops, duplicates and reordering.
    Network,
    /// Partitions that heal.
    Partition,
    /// Crashes and restarts, also between a persist and the send after it.
    Crash,
    /// A leader sending different proposals and queries to different followers.
    Equivocation,
    /// Invalid signatures.
    Signatures,
    /// Messages replayed into old epochs.
    Replay,
    /// Oversized messages.
    Oversized,
    /// Proposals with wrong observer ids.
    Observers,
    /// Two instances of one oracle with the same keys.
    Twins,
    /// Byzantine equivocating leaders and honest oracles crashing and
    /// restarting (also between a persist and the send after it) at once.
    Mixed,
}

impl FaultClass {
    /// Every class.
    pub const ALL: [FaultClass; 10] = [
        FaultClass::Network,
        FaultClass::Partition,
        FaultClass::Crash,
        FaultClass::Equivocation,
        FaultClass::Signatures,
        FaultClass::Replay,
        FaultClass::Oversized,
        FaultClass::Observers,
        FaultClass::Twins,
        FaultClass::Mixed,
    ];

    /// The class's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            FaultClass::Network => "network",
            FaultClass::Partition => "partition",
            FaultClass::Crash => "crash",
            FaultClass::Equivocation => "equivocation",
            FaultClass::Signatures => "signatures",
            FaultClass::Replay => "replay",
            FaultClass::Oversized => "oversized",
            FaultClass::Observers => "observers",
            FaultClass::Twins => "twins",
            FaultClass::Mixed => "mixed",
        }
    }

    /// The class named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The scenario of this class for `seed` with `n` oracles.
    pub fn scenario(self, n: u8, seed: u64) -> Scenario {
        let f = (n - 1) / 3;
        let mut rng = ChaCha20Rng::seed_from_u64(seed ^ ((self as u64) << 56) ^ (u64::from(n) << 48));
        let faults_until = rng.random_range(5..12) * SECOND;
        let mut network = NetworkModel::reliable(rng.random_range(1..5) * MS, rng.random_range(0..20) * MS);
        network.faults_until = faults_until;
        let mut scenario = Scenario {
            n,
            f,
            seed,
            duration: faults_until + 25 * SECOND,
            network,
            crashes: Vec::new(),
            mid_batch_crash_rate: 0.0,
            byzantine: Vec::new(),
            twin: None,
            record_trace: true,
        };
        let pick = |rng: &mut ChaCha20Rng| -> Vec<u8> {
            let mut nodes: Vec<u8> = (0..n).collect();
            for i in (1..nodes.len()).rev() {
                nodes.swap(i, rng.random_range(0..=i));
            }
            nodes.truncate(usize::from(f));
            nodes
        };
        let byzantine = |rng: &mut ChaCha20Rng, b: Byzantine| pick(rng).into_iter().map(|o| (o, b)).collect();
        match self {
            FaultClass::Network => {
                scenario.network.drop_rate = rng.random_range(0.0..0.15);
                scenario.network.duplicate_rate = rng.random_range(0.0..0.1);
                scenario.network.jitter = rng.random_range(10..80) * MS;
            }
            FaultClass::Partition => {
                let from = rng.random_range(1..4) * SECOND;
                let side = rng.random_range(1..(1u64 << n) - 1);
                scenario.network.partitions = vec![Partition { from, until: faults_until, side }];
            }
            FaultClass::Crash => {
                for node in pick(&mut rng) {
                    let at = rng.random_range(1..faults_until / SECOND) * SECOND + rng.random_range(0..1000) * MS;
                    let down = rng.random_range(1..5) * SECOND;
                    scenario.crashes.push(Crash { node, at, down_for: Some(down) });
                }
                scenario.mid_batch_crash_rate = 0.003;
                scenario.network.drop_rate = 0.01;
            }
            FaultClass::Equivocation => scenario.byzantine = byzantine(&mut rng, Byzantine::EquivocatingLeader),
            FaultClass::Signatures => scenario.byzantine = byzantine(&mut rng, Byzantine::InvalidSignatures),
            FaultClass::Replay => scenario.byzantine = byzantine(&mut rng, Byzantine::ReplaysOldEpochs),
            FaultClass::Oversized => scenario.byzantine = byzantine(&mut rng, Byzantine::Oversized),
            FaultClass::Observers => scenario.byzantine = byzantine(&mut rng, Byzantine::WrongObserverIds),
            FaultClass::Mixed => {
                let mut nodes: Vec<u8> = (0..n).collect();
                for i in (1..nodes.len()).rev() {
                    nodes.swap(i, rng.random_range(0..=i));
                }
                let (bad, honest) = nodes.split_at(usize::from(f));
                scenario.byzantine = bad.iter().map(|o| (*o, Byzantine::EquivocatingLeader)).collect();
                for node in honest.iter().take(usize::from(f).max(1)) {
                    let at = rng.random_range(1..faults_until / SECOND) * SECOND + rng.random_range(0..1000) * MS;
                    scenario.crashes.push(Crash { node: *node, at, down_for: Some(rng.random_range(1..4) * SECOND) });
                }
                scenario.mid_batch_crash_rate = 0.003;
                scenario.network.drop_rate = 0.01;
            }
            FaultClass::Twins => {
                let of = rng.random_range(0..n);
                let side = rng.random_range(0..1u64 << n) & !(1 << of);
                scenario.twin = Some(Twin { of, side });
            }
        }
        scenario
    }
}
