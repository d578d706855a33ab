//! The network config: what every oracle of one protocol instance shares.
//! The OCR3 public config (timers, transmission schedule, f, the oracles'
//! identities), the plugin named by sha256 and its config, and the shared
//! secret. In chainless mode it is read from this file; the contract is the
//! other source (chain integration).
//!
//! The config digest is the EVM digest of the contract config this file
//! amounts to: signers, transmitters, f, onchain config, and as offchain
//! config a canonical JSON encoding of everything else, including the
//! sha256 of the shared secret (so oracles given different secrets end up
//! in different instances instead of disagreeing silently).

use std::path::Path;
use std::time::Duration;

use alloy_primitives::Address;
use ocr_core::{ContractConfig, OracleIdentity, PublicConfig, Strictness};
use ocr_plugin_sdk::ConfigDigest;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ConfigFileError;

/// The version of the offchain config encoding below.
pub const OFFCHAIN_CONFIG_VERSION: u64 = 1;

/// One oracle's public identity, as written.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OracleEntry {
    /// Ed25519 consensus key, hex.
    pub offchain_public_key: String,
    /// Ethereum address of the report-signing key.
    pub onchain_signer: Address,
    /// Ed25519 peer key, hex.
    pub peer_id: String,
    /// The account that transmits.
    pub transmitter: Address,
}

/// The protocol's timers and limits, in milliseconds.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Timing {
    /// DeltaProgress.
    pub delta_progress_ms: u64,
    /// DeltaResend.
    pub delta_resend_ms: u64,
    /// DeltaInitial.
    pub delta_initial_ms: u64,
    /// DeltaRound (0: rounds back to back).
    pub delta_round_ms: u64,
    /// DeltaGrace.
    pub delta_grace_ms: u64,
    /// DeltaCertifiedCommitRequest.
    pub delta_certified_commit_request_ms: u64,
    /// DeltaStage.
    pub delta_stage_ms: u64,
    /// Rounds per epoch.
    pub r_max: u64,
    /// The transmission schedule S.
    pub transmission_schedule: Vec<u8>,
    /// Budget of query.
    pub max_duration_query_ms: u64,
    /// Budget of observation.
    pub max_duration_observation_ms: u64,
    /// Budget of should-accept-attested-report.
    pub max_duration_should_accept_ms: u64,
    /// Budget of should-transmit-accepted-report.
    pub max_duration_should_transmit_ms: u64,
}

/// The plugin the instance runs.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PluginSection {
    /// A name for logs.
    pub name: String,
    /// The component's sha256, hex: the plugin's identity.
    pub sha256: String,
    /// The plugin's own config, passed to its factory as bytes.
    pub config: String,
}

/// The network config file.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// The chain id the digest is computed for (0 without a chain).
    pub chain_id: u64,
    /// The contract the digest is computed for (zero without a chain).
    pub contract: Address,
    /// How many configs the instance's contract has had.
    pub config_count: u64,
    /// Faulty oracles tolerated.
    pub f: u8,
    /// The shared secret (16 bytes, hex): leader and transmission order.
    pub shared_secret: String,
    /// Skip the production minimum timer checks (benchmarks, local runs).
    #[serde(default)]
    pub development: bool,
    /// The onchain config, hex.
    #[serde(default)]
    pub onchain_config: String,
    /// Timers.
    pub timing: Timing,
    /// The plugin.
    pub plugin: PluginSection,
    /// The oracles, by oracle id.
    pub oracles: Vec<OracleEntry>,
}

/// The offchain config as the contract stores it (canonical JSON): what the
/// digest binds besides the onchain fields.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OffchainConfig {
    /// Timers.
    pub timing: Timing,
    /// The plugin.
    pub plugin: PluginSection,
    /// Ed25519 consensus keys, by oracle id.
    pub offchain_public_keys: Vec<String>,
    /// Ed25519 peer keys, by oracle id.
    pub peer_ids: Vec<String>,
    /// sha256 of the shared secret, which travels outside the chain.
    pub shared_secret_sha256: String,
    /// Development strictness (short timers allowed).
    pub development: bool,
}

