//! Finding an instance's plugin and building its factory config: the
//! component is named by sha256, so any file in the plugin directory with
//! that hash is the plugin, and a file that changed is not.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use ocr_plugin_sdk::PluginConfig;
use sha2::{Digest, Sha256};

use crate::config::network::Instance;

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
