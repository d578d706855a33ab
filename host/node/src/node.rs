//! `ocr-node run`: one node wired together. Keys are decrypted, storage
//! and the plugin store opened, the metrics and admin servers and the QUIC
//! network started once, and then one protocol instance runs after another:
//! each from a config (the contract's when the node has a chain, else the
//! network config file's; the last one stored when neither answers, so a
//! restarted node resumes at once), with the plugin that config names by
//! sha256. A new config is noticed while an instance runs; the switch
//! happens at the instance boundary: the old instance finishes its in-flight
//! plugin calls and closes, then the new one starts. A config naming a
//! plugin the node lacks, or cannot run, is not run with other code: the
//! node waits (a clear error, `ocr_plugin_missing` = 1) and starts the
//! instance as soon as the plugin is added.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ocr_chain::{Chain, RpcChain, RpcOptions};
use ocr_core::messages::MessageLimits;
use ocr_core::onchain::OnchainKey;
use ocr_core::oracle::OracleSetup;
use ocr_core::signing::OffchainKey;
use ocr_core::wire;
use ocr_net::{NetMetrics, Network, PeerId};
use ocr_plugin_api::{Plugin, PluginCallError};
use ocr_plugin_sdk::{DataSources, PluginConfig};
use prometheus_client::registry::Registry;
use tokio::sync::{mpsc, watch};

use crate::config::network::Instance;
use crate::config::node::{ChainSettings, NodeConfig};
use crate::config_source::ConfigSource;
use crate::driver::{Driver, DriverEvent};
use crate::keys::NodeKeys;
use crate::metrics::{NodeMetrics, PluginAddLabels};
use crate::plugin_setup::plugin_config;
use crate::plugin_store::{DropDirectory, DropResult, PluginStore, PluginUsage, StoreError};
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
    /// Run every instance with this native plugin instead of the component
    /// the config names (the benchmark's baseline for the sandbox's cost).
    pub native_plugin: Option<NativePluginFactory>,
}

/// Makes a native plugin instance for an instance's plugin config.
pub type NativePluginFactory = Arc<
    dyn Fn(&PluginConfig, Arc<dyn DataSources + Send + Sync>) -> Result<Box<dyn Plugin + Send>, PluginCallError>
        + Send
        + Sync,
>;

/// How often the watched plugin directory is scanned.
const DROP_SCAN: Duration = Duration::from_secs(1);

/// Why an instance stopped.
enum Exit {
    Shutdown,
    NewConfig(Box<Instance>),
}

fn shared_secret(settings: &ChainSettings) -> Result<[u8; 16]> {
    let file = &settings.shared_secret_file;
    let text = std::fs::read_to_string(file).with_context(|| format!("chain.shared_secret_file {}", file.display()))?;
    let bytes = hex::decode(text.trim()).with_context(|| format!("{}: not hex", file.display()))?;
    bytes.try_into().map_err(|b: Vec<u8>| anyhow::anyhow!("{}: {} bytes, expected 16", file.display(), b.len()))
}

/// The node's chain and config source.
async fn connect(config: &NodeConfig, given: Option<Arc<dyn Chain>>) -> Result<(Option<Arc<dyn Chain>>, ConfigSource)> {
    let Some(settings) = &config.chain else {
        return Ok((None, ConfigSource::File(config.network_config.clone())));
    };
    let chain = match given {
        Some(chain) => chain,
        None if settings.rpc_url == crate::config::node::EMBEDDED_CHAIN => anyhow::bail!(
            "{}: chain.rpc_url = \"embedded\" runs only where the process provides the chain (the demo)",
            config.file.display()
        ),
        None => Arc::new(
            RpcChain::connect(&settings.rpc_url, RpcOptions::default())
                .await
                .with_context(|| format!("chain.rpc_url {}", settings.rpc_url))?,
        ),
    };
    let source =
        ConfigSource::Chain { chain: chain.clone(), settings: settings.clone(), secret: shared_secret(settings)? };
    Ok((Some(chain), source))
}

/// Counts and logs what a scan of the watched plugin directory did.
fn report_drops(results: Vec<DropResult>, metrics: &NodeMetrics) {
    for found in results {
        let file = found.file.display().to_string();
        let result = match &found.result {
            Ok(report) if report.added => {
                tracing::info!(%file, sha256 = %report.sha256, compile = report.compile, ready_ms = report.ready_ms, "plugin added from the watched directory");
                "added"
            }
            Ok(_) => "present",
            Err(error) => {
                tracing::error!(%file, %error, "plugin in the watched directory refused");
                "refused"
            }
        };
        metrics.plugin_adds.get_or_create(&PluginAddLabels { result }).inc();
    }
}

