//! Where a node's network config comes from, and how a new one is noticed:
//! the network config file (chainless mode) or the contract. The first
//! config falls back to the last one stored when the source cannot answer,
//! so a restarted node resumes at once. Both sources are polled; a config
//! with a new digest is a new protocol instance, and a config that cannot be
//! used is a clear error in the log while the running instance goes on.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use ocr_chain::Chain;
use ocr_plugin_sdk::ConfigDigest;
use tokio::sync::watch;

use crate::config::network::{Instance, NetworkConfig};
use crate::config::node::ChainSettings;
use crate::storage::SledStorage;

/// How often the network config file is looked at for a new config: a
/// read and a compare, cheap enough to keep the nodes' switches close.
pub const FILE_POLL: Duration = Duration::from_millis(250);

/// A node's config source.
#[derive(Clone)]
pub enum ConfigSource {
    /// The network config file.
    File(PathBuf),
    /// The aggregator contract.
    Chain {
        /// The chain.
        chain: Arc<dyn Chain>,
        /// Which contract, how often to poll.
        settings: ChainSettings,
        /// The shared secret (the contract only has its hash).
        secret: [u8; 16],
    },
}

fn stored_config(storage: &SledStorage) -> Option<Instance> {
    let last = storage.last_config().ok()??;
    let text = String::from_utf8(last).ok()?;
    let instance = NetworkConfig::parse(Path::new("(stored config)"), &text).ok()?;
    tracing::warn!(instance = %hex::encode(instance.public.config_digest.0), "resuming with the last stored config");
    Some(instance)
}

fn from_contract(contract: &ocr_core::ContractConfig, secret: &[u8; 16]) -> Result<Instance> {
    NetworkConfig::instance_from_contract(contract, secret)
        .map_err(|(field, what)| anyhow::anyhow!("the contract's config: {field}: {what}"))
}

impl ConfigSource {
    /// The config to start with, waiting for the contract to have one; the
    /// last stored config when the source cannot be used. `None` on
    /// shutdown.
    pub async fn initial(
        &self,
        storage: &SledStorage,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Option<Instance>> {
        match self {
            ConfigSource::File(path) => match NetworkConfig::load(path) {
                Ok(instance) => {
                    storage.save_last_config(instance.source_text.as_bytes())?;
                    Ok(Some(instance))
                }
                Err(error) => stored_config(storage).ok_or(error).map(Some).map_err(|error| {
                    anyhow::Error::from(error).context("no usable network config file and none stored")
                }),
            },
            ConfigSource::Chain { chain, settings, secret } => {
                let mut warned = false;
                loop {
                    match chain.latest_config(settings.contract).await {
                        Ok(Some(contract)) => {
                            let instance = from_contract(&contract, secret)?;
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
        }
    }

    /// Waits for a usable config whose digest is not `running`, stores it as
    /// the last config and returns it.
    pub async fn next_change(&self, running: ConfigDigest, storage: &SledStorage) -> Instance {
        let mut last_text = None;
        loop {
            let (poll, found) = match self {
                ConfigSource::File(path) => (FILE_POLL, poll_file(path, &mut last_text)),
                ConfigSource::Chain { chain, settings, secret } => {
                    let found = match chain.latest_config(settings.contract).await {
                        Ok(Some(contract)) if contract.digest() != running => match from_contract(&contract, secret) {
                            Ok(instance) => Some(instance),
                            Err(error) => {
                                tracing::error!(error = format!("{error:#}"), "the contract's new config is unusable");
                                None
                            }
                        },
                        Ok(_) => None,
                        Err(error) => {
                            tracing::debug!(%error, "config poll failed");
                            None
                        }
                    };
                    (settings.config_poll, found)
                }
            };
            if let Some(instance) = found.filter(|i| i.public.config_digest != running) {
                tracing::info!(
                    old = %hex::encode(running.0),
                    new = %hex::encode(instance.public.config_digest.0),
                    plugin = %instance.plugin_name,
                    "a new network config"
                );
                if let Err(error) = storage.save_last_config(instance.source_text.as_bytes()) {
                    tracing::error!(%error, "cannot store the new config");
                }
                return instance;
            }
            tokio::time::sleep(poll).await;
        }
    }
}

/// The file's config when its text changed since `last_text` and parses;
/// a broken file is reported once per version of it.
fn poll_file(path: &Path, last_text: &mut Option<String>) -> Option<Instance> {
    let text = std::fs::read_to_string(path).ok()?;
    if last_text.as_ref() == Some(&text) {
        return None;
    }
    let parsed = NetworkConfig::parse(path, &text);
    *last_text = Some(text);
    match parsed {
        Ok(instance) => Some(instance),
        Err(error) => {
            tracing::error!(%error, "the network config file changed but cannot be used; the running instance goes on");
            None
        }
    }
}
