//! The public (network-wide) configuration of one protocol instance, with
//! every parameter of the OCR3 reference (§11.3) and every check libocr makes
//! on it. A violation is a [`ConfigError`] that names the parameter.

use std::collections::HashSet;
use std::time::Duration;

use ocr_plugin_sdk::{ConfigDigest, MAX_ORACLES};

/// An EVM address (20 bytes).
pub type Address = [u8; 20];

/// Who an oracle is: its keys and accounts. Its index in
/// [`PublicConfig::oracles`] is its oracle id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OracleIdentity {
    /// Ed25519 key for consensus (offchain) signatures.
    pub offchain_public_key: [u8; 32],
    /// Address of the secp256k1 key that signs reports onchain.
    pub onchain_signer: Address,
    /// Ed25519 key that identifies the node on the network.
    pub peer_id: [u8; 32],
    /// The account that sends its transmissions.
    pub transmit_account: Address,
}

/// The parameters every oracle of one instance shares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicConfig {
    /// The instance's digest: the domain separator of every signature.
    pub config_digest: ConfigDigest,
    /// Time without progress after which an oracle wishes for a new epoch.
    pub delta_progress: Duration,
    /// Interval at which an oracle resends its newest epoch wish.
    pub delta_resend: Duration,
    /// Time a follower waits for a valid EpochStart.
    pub delta_initial: Duration,
    /// Minimum time between the starts of two rounds.
    pub delta_round: Duration,
    /// Time the leader keeps collecting observations after the quorum.
    pub delta_grace: Duration,
    /// Wait before asking for a certified commit this oracle missed.
    pub delta_certified_commit_request: Duration,
    /// Delay between transmission stages.
    pub delta_stage: Duration,
    /// Rounds per epoch.
    pub r_max: u64,
    /// Transmission stages: `s[k]` oracles transmit in stage k.
    pub s: Vec<u8>,
    /// The oracles, by id.
    pub oracles: Vec<OracleIdentity>,
    /// The reporting plugin's own config.
    pub reporting_plugin_config: Vec<u8>,
    /// Budget of the plugin factory, when set.
    pub max_duration_initialization: Option<Duration>,
    /// Budget of `query`.
    pub max_duration_query: Duration,
    /// Budget of `observation`.
    pub max_duration_observation: Duration,
    /// Budget of `should-accept-attested-report`.
    pub max_duration_should_accept_attested_report: Duration,
    /// Budget of `should-transmit-accepted-report`.
    pub max_duration_should_transmit_accepted_report: Duration,
    /// Maximum number of faulty oracles.
    pub f: u8,
    /// The onchain config bytes.
    pub onchain_config: Vec<u8>,
}

/// How strictly to check resource-exhaustion bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strictness {
    /// The production checks, including the 100 ms minimum on the timers
    /// that drive resends and epoch changes.
    Production,
    /// Skips the 100 ms minimums (simulations and local benchmarks).
    Development,
}

/// The smallest DeltaProgress, DeltaResend, DeltaInitial and
/// DeltaCertifiedCommitRequest allowed in production.
pub const MIN_RESOURCE_DELTA: Duration = Duration::from_millis(100);

/// The longest transmission schedule.
pub const MAX_STAGES: usize = 999;

/// A configuration that cannot run, naming the parameter at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Too few or too many oracles.
    #[error("oracles: {n} oracles configured, between 1 and {MAX_ORACLES} are allowed")]
    OracleCount {
        /// The number configured.
        n: usize,
    },
    /// f does not satisfy 3f < n.
    #[error("f: f = {f} needs 3f < n, but n = {n}")]
    FaultTolerance {
        /// f.
        f: u8,
        /// n.
        n: usize,
    },
    /// Two oracles share a key or account.
    #[error("oracles: {what} {value} appears more than once")]
    Duplicate {
        /// Which field.
        what: &'static str,
        /// The repeated value, hex.
        value: String,
    },
    /// A delta below the production minimum.
    #[error("{parameter}: {value:?} is below the minimum of {MIN_RESOURCE_DELTA:?}")]
    TooSmall {
        /// The parameter.
        parameter: &'static str,
        /// Its value.
        value: Duration,
    },
    /// An ordering between two parameters does not hold.
    #[error("{parameter}: {value:?} must be less than {bound_name} ({bound:?})")]
    NotLess {
        /// The parameter.
        parameter: &'static str,
        /// Its value.
        value: Duration,
        /// The parameter it must stay below.
        bound_name: &'static str,
        /// That parameter's value.
        bound: Duration,
    },
    /// An offchain public key that is no curve point, or one of small
    /// order, for which anyone can make signatures that verify.
    #[error(
        "oracles[{oracle}].offchain_public_key: {key} is not a usable Ed25519 key (not a curve point, or of small order)"
    )]
    UnusableOffchainKey {
        /// The oracle's index.
        oracle: usize,
        /// The key, hex.
        key: String,
    },
    /// RMax is zero.
    #[error("r_max: must be at least 1")]
    ZeroRMax,
    /// The transmission schedule is too long or names too many oracles.
    #[error("s: {0}")]
    Schedule(String),
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn no_duplicates<'a>(what: &'static str, values: impl Iterator<Item = &'a [u8]>) -> Result<(), ConfigError> {
    let mut seen = HashSet::new();
    for value in values {
        if !seen.insert(value) {
            return Err(ConfigError::Duplicate { what, value: hex(value) });
        }
    }
    Ok(())
}

