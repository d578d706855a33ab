//! The node's own TOML config: where it listens, its keys, its peers'
//! addresses, its data directory, data sources, plugin directory, metrics and
//! admin addresses, and the network config it runs. Unknown fields are
//! refused and every error names the file and the field; relative paths are
//! relative to the config file.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ConfigFileError;
use crate::keys::PasswordSource;
use crate::sources::SourceSpec;
use crate::storage::Durability;

/// Where the key password comes from.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KeysSection {
    /// The directory `ocr-node keys generate` wrote.
    pub dir: PathBuf,
    /// A file holding the password.
    pub password_file: Option<PathBuf>,
    /// An environment variable holding the password.
    pub password_env: Option<String>,
}

/// `[chain]`: the contract the network's config and reports live in.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct RawChainSection {
    rpc_url: String,
    contract: alloy_primitives::Address,
    shared_secret_file: PathBuf,
    #[serde(default = "default_poll_ms")]
    config_poll_ms: u64,
}

fn default_poll_ms() -> u64 {
    5_000
}

/// The `rpc_url` of a node whose chain is an EVM in its own process (the
/// demo's): whoever runs the node hands it the chain.
pub const EMBEDDED_CHAIN: &str = "embedded";

/// The chain settings of a node that reads its config from a contract and
/// transmits reports to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainSettings {
    /// The JSON-RPC endpoint.
    pub rpc_url: String,
    /// The aggregator contract.
    pub contract: alloy_primitives::Address,
    /// The file holding the shared secret (32 hex digits), which the chain
    /// only knows by its sha256.
    pub shared_secret_file: PathBuf,
    /// How often to look for a new config.
    pub config_poll: std::time::Duration,
}

/// The node TOML, as written.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct RawNodeConfig {
    listen: SocketAddr,
    data_dir: PathBuf,
    plugin_dir: PathBuf,
    network_config: PathBuf,
    keys: KeysSection,
    #[serde(default)]
    peers: BTreeMap<String, SocketAddr>,
    #[serde(default)]
    sources: BTreeMap<String, SourceSpec>,
    metrics_listen: Option<SocketAddr>,
    admin_listen: Option<SocketAddr>,
    admin_token_file: Option<PathBuf>,
    chain: Option<RawChainSection>,
    #[serde(default)]
    log_json: bool,
    #[serde(default)]
    storage_durability: Durability,
}

/// A validated node config with absolute paths.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// The file it was read from.
    pub file: PathBuf,
    /// The QUIC listen address.
    pub listen: SocketAddr,
    /// Where sled keeps the node's state.
    pub data_dir: PathBuf,
    /// The watched plugin directory: `.wasm` files dropped here are checked
    /// and added to the node's plugin store (`<data_dir>/plugins`).
    pub plugin_dir: PathBuf,
    /// The network config file.
    pub network_config: PathBuf,
    /// The key directory.
    pub keys_dir: PathBuf,
    /// The key password.
    pub password: PasswordSource,
    /// Peer id → address.
    pub peers: BTreeMap<[u8; 32], SocketAddr>,
    /// Data sources by name.
    pub sources: BTreeMap<String, SourceSpec>,
    /// `/metrics` and `/health`, when set.
    pub metrics_listen: Option<SocketAddr>,
    /// The admin API, when set.
    pub admin_listen: Option<SocketAddr>,
    /// The file holding the admin API's bearer token (required with
    /// `admin_listen`).
    pub admin_token_file: Option<PathBuf>,
    /// The chain, when the node has one (else the network config file is
    /// the config source and reports are not transmitted).
    pub chain: Option<ChainSettings>,
    /// JSON logs.
    pub log_json: bool,
    /// How durable a persist is before the node goes on.
    pub storage_durability: Durability,
}

impl NodeConfig {
    /// Reads and validates `file`.
    pub fn load(file: &Path) -> Result<Self, ConfigFileError> {
        let text = std::fs::read_to_string(file).map_err(|e| ConfigFileError::read(file, &e))?;
        Self::parse(file, &text)
    }

