//! `ocr-node run`: one node wired together. Keys are decrypted, storage
//! opened, the config read (from the contract when the node has a chain,
//! else from the network config file; the last one stored when neither
//! answers, so a restarted node resumes at once), the plugin found by sha256
//! and instantiated with the node's data sources, the QUIC network started,
//! and the driver run. With a chain, reports go to the contract and a new
//! config on chain replaces the running instance. Every failure before the
//! driver starts is a clear error naming what is wrong.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use ocr_chain::{Chain, RpcChain, RpcOptions};
use ocr_core::messages::MessageLimits;
use ocr_core::onchain::OnchainKey;
use ocr_core::oracle::OracleSetup;
use ocr_core::signing::OffchainKey;
use ocr_core::wire;
use ocr_net::{NetMetrics, Network, PeerId};
use ocr_plugin_api::Plugin;
use ocr_plugin_host::{EngineOptions, PluginEngine};
use prometheus_client::registry::Registry;
use tokio::sync::{mpsc, watch};

use crate::config::network::{Instance, NetworkConfig};
use crate::config::node::{ChainSettings, NodeConfig};
use crate::driver::{Driver, DriverEvent};
use crate::keys::NodeKeys;
use crate::metrics::NodeMetrics;
use crate::plugin_setup::{find_plugin, plugin_config};
use crate::sources::NodeSources;
use crate::storage::SledStorage;
use crate::transmitter::{self, Transmitter};

/// What a caller may hand a node besides its config.
#[derive(Default)]
pub struct RunOptions {
    /// Where driver events go (tests, the bench, the demo).
    pub events: Option<mpsc::Sender<DriverEvent>>,
    /// The chain to use instead of connecting to the config's `rpc_url`
    /// (the demo's embedded EVM, shared by its nodes).
    pub chain: Option<Arc<dyn Chain>>,
}

/// Why an instance stopped.
enum Exit {
    Shutdown,
    NewConfig,
}

/// The network config file, or the last one stored when the file cannot be
/// used.
fn file_config(config: &NodeConfig, storage: &SledStorage) -> Result<Instance> {
    match NetworkConfig::load(&config.network_config) {
        Ok(instance) => {
            storage.save_last_config(instance.source_text.as_bytes())?;
            Ok(instance)
        }
        Err(error) => stored_config(storage)
            .ok_or(error)
            .map_err(|error| anyhow::Error::from(error).context("no usable network config file and none stored")),
    }
}

fn stored_config(storage: &SledStorage) -> Option<Instance> {
    let last = storage.last_config().ok()??;
    let text = String::from_utf8(last).ok()?;
    let instance = NetworkConfig::parse(Path::new("(stored config)"), &text).ok()?;
    tracing::warn!(instance = %hex::encode(instance.public.config_digest.0), "resuming with the last stored config");
    Some(instance)
}

fn shared_secret(settings: &ChainSettings) -> Result<[u8; 16]> {
    let file = &settings.shared_secret_file;
    let text = std::fs::read_to_string(file).with_context(|| format!("chain.shared_secret_file {}", file.display()))?;
    let bytes = hex::decode(text.trim()).with_context(|| format!("{}: not hex", file.display()))?;
    bytes.try_into().map_err(|b: Vec<u8>| anyhow::anyhow!("{}: {} bytes, expected 16", file.display(), b.len()))
}

