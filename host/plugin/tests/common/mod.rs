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

/// The newest modification time of the files under `dir`.
fn newest_source(dir: &std::path::Path) -> Option<std::time::SystemTime> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let time = if path.is_dir() { newest_source(&path) } else { entry.metadata().ok()?.modified().ok() };
        newest = newest.max(time);
    }
    newest
}

/// The bytes of a built plugin; fails with a hint when it was not built, or
/// was built before its sources (or the SDK's, or the WIT) last changed.
pub fn plugin_bytes(relative: &str) -> Vec<u8> {
    let path = plugins_dir().join(relative);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let name = relative.trim_start_matches("fixtures/").trim_end_matches(".wasm");
    let crate_dir = if relative.starts_with("fixtures/") {
        root.join("host/plugin/fixtures").join(name)
    } else {
        root.join("plugins").join(name)
    };
    let sources = [crate_dir, root.join("sdk"), root.join("wit")].iter().filter_map(|d| newest_source(d)).max();
    if let (Some(sources), Ok(built)) = (sources, std::fs::metadata(&path).and_then(|m| m.modified())) {
        assert!(built >= sources, "{} is older than its sources; rebuild with `cargo xtask plugins`", path.display());
    }
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