    /// Parses and validates `text`, as read from `file`.
    pub fn parse(file: &Path, text: &str) -> Result<Self, ConfigFileError> {
        let raw: RawNodeConfig = toml::from_str(text).map_err(|e| ConfigFileError::syntax(file, &e))?;
        let base = file.parent().unwrap_or(Path::new("."));
        let resolve = |p: &Path| if p.is_absolute() { p.to_path_buf() } else { base.join(p) };
        let invalid = |field: &str, what: String| ConfigFileError::field(file, field, what);

        let password = match (&raw.keys.password_file, &raw.keys.password_env) {
            (Some(path), None) => PasswordSource::File(resolve(path)),
            (None, Some(var)) if !var.is_empty() => PasswordSource::Env(var.clone()),
            (None, Some(_)) => return Err(invalid("keys.password_env", "is empty".into())),
            _ => {
                return Err(invalid("keys", "set exactly one of password_file and password_env".into()));
            }
        };
        let mut peers = BTreeMap::new();
        for (id, address) in &raw.peers {
            let key = parse_peer_id(id).map_err(|what| invalid(&format!("peers.{id}"), what))?;
            peers.insert(key, *address);
        }
        for (name, spec) in &raw.sources {
            spec.validate(name).map_err(|e| invalid(&format!("sources.{name}"), e.to_string()))?;
        }
        let listeners =
            [("listen", Some(raw.listen)), ("metrics_listen", raw.metrics_listen), ("admin_listen", raw.admin_listen)];
        for (i, (field, address)) in listeners.iter().enumerate() {
            let Some(address) = address else { continue };
            if address.port() == 0 && *field != "listen" {
                return Err(invalid(field, "port 0 is not a fixed address".into()));
            }
            if listeners[..i]
                .iter()
                .any(|(_, other)| other.is_some_and(|o| o.port() == address.port() && o.ip() == address.ip()))
            {
                return Err(invalid(field, format!("{address} is already used by another listener")));
            }
        }
        if raw.admin_listen.is_some_and(|a| !a.ip().is_loopback()) {
            return Err(invalid("admin_listen", "must be a loopback address: the admin API is local".into()));
        }
        if raw.admin_listen.is_some() && raw.admin_token_file.is_none() {
            return Err(invalid(
                "admin_token_file",
                "is required with admin_listen (the admin API needs a token)".into(),
            ));
        }
        let chain = match &raw.chain {
            None => None,
            Some(chain) => {
                if !(chain.rpc_url.starts_with("http://")
                    || chain.rpc_url.starts_with("https://")
                    || chain.rpc_url == EMBEDDED_CHAIN)
                {
                    return Err(invalid(
                        "chain.rpc_url",
                        format!("{:?} is not an http(s) URL (or \"{EMBEDDED_CHAIN}\")", chain.rpc_url),
                    ));
                }
                if chain.contract == alloy_primitives::Address::ZERO {
                    return Err(invalid("chain.contract", "is the zero address".into()));
                }
                if !(100..=3_600_000).contains(&chain.config_poll_ms) {
                    return Err(invalid("chain.config_poll_ms", "must be between 100 and 3600000".into()));
                }
                Some(ChainSettings {
                    rpc_url: chain.rpc_url.clone(),
                    contract: chain.contract,
                    shared_secret_file: resolve(&chain.shared_secret_file),
                    config_poll: std::time::Duration::from_millis(chain.config_poll_ms),
                })
            }
        };
        Ok(Self {
            file: file.to_path_buf(),
            listen: raw.listen,
            data_dir: resolve(&raw.data_dir),
            plugin_dir: resolve(&raw.plugin_dir),
            network_config: resolve(&raw.network_config),
            keys_dir: resolve(&raw.keys.dir),
            password,
            peers,
            sources: raw.sources,
            metrics_listen: raw.metrics_listen,
            admin_listen: raw.admin_listen,
            admin_token_file: raw.admin_token_file.as_deref().map(resolve),
            chain,
            log_json: raw.log_json,
            storage_durability: raw.storage_durability,
        })
    }
}

/// A peer id written as 64 hex digits.
pub fn parse_peer_id(text: &str) -> Result<[u8; 32], String> {
    let bytes = hex::decode(text.trim_start_matches("0x")).map_err(|e| format!("{text:?} is not hex: {e}"))?;
    bytes.try_into().map_err(|b: Vec<u8>| format!("a peer id is 32 bytes, {text:?} has {}", b.len()))
}