/// A network config checked and turned into what the node runs.
#[derive(Clone, Debug)]
pub struct Instance {
    /// The protocol's public config (digest included).
    pub public: PublicConfig,
    /// The contract config the digest was computed from.
    pub contract: ContractConfig,
    /// The shared secret.
    pub shared_secret: [u8; 16],
    /// The plugin's sha256.
    pub plugin_sha256: [u8; 32],
    /// The plugin's name.
    pub plugin_name: String,
    /// The file as read, for storage.
    pub source_text: String,
}

fn hex_array<const N: usize>(text: &str) -> Result<[u8; N], String> {
    let bytes = hex::decode(text.trim_start_matches("0x")).map_err(|e| format!("not hex: {e}"))?;
    bytes.try_into().map_err(|b: Vec<u8>| format!("{} bytes, expected {N}", b.len()))
}

impl NetworkConfig {
    /// Reads and validates `file`.
    pub fn load(file: &Path) -> Result<Instance, ConfigFileError> {
        let text = std::fs::read_to_string(file).map_err(|e| ConfigFileError::read(file, &e))?;
        Self::parse(file, &text)
    }

    /// Parses and validates `text`, as read from `file`.
    pub fn parse(file: &Path, text: &str) -> Result<Instance, ConfigFileError> {
        let raw: NetworkConfig = toml::from_str(text).map_err(|e| ConfigFileError::syntax(file, &e))?;
        let mut instance = raw.instance().map_err(|(field, what)| ConfigFileError::field(file, &field, what))?;
        instance.source_text = text.to_owned();
        Ok(instance)
    }

    /// The offchain config bytes the digest binds: canonical JSON.
    pub fn offchain_config(&self) -> Result<Vec<u8>, (String, String)> {
        let secret: [u8; 16] = hex_array(&self.shared_secret).map_err(|e| ("shared_secret".to_owned(), e))?;
        let offchain = OffchainConfig {
            timing: self.timing.clone(),
            plugin: self.plugin.clone(),
            offchain_public_keys: self.oracles.iter().map(|o| o.offchain_public_key.clone()).collect(),
            peer_ids: self.oracles.iter().map(|o| o.peer_id.clone()).collect(),
            shared_secret_sha256: hex::encode(Sha256::digest(secret)),
            development: self.development,
        };
        serde_json::to_vec(&offchain).map_err(|e| ("".to_owned(), e.to_string()))
    }

    /// The network config a contract's config amounts to, given the shared
    /// secret (which the chain only knows by its sha256).
    pub fn from_contract(contract: &ContractConfig, shared_secret: &[u8; 16]) -> Result<Self, (String, String)> {
        let field = |name: &str, what: String| (name.to_owned(), what);
        if contract.offchain_config_version != OFFCHAIN_CONFIG_VERSION {
            return Err(field(
                "offchain_config_version",
                format!("{} is not the supported {OFFCHAIN_CONFIG_VERSION}", contract.offchain_config_version),
            ));
        }
        let offchain: OffchainConfig = serde_json::from_slice(&contract.offchain_config)
            .map_err(|e| field("offchain_config", format!("not this node's offchain config: {e}")))?;
        if offchain.shared_secret_sha256 != hex::encode(Sha256::digest(shared_secret)) {
            return Err(field("shared_secret", "does not match the sha256 the contract's config names".into()));
        }
        let n = contract.signers.len();
        if offchain.offchain_public_keys.len() != n || offchain.peer_ids.len() != n || contract.transmitters.len() != n
        {
            return Err(field("oracles", "signers, transmitters, offchain keys and peer ids differ in number".into()));
        }
        let oracles = (0..n)
            .map(|i| OracleEntry {
                offchain_public_key: offchain.offchain_public_keys[i].clone(),
                onchain_signer: Address::from(contract.signers[i]),
                peer_id: offchain.peer_ids[i].clone(),
                transmitter: Address::from(contract.transmitters[i]),
            })
            .collect();
        Ok(Self {
            chain_id: contract.chain_id,
            contract: Address::from(contract.contract),
            config_count: contract.config_count,
            f: contract.f,
            shared_secret: hex::encode(shared_secret),
            development: offchain.development,
            onchain_config: hex::encode(&contract.onchain_config),
            timing: offchain.timing,
            plugin: offchain.plugin,
            oracles,
        })
    }

