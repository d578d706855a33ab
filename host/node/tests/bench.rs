#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The benchmark commands work as their figures claim: `ocr-node bench`
//! brings a cluster to commit, with the wasm plugin, its
//! native build, and links delayed in user space (where no round can beat
//! the five message delays it needs, so a shorter interval would mean the
//! relays were not in the path); `bench-chain` gets every report included.
//! They check what is measured, never how fast: timing belongs to the
//! benchmarks themselves.

mod common;

use std::time::Duration;

use ocr_node::bench::{BenchOptions, MESSAGE_DELAYS_PER_ROUND, run};
use ocr_node::bench_chain::{self, ChainBenchOptions};
use ocr_node::storage::Durability;

fn options(native: bool, link_delay: Duration) -> BenchOptions {
    BenchOptions {
        nodes: 4,
        duration: Duration::from_secs(2),
        plugin: common::median_plugin(),
        native,
        link_delay,
        durability: Durability::Process,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_commits_with_the_wasm_plugin_and_with_its_native_build() {
    for native in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let report = run(&options(native, Duration::ZERO), dir.path()).await.unwrap();
        assert_eq!(report.plugin, if native { "native" } else { "wasm" });
        assert!(report.outcomes > 0, "{report:?}");
        // A quorum at least (a node that connected late may sit out the
        // first epoch).
        assert!(report.nodes_committing >= 3, "{report:?}");
        // Every round reports (deviation 0); the last rounds' attestation
        // may still be in flight when the window closes.
        assert!(report.attested_reports * 2 >= report.outcomes, "every round reports: {report:?}");
        assert!(report.cpu_ms_per_node_round > 0.0);
        assert!(report.host_ed25519_verify_us > 0.0 && report.host_ed25519_verify_us < 10_000.0);
        assert_eq!(report.round_interval_over_lower_bound, None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_links_put_rounds_above_the_lower_bound() {
    let delay = Duration::from_millis(20);
    let dir = tempfile::tempdir().unwrap();
    let report = run(&options(false, delay), dir.path()).await.unwrap();
    let bound = 20.0 * f64::from(MESSAGE_DELAYS_PER_ROUND);
    assert_eq!(report.round_lower_bound_ms, bound);
    assert!(report.outcomes > 0, "{report:?}");
    assert!(report.round_interval_ms >= bound, "a round beat five message delays: {report:?}");
    assert!(report.round_interval_over_lower_bound.unwrap() >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_path_includes_every_report() {
    let options = ChainBenchOptions { nodes: 7, reports: 20, rpc: None };
    let report = bench_chain::run(&options).await.unwrap();
    assert_eq!((report.backend, report.reports), ("embedded", 20));
    assert!(report.reports_per_sec > 0.0);
    // f + 1 = 3 signatures checked onchain: more gas than the bare call.
    assert!(report.gas_per_report > 50_000.0, "{report:?}");
}
