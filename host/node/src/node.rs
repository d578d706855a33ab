//! `ocr-node run`: one node wired together. Keys are decrypted, storage
//! opened, the network config read (or the last one stored, if the file is
//! unreadable), the plugin found by sha256 and instantiated with the node's
//! data sources, the QUIC network started, and the driver run until
//! shutdown. Every failure before the driver starts is a clear error naming
//! what is wrong.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use ocr_core::messages::MessageLimits;
use ocr_core::onchain::OnchainKey;
use ocr_core::oracle::OracleSetup;
use ocr_core::signing::OffchainKey;
use ocr_core::wire;
use ocr_net::{NetMetrics, Network, PeerId};
use ocr_plugin_api::Plugin;
use ocr_plugin_host::{EngineOptions, PluginEngine};
use ocr_plugin_sdk::PluginConfig;
use prometheus_client::registry::Registry;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, watch};

use crate::config::network::{Instance, NetworkConfig};
use crate::config::node::NodeConfig;
use crate::driver::{Driver, DriverEvent};
use crate::keys::NodeKeys;
use crate::metrics::NodeMetrics;
use crate::sources::NodeSources;
use crate::storage::SledStorage;

/// The network config to run: the file, or the last one stored when the
/// file cannot be used (a restarted node resumes at once).
fn network_config(config: &NodeConfig, storage: &SledStorage) -> Result<Instance> {
    match NetworkConfig::load(&config.network_config) {
        Ok(instance) => {
            storage.save_last_config(instance.source_text.as_bytes())?;
            Ok(instance)
        }
        Err(error) => {
            let Some(last) = storage.last_config()? else {
                return Err(error.into());
            };
            tracing::warn!(%error, "network config unusable; resuming with the last stored one");
            let text = String::from_utf8(last).context("stored network config is not UTF-8")?;
            Ok(NetworkConfig::parse(Path::new("(stored config)"), &text)?)
        }
    }
}

/// The component in `dir` whose sha256 is `sha256`.
pub fn find_plugin(dir: &Path, sha256: &[u8; 32]) -> Result<PathBuf> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("plugin_dir {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "wasm")
            && std::fs::read(&path).is_ok_and(|bytes| <[u8; 32]>::from(Sha256::digest(&bytes)) == *sha256)
        {
            return Ok(path);
        }
    }
    bail!("no plugin with sha256 {} in {}", hex::encode(sha256), dir.display())
}

/// The factory config of oracle `me` in `instance`.
pub fn plugin_config(instance: &Instance, me: u8) -> Result<PluginConfig> {
    let public = &instance.public;
    Ok(PluginConfig {
        config_digest: public.config_digest,
        oracle_id: me,
        n: u8::try_from(public.n())?,
        f: public.f,
        onchain_config: public.onchain_config.clone(),
        offchain_config: public.reporting_plugin_config.clone(),
        estimated_round_interval: public.min_round_interval(),
        max_duration_query: public.max_duration_query,
        max_duration_observation: public.max_duration_observation,
        max_duration_should_accept_attested_report: public.max_duration_should_accept_attested_report,
        max_duration_should_transmit_accepted_report: public.max_duration_should_transmit_accepted_report,
    })
}

/// Runs the node described by `config` until `shutdown` turns true.
pub async fn run(
    config: NodeConfig,
    events: Option<mpsc::Sender<DriverEvent>>,
    shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let password = config.password.read()?;
    let keys = NodeKeys::load(&config.keys_dir, &password)?;
    let public_keys = keys.public();
    std::fs::create_dir_all(&config.data_dir).with_context(|| format!("data_dir {}", config.data_dir.display()))?;
    let storage = Arc::new(SledStorage::open_with(&config.data_dir.join("state"), config.storage_durability)?);
    let instance = network_config(&config, &storage)?;
    let public = Arc::new(instance.public.clone());
    let me = public
        .oracles
        .iter()
        .position(|o| o.peer_id == public_keys.peer_id && o.offchain_public_key == public_keys.offchain_public_key)
        .context("this node's peer id and offchain key are not an oracle of the network config")?;
    let me = u8::try_from(me)?;
    let digest = public.config_digest;
    tracing::info!(oracle = me, instance = %hex::encode(digest.0), n = public.n(), f = public.f, "starting");

    let plugin_path = find_plugin(&config.plugin_dir, &instance.plugin_sha256)?;
    let engine = PluginEngine::new(EngineOptions {
        cache_dir: Some(config.data_dir.join("plugin-cache")),
        ..EngineOptions::default()
    })?;
    let loaded = engine.load_file(&plugin_path).with_context(|| format!("loading {}", plugin_path.display()))?;
    let sources = NodeSources::start(&config.sources)?;
    let plugin = loaded
        .instantiate(&plugin_config(&instance, me)?, Arc::new(sources))
        .with_context(|| format!("the plugin's factory refused the config in {}", config.network_config.display()))?;
    let plugin_limits = plugin.info().limits;

    let mut registry = Registry::default();
    let metrics = NodeMetrics::default();
    metrics.register(&mut registry);
    let net_metrics = NetMetrics::default();
    net_metrics.register(&mut registry);
    let healthy = Arc::new(AtomicBool::new(false));
    let _metrics_server = match config.metrics_listen {
        Some(address) => Some(
            crate::metrics::serve(address, Arc::new(registry), healthy.clone())
                .await
                .with_context(|| format!("metrics_listen {address}"))?,
        ),
        None => None,
    };

    let mut peers = Vec::new();
    for (i, oracle) in public.oracles.iter().enumerate() {
        if i == usize::from(me) {
            continue;
        }
        let address = config.peers.get(&oracle.peer_id).with_context(|| {
            format!(
                "{}: peers has no address for oracle {i} (peer id {})",
                config.file.display(),
                hex::encode(oracle.peer_id)
            )
        })?;
        peers.push((PeerId(oracle.peer_id), *address));
    }
    let network = Network::start(ocr_net::NetworkConfig::new(config.listen, keys.peer_seed(), peers), net_metrics)?;
    let limits = MessageLimits::new(&public, &plugin_limits);
    let rates = wire::rate_limits(&public, &limits);
    let oracles: Vec<PeerId> = public.oracles.iter().map(|o| PeerId(o.peer_id)).collect();
    let sender = network.open_instance(digest.0, &oracles, me, limits, rates)?;
    let inbound = sender.inbound();

    let onchain_key = OnchainKey::from_bytes(&keys.onchain_secret()).context("onchain key")?;
    let setup = OracleSetup {
        config: public.clone(),
        me,
        offchain_key: Arc::new(OffchainKey::from_seed(keys.offchain_seed())),
        onchain_key: Arc::new(onchain_key),
        shared_secret: instance.shared_secret,
        plugin_limits,
    };
    let driver = Driver {
        setup,
        storage,
        transport: sender,
        inbound,
        plugin: Box::new(plugin),
        plugin_name: instance.plugin_name.clone(),
        metrics,
        events,
    };
    healthy.store(true, Ordering::Relaxed);
    let result = driver.run(shutdown).await;
    healthy.store(false, Ordering::Relaxed);
    drop(network);
    result?;
    tracing::info!(oracle = me, "stopped");
    Ok(())
}
