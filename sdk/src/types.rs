//! The OCR3 data types a plugin sees, as plain Rust values. They are the same
//! natively and in wasm; the wasm glue converts them from and to the WIT types.

use core::fmt;
use core::time::Duration;

/// Index of an oracle in the configuration (`0 <= id < n <= 31`).
pub type OracleId = u8;

/// Sequence number of an outcome; the first committed outcome has 1.
pub type SeqNr = u64;

/// The largest number of oracles OCR3 supports.
pub const MAX_ORACLES: u8 = 31;

/// The 32-byte digest that identifies one protocol instance (one config).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ConfigDigest(pub [u8; 32]);

impl fmt::Debug for ConfigDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConfigDigest({self})")
    }
}

impl fmt::Display for ConfigDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Everything a plugin's factory receives (libocr's `ReportingPluginConfig`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginConfig {
    /// The protocol instance this plugin instance serves.
    pub config_digest: ConfigDigest,
    /// This node's oracle index.
    pub oracle_id: OracleId,
    /// Number of oracles.
    pub n: u8,
    /// Maximum number of faulty oracles (`3f < n`).
    pub f: u8,
    /// The onchain config bytes.
    pub onchain_config: Vec<u8>,
    /// The plugin's own offchain config bytes.
    pub offchain_config: Vec<u8>,
    /// The expected time between rounds.
    pub estimated_round_interval: Duration,
    /// Wall-clock budget of `query`.
    pub max_duration_query: Duration,
    /// Wall-clock budget of `observation`.
    pub max_duration_observation: Duration,
    /// Wall-clock budget of `should_accept_attested_report`.
    pub max_duration_should_accept_attested_report: Duration,
    /// Wall-clock budget of `should_transmit_accepted_report`.
    pub max_duration_should_transmit_accepted_report: Duration,
}

impl PluginConfig {
    /// A config for tests and tools: the given n and f, oracle 0, an all-zero
    /// digest, empty onchain config, the given offchain config, and one-second
    /// budgets.
    pub fn for_tests(n: u8, f: u8, offchain_config: Vec<u8>) -> Self {
        let second = Duration::from_secs(1);
        Self {
            config_digest: ConfigDigest::default(),
            oracle_id: 0,
            n,
            f,
            onchain_config: Vec::new(),
            offchain_config,
            estimated_round_interval: second,
            max_duration_query: second,
            max_duration_observation: second,
            max_duration_should_accept_attested_report: second,
            max_duration_should_transmit_accepted_report: second,
        }
    }

    /// Checks `3f < n <= 31`, the bounds every plugin's factory relies on.
    pub fn check_committee(&self) -> Result<(), PluginError> {
        if self.n == 0 || self.n > MAX_ORACLES || 3 * u16::from(self.f) >= u16::from(self.n) {
            return Err(PluginError::invalid_config(format!("n={} f={} violates 3f < n <= 31", self.n, self.f)));
        }
        Ok(())
    }

    /// Whether `count` reaches the given quorum for this config's n and f.
    pub fn is_quorum(&self, quorum: crate::Quorum, count: usize) -> bool {
        quorum.is_met(self.n, self.f, count)
    }
}

/// Bounds on what the plugin produces (libocr's `ReportingPluginLimits`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PluginLimits {
    /// Longest query, in bytes.
    pub max_query_length: u32,
    /// Longest observation, in bytes.
    pub max_observation_length: u32,
    /// Longest outcome, in bytes.
    pub max_outcome_length: u32,
    /// Longest report, in bytes.
    pub max_report_length: u32,
    /// Most reports per outcome.
    pub max_report_count: u32,
}

/// The plugin's name and limits, returned by the factory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginInfo {
    /// A short human-readable name used in logs and metrics.
    pub name: String,
    /// The plugin's output bounds.
    pub limits: PluginLimits,
}