    /// The instance of a contract's config. The digest is the contract's
    /// own (recomputed from what it stores), whatever byte-level choices
    /// the tool that set the config made.
    pub fn instance_from_contract(
        contract: &ContractConfig,
        shared_secret: &[u8; 16],
    ) -> Result<Instance, (String, String)> {
        let network = Self::from_contract(contract, shared_secret)?;
        let mut instance = network.instance()?;
        instance.public.config_digest = contract.digest();
        instance.contract = contract.clone();
        instance.source_text = toml::to_string(&network).map_err(|e| ("(config)".to_owned(), e.to_string()))?;
        Ok(instance)
    }

    /// The checked instance, or the failing field and why.
    pub fn instance(&self) -> Result<Instance, (String, String)> {
        let field = |name: &str, what: String| (name.to_owned(), what);
        let shared_secret = hex_array::<16>(&self.shared_secret).map_err(|e| field("shared_secret", e))?;
        let plugin_sha256 = hex_array::<32>(&self.plugin.sha256).map_err(|e| field("plugin.sha256", e))?;
        let onchain_config = hex::decode(self.onchain_config.trim_start_matches("0x"))
            .map_err(|e| field("onchain_config", e.to_string()))?;
        let mut oracles = Vec::with_capacity(self.oracles.len());
        for (i, o) in self.oracles.iter().enumerate() {
            let offchain_public_key = hex_array::<32>(&o.offchain_public_key)
                .map_err(|e| field(&format!("oracles[{i}].offchain_public_key"), e))?;
            let peer_id = hex_array::<32>(&o.peer_id).map_err(|e| field(&format!("oracles[{i}].peer_id"), e))?;
            oracles.push(OracleIdentity {
                offchain_public_key,
                onchain_signer: o.onchain_signer.into_array(),
                peer_id,
                transmit_account: o.transmitter.into_array(),
            });
        }
        let contract = ContractConfig {
            chain_id: self.chain_id,
            contract: self.contract.into_array(),
            config_count: self.config_count,
            signers: oracles.iter().map(|o| o.onchain_signer).collect(),
            transmitters: oracles.iter().map(|o| o.transmit_account).collect(),
            f: self.f,
            onchain_config: onchain_config.clone(),
            offchain_config_version: OFFCHAIN_CONFIG_VERSION,
            offchain_config: self.offchain_config()?,
        };
        let digest: ConfigDigest = contract.digest();
        let t = &self.timing;
        let ms = Duration::from_millis;
        let public = PublicConfig {
            config_digest: digest,
            delta_progress: ms(t.delta_progress_ms),
            delta_resend: ms(t.delta_resend_ms),
            delta_initial: ms(t.delta_initial_ms),
            delta_round: ms(t.delta_round_ms),
            delta_grace: ms(t.delta_grace_ms),
            delta_certified_commit_request: ms(t.delta_certified_commit_request_ms),
            delta_stage: ms(t.delta_stage_ms),
            r_max: t.r_max,
            s: t.transmission_schedule.clone(),
            oracles,
            reporting_plugin_config: self.plugin.config.as_bytes().to_vec(),
            max_duration_initialization: None,
            max_duration_query: ms(t.max_duration_query_ms),
            max_duration_observation: ms(t.max_duration_observation_ms),
            max_duration_should_accept_attested_report: ms(t.max_duration_should_accept_ms),
            max_duration_should_transmit_accepted_report: ms(t.max_duration_should_transmit_ms),
            f: self.f,
            onchain_config,
        };
        let strictness = if self.development { Strictness::Development } else { Strictness::Production };
        public.validate(strictness).map_err(|e| field("(config)", e.to_string()))?;
        Ok(Instance {
            public,
            contract,
            shared_secret,
            plugin_sha256,
            plugin_name: self.plugin.name.clone(),
            source_text: String::new(),
        })
    }
}