impl PublicConfig {
    /// A config with development-range timers (DeltaRound 100 ms, DeltaGrace
    /// 20 ms, DeltaProgress 2 s, RMax 20, one transmitter per stage): for
    /// simulations, tests and local runs. It passes
    /// [`Strictness::Development`]; override fields as needed.
    pub fn development(config_digest: ConfigDigest, oracles: Vec<OracleIdentity>, f: u8) -> Self {
        let n = oracles.len();
        Self {
            config_digest,
            delta_progress: Duration::from_secs(2),
            delta_resend: Duration::from_secs(2),
            delta_initial: Duration::from_millis(400),
            delta_round: Duration::from_millis(100),
            delta_grace: Duration::from_millis(20),
            delta_certified_commit_request: Duration::from_millis(200),
            delta_stage: Duration::from_secs(1),
            r_max: 20,
            s: vec![1; n],
            oracles,
            reporting_plugin_config: Vec::new(),
            max_duration_initialization: None,
            max_duration_query: Duration::from_millis(50),
            max_duration_observation: Duration::from_millis(50),
            max_duration_should_accept_attested_report: Duration::from_millis(50),
            max_duration_should_transmit_accepted_report: Duration::from_millis(50),
            f,
            onchain_config: Vec::new(),
        }
    }

    /// Number of oracles.
    pub fn n(&self) -> usize {
        self.oracles.len()
    }

    /// Size of every certificate: `floor((n+f)/2) + 1`.
    pub fn byzantine_quorum(&self) -> usize {
        ocr_plugin_sdk::byzantine_quorum(self.n(), usize::from(self.f))
    }

    /// Checks every rule of the reference's §11.3.
    pub fn validate(&self, strictness: Strictness) -> Result<(), ConfigError> {
        let n = self.n();
        if n == 0 || n > usize::from(MAX_ORACLES) {
            return Err(ConfigError::OracleCount { n });
        }
        if 3 * usize::from(self.f) >= n {
            return Err(ConfigError::FaultTolerance { f: self.f, n });
        }
        no_duplicates("offchain public key", self.oracles.iter().map(|o| &o.offchain_public_key[..]))?;
        if let Some((oracle, o)) =
            self.oracles.iter().enumerate().find(|(_, o)| !crate::signing::is_usable_public_key(&o.offchain_public_key))
        {
            return Err(ConfigError::UnusableOffchainKey { oracle, key: hex(&o.offchain_public_key) });
        }
        no_duplicates("onchain signer", self.oracles.iter().map(|o| &o.onchain_signer[..]))?;
        no_duplicates("peer id", self.oracles.iter().map(|o| &o.peer_id[..]))?;
        no_duplicates("transmit account", self.oracles.iter().map(|o| &o.transmit_account[..]))?;
        if self.r_max == 0 {
            return Err(ConfigError::ZeroRMax);
        }
        for (parameter, value) in [("delta_round", self.delta_round), ("delta_grace", self.delta_grace)] {
            if value >= self.delta_progress {
                return Err(ConfigError::NotLess {
                    parameter,
                    value,
                    bound_name: "delta_progress",
                    bound: self.delta_progress,
                });
            }
        }
        if self.s.len() > MAX_STAGES {
            return Err(ConfigError::Schedule(format!("{} stages, at most {MAX_STAGES} allowed", self.s.len())));
        }
        if let Some(stage) = self.s.iter().find(|s| **s > MAX_ORACLES) {
            return Err(ConfigError::Schedule(format!("a stage of {stage} oracles, at most {MAX_ORACLES} allowed")));
        }
        if strictness == Strictness::Production {
            for (parameter, value) in [
                ("delta_progress", self.delta_progress),
                ("delta_resend", self.delta_resend),
                ("delta_initial", self.delta_initial),
                ("delta_certified_commit_request", self.delta_certified_commit_request),
            ] {
                if value < MIN_RESOURCE_DELTA {
                    return Err(ConfigError::TooSmall { parameter, value });
                }
            }
        }
        Ok(())
    }

