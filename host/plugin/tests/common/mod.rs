//! Helpers shared by the host's integration tests: where `cargo xtask
//! plugins` put the components, and engines and configs for tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ocr_plugin_host::{EngineOptions, LoadedPlugin, PluginEngine, SandboxLimits};
use ocr_plugin_sdk::{ConfigDigest, PluginConfig};

/// `<target>/plugins`, derived from this test binary's path
/// (`<target>/release/deps/<test>`).
pub fn plugins_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let target = exe.ancestors().nth(3).expect("target directory").to_path_buf();
    target.join("plugins")
}

/// The bytes of a built plugin; fails with a hint when it was not built.
pub fn plugin_bytes(relative: &str) -> Vec<u8> {
    let path = plugins_dir().join(relative);
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; build the plugins first with `cargo xtask plugins`", path.display()))
}

/// Limits with small fuel budgets, so runaway tests end quickly.
pub fn fast_limits() -> SandboxLimits {
    SandboxLimits {
        fuel_outcome: 200_000_000,
        fuel_reports: 200_000_000,
        fuel_validate_observation: 50_000_000,
        fuel_observation_quorum: 50_000_000,
        max_memory_bytes: 32 << 20,
        ..SandboxLimits::default()
    }
}

pub fn engine_with(limits: SandboxLimits) -> PluginEngine {
    PluginEngine::new(EngineOptions { limits, ..EngineOptions::default() }).expect("engine")
}

pub fn engine() -> PluginEngine {
    engine_with(SandboxLimits::default())
}

pub fn load(engine: &PluginEngine, relative: &str) -> Arc<LoadedPlugin> {
    engine.load(&plugin_bytes(relative)).expect("load plugin")
}

pub fn config(n: u8, f: u8, oracle_id: u8, offchain: &[u8]) -> PluginConfig {
    let mut config = PluginConfig::for_tests(n, f, offchain.to_vec());
    config.oracle_id = oracle_id;
    config.config_digest = ConfigDigest([7; 32]);
    config.max_duration_query = Duration::from_millis(200);
    config.max_duration_observation = Duration::from_millis(200);
    config.max_duration_should_accept_attested_report = Duration::from_millis(200);
    config.max_duration_should_transmit_accepted_report = Duration::from_millis(200);
    config
}