/// The context of one round of outcome generation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutcomeContext {
    /// The sequence number of the outcome being generated.
    pub seq_nr: SeqNr,
    /// The committed outcome of `seq_nr - 1`; empty for the first.
    pub previous_outcome: Vec<u8>,
    /// Deprecated: differs between oracles across epoch changes. Do not let it
    /// influence a deterministic result.
    pub epoch: u64,
    /// Deprecated, for the same reason as `epoch`.
    pub round: u64,
}

/// An observation and the oracle that made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttributedObservation {
    /// The observation bytes (untrusted).
    pub observation: Vec<u8>,
    /// The oracle that signed it.
    pub observer: OracleId,
}

impl AttributedObservation {
    /// A borrowed view, as plugins receive it.
    pub fn as_ref(&self) -> AttributedObservationRef<'_> {
        AttributedObservationRef { observation: &self.observation, observer: self.observer }
    }
}

/// An observation and its observer, borrowed: what plugin methods receive, so
/// that observations reach a plugin without a copy per observation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttributedObservationRef<'a> {
    /// The observation bytes (untrusted).
    pub observation: &'a [u8],
    /// The oracle that signed it.
    pub observer: OracleId,
}

impl AttributedObservationRef<'_> {
    /// An owned copy.
    pub fn to_owned(&self) -> AttributedObservation {
        AttributedObservation { observation: self.observation.to_vec(), observer: self.observer }
    }
}

/// Borrowed views of a list of owned observations.
pub fn observation_refs(observations: &[AttributedObservation]) -> Vec<AttributedObservationRef<'_>> {
    observations.iter().map(AttributedObservation::as_ref).collect()
}

/// Who transmits a report and after which delay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransmissionSchedule {
    /// Transmitting oracles, in order.
    pub transmitters: Vec<OracleId>,
    /// `transmission_delays[i]` is the delay of `transmitters[i]`.
    pub transmission_delays: Vec<Duration>,
}

/// A report produced from a committed outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportPlus {
    /// The bytes the oracles sign onchain.
    pub report: Vec<u8>,
    /// Node-local metadata; never signed, never sent to other oracles.
    pub info: Vec<u8>,
    /// Overrides the default transmission schedule for this report.
    pub transmission_schedule_override: Option<TransmissionSchedule>,
}

impl ReportPlus {
    /// A report with no info and the default schedule.
    pub fn new(report: Vec<u8>) -> Self {
        Self { report, info: Vec::new(), transmission_schedule_override: None }
    }
}

/// An attested report handed back for transmission decisions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportWithInfo {
    /// The attested report bytes.
    pub report: Vec<u8>,
    /// The info bytes `reports` produced with it.
    pub info: Vec<u8>,
}

/// Why a plugin call failed. Any error means "this oracle does not contribute
/// to this step".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PluginError {
    /// The factory rejected its configuration.
    InvalidConfig(String),
    /// An input is malformed or out of bounds.
    InvalidInput(String),
    /// A data source failed or is unknown.
    DataSource(String),
    /// Anything else.
    Other(String),
}

impl PluginError {
    /// Shorthand for [`PluginError::InvalidInput`].
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::InvalidInput(message.into())
    }

    /// Shorthand for [`PluginError::InvalidConfig`].
    pub fn invalid_config(message: impl Into<String>) -> Self {
        Self::InvalidConfig(message.into())
    }

    /// Shorthand for [`PluginError::Other`].
    pub fn other(message: impl Into<String>) -> Self {
        Self::Other(message.into())
    }

    /// The message without its kind.
    pub fn message(&self) -> &str {
        match self {
            Self::InvalidConfig(m) | Self::InvalidInput(m) | Self::DataSource(m) | Self::Other(m) => m,
        }
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidConfig(m) => write!(f, "invalid config: {m}"),
            Self::InvalidInput(m) => write!(f, "invalid input: {m}"),
            Self::DataSource(m) => write!(f, "data source: {m}"),
            Self::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for PluginError {}