/// Scans the watched plugin directory until the task is aborted.
fn watch_drop_directory(
    store: Arc<PluginStore>,
    mut drops: DropDirectory,
    metrics: NodeMetrics,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(DROP_SCAN).await;
            let store = store.clone();
            let scan = tokio::task::spawn_blocking(move || {
                let results = drops.scan(&store);
                (drops, results)
            });
            let Ok((scanned, results)) = scan.await else { return };
            drops = scanned;
            report_drops(results, &metrics);
        }
    })
}

/// Runs the node described by `config` until `shutdown` turns true.
pub async fn run(config: NodeConfig, options: RunOptions, mut shutdown: watch::Receiver<bool>) -> Result<()> {
    let password = config.password.read()?;
    let keys = NodeKeys::load(&config.keys_dir, &password)?;
    std::fs::create_dir_all(&config.data_dir).with_context(|| format!("data_dir {}", config.data_dir.display()))?;
    let storage = Arc::new(SledStorage::open_with(&config.data_dir.join("state"), config.storage_durability)?);
    let store = Arc::new(
        PluginStore::open(&config.data_dir, Some(config.plugin_dir.clone()))
            .with_context(|| format!("the plugin store in {}", config.data_dir.display()))?,
    );
    let (chain, source) = connect(&config, options.chain).await?;

    let mut registry = Registry::default();
    let metrics = NodeMetrics::default();
    metrics.register(&mut registry);
    let net_metrics = NetMetrics::default();
    net_metrics.register(&mut registry);
    let healthy = Arc::new(AtomicBool::new(false));
    let mut servers = Vec::new();
    if let Some(address) = config.metrics_listen {
        let server = crate::metrics::serve(address, Arc::new(registry), healthy.clone());
        servers.push(server.await.with_context(|| format!("metrics_listen {address}"))?);
    }
    if let (Some(address), Some(token_file)) = (config.admin_listen, &config.admin_token_file) {
        let token = crate::admin::read_token(token_file)?;
        let server = crate::admin::serve(address, &token, store.clone());
        servers.push(server.await.with_context(|| format!("admin_listen {address}"))?);
    }
    // What is in the watched directory now is in the store before the
    // first instance looks for its plugin.
    let mut drops = DropDirectory::new(config.plugin_dir.clone());
    let initial = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || {
            let results = drops.scan(&store);
            (drops, results)
        })
    };
    let (drops, results) = initial.await?;
    report_drops(results, &metrics);
    servers.push(watch_drop_directory(store.clone(), drops, metrics.clone()));
    let sources: Arc<dyn DataSources + Send + Sync> = Arc::new(NodeSources::start(&config.sources)?);

    let mut node = Node {
        config: &config,
        keys: &keys,
        storage,
        store,
        chain,
        source,
        sources,
        metrics,
        net_metrics,
        healthy,
        network: None,
        events: options.events,
        native_plugin: options.native_plugin,
    };
    let result = node.run(&mut shutdown).await;
    servers.iter().for_each(tokio::task::JoinHandle::abort);
    result
}

struct Node<'a> {
    config: &'a NodeConfig,
    keys: &'a NodeKeys,
    storage: Arc<SledStorage>,
    store: Arc<PluginStore>,
    chain: Option<Arc<dyn Chain>>,
    source: ConfigSource,
    sources: Arc<dyn DataSources + Send + Sync>,
    metrics: NodeMetrics,
    net_metrics: NetMetrics,
    healthy: Arc<AtomicBool>,
    /// Kept from one instance to the next while the peers are the same, so
    /// a switch does not wait for reconnections.
    network: Option<(Vec<(PeerId, SocketAddr)>, Network)>,
    events: Option<mpsc::Sender<DriverEvent>>,
    native_plugin: Option<NativePluginFactory>,
}

/// Releases an instance's hold on its plugin when the instance ends.
struct PluginHold {
    store: Arc<PluginStore>,
    sha256: String,
    instance: String,
}

impl Drop for PluginHold {
    fn drop(&mut self) {
        self.store.release(&self.sha256, &self.instance);
    }
}