/// The contract's config, waiting for one to be set; the last stored config
/// when the chain does not answer.
async fn chain_config(
    chain: &dyn Chain,
    settings: &ChainSettings,
    secret: &[u8; 16],
    storage: &SledStorage,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Option<Instance>> {
    let mut warned = false;
    loop {
        match chain.latest_config(settings.contract).await {
            Ok(Some(contract)) => {
                let instance = NetworkConfig::instance_from_contract(&contract, secret)
                    .map_err(|(field, what)| anyhow::anyhow!("the contract's config: {field}: {what}"))?;
                storage.save_last_config(instance.source_text.as_bytes())?;
                return Ok(Some(instance));
            }
            Ok(None) if !warned => {
                tracing::info!(contract = %settings.contract, "no config on the contract yet; waiting");
                warned = true;
            }
            Ok(None) => {}
            Err(error) => {
                if let Some(instance) = stored_config(storage) {
                    tracing::warn!(%error, "cannot read the contract's config");
                    return Ok(Some(instance));
                }
                tracing::warn!(%error, "cannot read the contract's config and none is stored; retrying");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(settings.config_poll) => {}
            _ = shutdown.changed() => return Ok(None),
        }
    }
}

/// Runs the node described by `config` until `shutdown` turns true.
pub async fn run(config: NodeConfig, options: RunOptions, mut shutdown: watch::Receiver<bool>) -> Result<()> {
    let password = config.password.read()?;
    let keys = NodeKeys::load(&config.keys_dir, &password)?;
    std::fs::create_dir_all(&config.data_dir).with_context(|| format!("data_dir {}", config.data_dir.display()))?;
    let storage = Arc::new(SledStorage::open_with(&config.data_dir.join("state"), config.storage_durability)?);
    let chain = match (&config.chain, options.chain) {
        (None, _) => None,
        (Some(settings), Some(chain)) => Some((chain, settings.clone(), shared_secret(settings)?)),
        (Some(settings), None) if settings.rpc_url == crate::config::node::EMBEDDED_CHAIN => {
            anyhow::bail!(
                "{}: chain.rpc_url = \"embedded\" runs only where the process provides the chain (the demo)",
                config.file.display()
            )
        }
        (Some(settings), None) => {
            let chain = RpcChain::connect(&settings.rpc_url, RpcOptions::default())
                .await
                .with_context(|| format!("chain.rpc_url {}", settings.rpc_url))?;
            Some((Arc::new(chain) as Arc<dyn Chain>, settings.clone(), shared_secret(settings)?))
        }
    };
    loop {
        let instance = match &chain {
            None => file_config(&config, &storage)?,
            Some((chain, settings, secret)) => {
                match chain_config(chain.as_ref(), settings, secret, &storage, &mut shutdown).await? {
                    Some(instance) => instance,
                    None => return Ok(()),
                }
            }
        };
        let running = Running { config: &config, keys: &keys, storage: storage.clone(), chain: chain.as_ref() };
        match running.instance(instance, options.events.clone(), shutdown.clone()).await? {
            Exit::Shutdown => return Ok(()),
            Exit::NewConfig => tracing::info!("a new config is on chain; switching instances"),
        }
    }
}

struct Running<'a> {
    config: &'a NodeConfig,
    keys: &'a NodeKeys,
    storage: Arc<SledStorage>,
    chain: Option<&'a (Arc<dyn Chain>, ChainSettings, [u8; 16])>,
}

impl Running<'_> {
    /// Runs one protocol instance until shutdown or a new config on chain.
    async fn instance(
        &self,
        instance: Instance,
        events: Option<mpsc::Sender<DriverEvent>>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<Exit> {
        let config = self.config;
        let public_keys = self.keys.public();
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
            .context("the plugin's factory refused the network config")?;
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
        let network =
            Network::start(ocr_net::NetworkConfig::new(config.listen, self.keys.peer_seed(), peers), net_metrics)?;
        let limits = MessageLimits::new(&public, &plugin_limits);
        let rates = wire::rate_limits(&public, &limits);
        let oracles: Vec<PeerId> = public.oracles.iter().map(|o| PeerId(o.peer_id)).collect();
        let sender = network.open_instance(digest.0, &oracles, me, limits, rates)?;
        let inbound = sender.inbound();

        // With a chain: a transmitter fed from the driver's events, and a
        // watcher that stops the instance when the contract's config changes.
        let (stop_instance, instance_shutdown) = watch::channel(false);
        let config_changed = Arc::new(AtomicBool::new(false));
        let global_shutdown = shutdown.clone();
        let mut background = Vec::new();
        let (driver_events, mut routed) = mpsc::channel::<DriverEvent>(1024);
        let transmissions = match self.chain {
            Some((chain, settings, _)) => {
                let (queue, reports) = mpsc::channel(transmitter::QUEUE);
                let transmitter = Transmitter {
                    chain: chain.clone(),
                    contract: settings.contract,
                    signer: ocr_chain::signer_from_bytes(&self.keys.transmitter_secret())?,
                    config_digest: digest,
                    f: public.f,
                    metrics: metrics.clone(),
                };
                background.push(tokio::spawn(transmitter.run(reports)));
                background.push(tokio::spawn(watch_config(
                    chain.clone(),
                    settings.clone(),
                    digest,
                    config_changed.clone(),
                    stop_instance.clone(),
                )));
                Some(queue)
            }
            None => None,
        };
        let router_metrics = metrics.clone();
        background.push(tokio::spawn(async move {
            while let Some(event) = routed.recv().await {
                if let (DriverEvent::Transmit(report), Some(queue)) = (&event, &transmissions)
                    && queue.try_send(report.clone()).is_err()
                {
                    tracing::warn!(seq_nr = report.seq_nr, "transmit queue full; report dropped");
                    router_metrics
                        .transmit_results
                        .get_or_create(&crate::metrics::TransmitLabels { result: "dropped" })
                        .inc();
                }
                if let Some(events) = &events {
                    let _ = events.try_send(event);
                }
            }
        }));
        let forward_shutdown = {
            let stop_instance = stop_instance.clone();
            tokio::spawn(async move {
                if shutdown.wait_for(|stop| *stop).await.is_ok() {
                    let _ = stop_instance.send(true);
                }
            })
        };

        let onchain_key = OnchainKey::from_bytes(&self.keys.onchain_secret()).context("onchain key")?;
        let setup = OracleSetup {
            config: public.clone(),
            me,
            offchain_key: Arc::new(OffchainKey::from_seed(self.keys.offchain_seed())),
            onchain_key: Arc::new(onchain_key),
            shared_secret: instance.shared_secret,
            plugin_limits,
        };
        let driver = Driver {
            setup,
            storage: self.storage.clone(),
            transport: sender,
            inbound,
            plugin: Box::new(plugin),
            plugin_name: instance.plugin_name.clone(),
            metrics,
            events: Some(driver_events),
        };
        healthy.store(true, Ordering::Relaxed);
        let result = driver.run(instance_shutdown).await;
        healthy.store(false, Ordering::Relaxed);
        forward_shutdown.abort();
        background.iter().for_each(tokio::task::JoinHandle::abort);
        drop(network);
        result?;
        tracing::info!(oracle = me, "instance stopped");
        let shutting_down = *global_shutdown.borrow();
        Ok(if config_changed.load(Ordering::Relaxed) && !shutting_down { Exit::NewConfig } else { Exit::Shutdown })
    }
}

/// Polls the contract's config; when its digest is no longer `running`,
/// flags it and stops the instance.
async fn watch_config(
    chain: Arc<dyn Chain>,
    settings: ChainSettings,
    running: ocr_plugin_sdk::ConfigDigest,
    changed: Arc<AtomicBool>,
    stop_instance: watch::Sender<bool>,
) {
    loop {
        tokio::time::sleep(settings.config_poll).await;
        match chain.latest_config(settings.contract).await {
            Ok(Some(contract)) if contract.digest() != running => {
                tracing::info!(
                    old = %hex::encode(running.0),
                    new = %hex::encode(contract.digest().0),
                    "the contract has a new config"
                );
                changed.store(true, Ordering::Relaxed);
                let _ = stop_instance.send(true);
                return;
            }
            Ok(_) => {}
            Err(error) => tracing::debug!(%error, "config poll failed"),
        }
    }
}