    /// The time between round starts that the protocol aims for:
    /// `max(DeltaRound, DeltaGrace)`.
    pub fn min_round_interval(&self) -> Duration {
        self.delta_round.max(self.delta_grace)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn identity(i: u8) -> OracleIdentity {
        OracleIdentity {
            offchain_public_key: crate::signing::OffchainKey::from_seed([i; 32]).public_key(),
            onchain_signer: [i; 20],
            peer_id: [i.wrapping_add(100); 32],
            transmit_account: [i.wrapping_add(200); 20],
        }
    }

    pub(crate) fn config(n: u8, f: u8) -> PublicConfig {
        PublicConfig {
            config_digest: ConfigDigest([1; 32]),
            delta_progress: Duration::from_secs(2),
            delta_resend: Duration::from_secs(5),
            delta_initial: Duration::from_millis(400),
            delta_round: Duration::from_millis(500),
            delta_grace: Duration::from_millis(250),
            delta_certified_commit_request: Duration::from_millis(300),
            delta_stage: Duration::from_secs(10),
            r_max: 100,
            s: vec![1; usize::from(n)],
            oracles: (0..n).map(identity).collect(),
            reporting_plugin_config: Vec::new(),
            max_duration_initialization: None,
            max_duration_query: Duration::from_millis(100),
            max_duration_observation: Duration::from_millis(100),
            max_duration_should_accept_attested_report: Duration::from_millis(100),
            max_duration_should_transmit_accepted_report: Duration::from_millis(100),
            f,
            onchain_config: Vec::new(),
        }
    }

    fn error(mutate: impl FnOnce(&mut PublicConfig)) -> String {
        let mut c = config(4, 1);
        mutate(&mut c);
        c.validate(Strictness::Production).expect_err("invalid config accepted").to_string()
    }

    #[test]
    fn a_good_config_validates_and_quorums_match_the_reference() {
        let c = config(4, 1);
        c.validate(Strictness::Production).unwrap();
        assert_eq!(c.byzantine_quorum(), 3);
        assert_eq!(config(31, 10).byzantine_quorum(), 21);
        assert_eq!(config(7, 2).byzantine_quorum(), 5);
        config(1, 0).validate(Strictness::Production).unwrap();
    }

    #[test]
    fn every_violation_names_its_parameter() {
        assert!(error(|c| c.oracles.clear()).starts_with("oracles:"));
        assert!(error(|c| c.oracles = (0..32).map(identity).collect()).contains("32 oracles"));
        assert!(error(|c| c.f = 2).starts_with("f:"));
        assert!(
            error(|c| c.oracles[1].offchain_public_key = c.oracles[0].offchain_public_key)
                .contains("offchain public key")
        );
        // The identity point (y = 1), of small order: anyone could sign for it.
        let mut identity_point = [0; 32];
        identity_point[0] = 1;
        for unusable in [identity_point, [0x02; 32]] {
            assert!(
                error(|c| c.oracles[2].offchain_public_key = unusable).starts_with("oracles[2].offchain_public_key: ")
            );
        }
        assert!(error(|c| c.oracles[1].onchain_signer = [0; 20]).contains("onchain signer"));
        assert!(error(|c| c.oracles[1].peer_id = [100; 32]).contains("peer id"));
        assert!(error(|c| c.oracles[1].transmit_account = [200; 20]).contains("transmit account"));
        assert!(error(|c| c.r_max = 0).starts_with("r_max:"));
        assert!(error(|c| c.delta_round = Duration::from_secs(2)).starts_with("delta_round:"));
        assert!(error(|c| c.delta_grace = Duration::from_secs(3)).starts_with("delta_grace:"));
        assert!(error(|c| c.s = vec![1; 1000]).starts_with("s:"));
        assert!(error(|c| c.s = vec![32]).starts_with("s:"));
        assert!(
            error(|c| {
                c.delta_progress = Duration::from_millis(99);
                c.delta_round = Duration::from_millis(10);
                c.delta_grace = Duration::from_millis(10);
            })
            .starts_with("delta_progress:")
        );
        assert!(error(|c| c.delta_resend = Duration::from_millis(99)).starts_with("delta_resend:"));
        assert!(error(|c| c.delta_initial = Duration::from_millis(99)).starts_with("delta_initial:"));
        assert!(
            error(|c| c.delta_certified_commit_request = Duration::from_millis(1))
                .starts_with("delta_certified_commit_request:")
        );
    }

    #[test]
    fn development_mode_allows_fast_timers_but_not_unsafe_ones() {
        let mut c = config(4, 1);
        c.delta_progress = Duration::from_millis(20);
        c.delta_resend = Duration::from_millis(20);
        c.delta_initial = Duration::from_millis(5);
        c.delta_round = Duration::ZERO;
        c.delta_grace = Duration::ZERO;
        c.validate(Strictness::Development).unwrap();
        assert!(c.validate(Strictness::Production).is_err());
        c.f = 2;
        assert!(c.validate(Strictness::Development).is_err());
    }
}