impl Node<'_> {
    async fn run(&mut self, shutdown: &mut watch::Receiver<bool>) -> Result<()> {
        let Some(mut instance) = self.source.initial(&self.storage, shutdown).await? else { return Ok(()) };
        loop {
            match self.instance(instance, shutdown.clone()).await? {
                Exit::Shutdown => return Ok(()),
                Exit::NewConfig(next) => instance = *next,
            }
        }
    }

    /// The peers of `instance` with their addresses.
    fn peers(&self, instance: &Instance, me: u8) -> Result<Vec<(PeerId, SocketAddr)>> {
        let mut peers = Vec::new();
        for (i, oracle) in instance.public.oracles.iter().enumerate() {
            if i == usize::from(me) {
                continue;
            }
            let address = self.config.peers.get(&oracle.peer_id).with_context(|| {
                format!(
                    "{}: peers has no address for oracle {i} (peer id {})",
                    self.config.file.display(),
                    hex::encode(oracle.peer_id)
                )
            })?;
            peers.push((PeerId(oracle.peer_id), *address));
        }
        Ok(peers)
    }

    /// The network for `peers`: the running one when they are the same.
    async fn network(&mut self, peers: Vec<(PeerId, SocketAddr)>) -> Result<&Network> {
        if self.network.as_ref().is_some_and(|(running, _)| *running != peers) {
            // The endpoint releases its port once its driver task ends.
            self.network = None;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if self.network.is_none() {
            let config = ocr_net::NetworkConfig::new(self.config.listen, self.keys.peer_seed(), peers.clone());
            self.network = Some((peers, Network::start(config, self.net_metrics.clone())?));
        }
        self.network.as_ref().map(|(_, network)| network).context("network")
    }

    /// Runs one protocol instance until shutdown or a new config.
    async fn instance(&mut self, instance: Instance, mut shutdown: watch::Receiver<bool>) -> Result<Exit> {
        let begun = Instant::now();
        let public_keys = self.keys.public();
        let public = Arc::new(instance.public.clone());
        let digest = public.config_digest;
        let digest_hex = hex::encode(digest.0);
        let sha256 = hex::encode(instance.plugin_sha256);

        // A new config can arrive at any point from here on.
        let (next_config_tx, mut next_config) = tokio::sync::oneshot::channel();
        let (stop_instance, instance_shutdown) = watch::channel(false);
        let watcher = {
            let (source, storage, stop_instance) = (self.source.clone(), self.storage.clone(), stop_instance.clone());
            tokio::spawn(async move {
                let next = source.next_change(digest, &storage).await;
                let _ = next_config_tx.send(next);
                let _ = stop_instance.send(true);
            })
        };
        let _watcher = AbortOnDrop(watcher);

        let me = public
            .oracles
            .iter()
            .position(|o| o.peer_id == public_keys.peer_id && o.offchain_public_key == public_keys.offchain_public_key)
            .and_then(|me| u8::try_from(me).ok());
        let Some(me) = me else {
            tracing::error!(instance = %digest_hex, "this node's peer id and offchain key are not an oracle of the config; waiting for another config");
            return Ok(wait(&mut next_config, &mut shutdown, None).await.unwrap_or(Exit::Shutdown));
        };
        tracing::info!(oracle = me, instance = %digest_hex, plugin = %instance.plugin_name, n = public.n(), f = public.f, "starting");

        let factory_config = plugin_config(&instance, me)?;
        self.store.want(&sha256, &digest_hex, factory_config.clone());
        let _hold = PluginHold { store: self.store.clone(), sha256: sha256.clone(), instance: digest_hex.clone() };
        let mut changes = self.store.changes();
        let (plugin, usage): (Box<dyn Plugin + Send>, Option<Arc<PluginUsage>>) = loop {
            if let Some(native) = &self.native_plugin {
                let (native, config, sources) = (native.clone(), factory_config.clone(), self.sources.clone());
                match tokio::task::spawn_blocking(move || native(&config, sources)).await? {
                    Ok(plugin) => break (plugin, None),
                    Err(error) => anyhow::bail!("the native plugin's factory refused the network config: {error}"),
                }
            }
            // Loading may compile (a cache miss) and the factory is guest
            // code: neither runs on the runtime's threads.
            let checkout = {
                let (store, sha256, digest_hex) = (self.store.clone(), sha256.clone(), digest_hex.clone());
                let (config, sources) = (factory_config.clone(), self.sources.clone());
                tokio::task::spawn_blocking(move || {
                    let (loaded, usage) = store.checkout(&sha256, &digest_hex)?;
                    let plugin = loaded.instantiate(&config, sources);
                    Ok::<_, StoreError>((plugin, usage))
                })
                .await?
            };
            let failure = match checkout {
                Ok((Ok(plugin), usage)) => break (Box::new(plugin), Some(usage)),
                Ok((Err(error), _)) => format!("the plugin's factory refused the network config: {error}"),
                Err(StoreError::NotFound(_)) => format!(
                    "the config names plugin {} (sha256 {sha256}), which this node does not have; add it with `ocr-node plugin add` or drop it into {}",
                    instance.plugin_name,
                    self.config.plugin_dir.display()
                ),
                Err(error) => format!("plugin {sha256} cannot be loaded: {error}"),
            };
            tracing::error!(oracle = me, instance = %digest_hex, plugin = %instance.plugin_name, %sha256, error = %failure, "not running this instance until its plugin is available");
            self.metrics.plugin_missing.set(1);
            if let Some(exit) = wait(&mut next_config, &mut shutdown, Some(&mut changes)).await {
                return Ok(exit);
            }
        };
        self.metrics.plugin_missing.set(0);
        let plugin_limits = plugin.info().limits;
        self.store.running(&sha256, &plugin.info().name, &factory_config);

        let peers = self.peers(&instance, me)?;
        let limits = MessageLimits::new(&public, &plugin_limits);
        let rates = wire::rate_limits(&public, &limits);
        let oracles: Vec<PeerId> = public.oracles.iter().map(|o| PeerId(o.peer_id)).collect();
        let sender = self.network(peers).await?.open_instance(digest.0, &oracles, me, limits, rates)?;
        let inbound = sender.inbound();

        // With a chain, a transmitter fed from the driver's events.
        let mut background = Vec::new();
        let (driver_events, mut routed) = mpsc::channel::<DriverEvent>(1024);
        let transmissions = match (&self.chain, &self.config.chain) {
            (Some(chain), Some(settings)) => {
                let (queue, reports) = mpsc::channel(transmitter::QUEUE);
                let transmitter = Transmitter {
                    chain: chain.clone(),
                    contract: settings.contract,
                    signer: ocr_chain::signer_from_bytes(&self.keys.transmitter_secret())?,
                    config_digest: digest,
                    f: public.f,
                    metrics: self.metrics.clone(),
                };
                background.push(AbortOnDrop(tokio::spawn(transmitter.run(reports))));
                Some(queue)
            }
            _ => None,
        };
        let router_metrics = self.metrics.clone();
        let events = self.events.clone();
        background.push(AbortOnDrop(tokio::spawn(async move {
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
        })));
        background.push(AbortOnDrop(tokio::spawn({
            let mut shutdown = shutdown.clone();
            async move {
                if shutdown.wait_for(|stop| *stop).await.is_ok() {
                    let _ = stop_instance.send(true);
                }
            }
        })));

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
            plugin,
            plugin_name: instance.plugin_name.clone(),
            metrics: self.metrics.clone(),
            events: Some(driver_events),
            usage,
        };
        self.metrics.instances_started.inc();
        tracing::info!(oracle = me, instance = %digest_hex, plugin = %instance.plugin_name, start_ms = begun.elapsed().as_secs_f64() * 1e3, "instance running");
        self.healthy.store(true, Ordering::Relaxed);
        let result = driver.run(instance_shutdown).await;
        self.healthy.store(false, Ordering::Relaxed);
        // Reports still queued for the chain go with the instance: after a
        // config change the contract refuses the old digest anyway.
        drop(background);
        let committed_seq_nr = result?;
        tracing::info!(oracle = me, instance = %digest_hex, committed_seq_nr, "instance stopped");
        if *shutdown.borrow() {
            return Ok(Exit::Shutdown);
        }
        Ok(match next_config.try_recv() {
            Ok(next) => Exit::NewConfig(Box::new(next)),
            Err(_) => Exit::Shutdown,
        })
    }
}

/// Waits for a new config, shutdown, or (with `changes`) a change of the
/// plugin store; `None` for the store change, so the caller tries again.
async fn wait(
    next_config: &mut tokio::sync::oneshot::Receiver<Instance>,
    shutdown: &mut watch::Receiver<bool>,
    changes: Option<&mut watch::Receiver<u64>>,
) -> Option<Exit> {
    let store_changed = async {
        match changes {
            Some(changes) => changes.changed().await.is_ok(),
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        changed = store_changed => (!changed).then_some(Exit::Shutdown),
        next = next_config => Some(next.map_or(Exit::Shutdown, |next| Exit::NewConfig(Box::new(next)))),
        _ = shutdown.wait_for(|stop| *stop) => Some(Exit::Shutdown),
    }
}

/// A task that ends when its handle is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
