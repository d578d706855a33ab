//! The simulated network: per-message delay with jitter, drops, duplicates
//! and partitions that heal, all drawn from the simulation's one RNG.

use rand::Rng;
use rand_chacha::ChaCha20Rng;

/// Nanoseconds of virtual time.
pub type Nanos = u64;

/// A partition: during `[from, until)` no message crosses between the
/// oracles in `side` and the rest.
#[derive(Clone, Debug)]
pub struct Partition {
    /// Start.
    pub from: Nanos,
    /// End (the partition heals).
    pub until: Nanos,
    /// Bitmask of the oracles on one side.
    pub side: u64,
}

/// How links behave.
#[derive(Clone, Debug)]
pub struct NetworkModel {
    /// Minimum one-way delay.
    pub base_delay: Nanos,
    /// Extra uniform delay in `[0, jitter]` (also reorders messages).
    pub jitter: Nanos,
    /// Probability that a message is lost.
    pub drop_rate: f64,
    /// Probability that a message arrives twice.
    pub duplicate_rate: f64,
    /// Partitions.
    pub partitions: Vec<Partition>,
    /// Faults (drops, duplicates, partitions) stop at this time.
    pub faults_until: Nanos,
}

impl NetworkModel {
    /// A reliable network with the given delay range.
    pub fn reliable(base_delay: Nanos, jitter: Nanos) -> Self {
        Self { base_delay, jitter, drop_rate: 0.0, duplicate_rate: 0.0, partitions: Vec::new(), faults_until: 0 }
    }

    fn cut(&self, now: Nanos, from: u8, to: u8) -> bool {
        self.partitions.iter().any(|p| now >= p.from && now < p.until && ((p.side >> from) & 1) != ((p.side >> to) & 1))
    }

    /// The delays after which copies of a message sent now arrive (none if
    /// it is lost). Messages to oneself are never lost.
    pub fn deliveries(&self, rng: &mut ChaCha20Rng, now: Nanos, from: u8, to: u8) -> Vec<Nanos> {
        let faulty = now < self.faults_until && from != to;
        if faulty && (self.cut(now, from, to) || rng.random_bool(self.drop_rate)) {
            return Vec::new();
        }
        let delay = |rng: &mut ChaCha20Rng| {
            if from == to { 0 } else { self.base_delay + rng.random_range(0..=self.jitter) }
        };
        let first = delay(rng);
        if faulty && rng.random_bool(self.duplicate_rate) {
            return vec![first, delay(rng)];
        }
        vec![first]
    }
}
