//! Determinism: identical inputs give byte-identical outcomes and reports on
//! fresh instances and on separately built engines, and a plugin that reads
//! clocks or randomness in a deterministic method sees the same values on
//! every node, while local methods see the real world.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use median::MedianObservation;
use ocr_plugin_api::Plugin;
use ocr_plugin_host::{EngineOptions, PluginEngine};
use ocr_plugin_sdk::{AttributedObservation, OutcomeContext, StaticDataSources};

const MEDIAN_CONFIG: &[u8] =
    br#"{"version":1,"value_source":"price","deviation_threshold_ppb":1000000,"heartbeat_seconds":30}"#;

fn observations(seed: u64) -> Vec<AttributedObservation> {
    (0..31u8)
        .map(|o| AttributedObservation {
            observer: o,
            observation: MedianObservation {
                timestamp: 1_700_000_000 + (seed as u32 % 97) + u32::from(o),
                value: 1_000_000 + ((seed as i128 * 7919 + i128::from(o) * 104_729) % 50_000),
                juels_per_fee_coin: 10 + i128::from(o),
            }
            .encode(),
        })
        .collect()
}

#[test]
fn outcomes_and_reports_are_identical_across_instances_and_engines() {
    let pooled = PluginEngine::new(EngineOptions { pooling_instances: Some(8), ..EngineOptions::default() }).unwrap();
    let engines = [common::engine(), pooled];
    let plugins: Vec<_> = engines.iter().map(|e| common::load(e, "median.wasm")).collect();
    let mut previous = Vec::new();
    for seq_nr in 1..=10u64 {
        let ctx = OutcomeContext { seq_nr, previous_outcome: previous.clone(), epoch: seq_nr, round: 1 };
        let aos = observations(seq_nr);
        let mut results = Vec::new();
        // Two engines x oracles 0..3, each a fresh instance.
        for plugin in &plugins {
            for oracle in 0..3u8 {
                let mut p = plugin
                    .instantiate(&common::config(31, 10, oracle, MEDIAN_CONFIG), Arc::new(StaticDataSources::new()))
                    .unwrap();
                let outcome = p.outcome(&ctx, &[], &aos).unwrap();
                let reports = p.reports(seq_nr, &outcome).unwrap();
                results.push((outcome, reports));
            }
        }
        assert!(results.windows(2).all(|w| w[0] == w[1]), "seq_nr {seq_nr}: results diverge");
        previous = results[0].0.clone();
    }
}

#[test]
fn clocks_and_randomness_are_identical_in_outcome_on_every_node() {
    let run = |engine: &PluginEngine, oracle: u8, seq_nr: u64| {
        let plugin = common::load(engine, "fixtures/hostile.wasm");
        let mut p = plugin.instantiate(&common::config(4, 1, oracle, b""), Arc::new(StaticDataSources::new())).unwrap();
        let ctx = OutcomeContext { seq_nr, ..Default::default() };
        let aos = [AttributedObservation { observer: 0, observation: vec![] }];
        String::from_utf8(p.outcome(&ctx, b"clock-random", &aos).unwrap()).unwrap()
    };
    let (a, b) = (common::engine(), common::engine());
    let node0 = run(&a, 0, 5);
    let node3 = run(&b, 3, 5);
    assert_eq!(node0, node3, "two nodes saw different clocks or randomness in outcome");
    assert!(node0.starts_with("wall=0 "), "the wall clock is frozen at zero: {node0}");
    // Calling again (the round retried) gives the same values too.
    assert_eq!(run(&a, 1, 5), node0);

    // In observation the same plugin sees the real clock and real randomness.
    let plugin = common::load(&a, "fixtures/hostile.wasm");
    let mut p = plugin.instantiate(&common::config(4, 1, 0, b""), Arc::new(StaticDataSources::new())).unwrap();
    let first = String::from_utf8(p.observation(&OutcomeContext::default(), b"clock-random").unwrap()).unwrap();
    assert!(!first.starts_with("wall=0 "), "observation should see the real clock: {first}");
    let second = String::from_utf8(p.observation(&OutcomeContext::default(), b"clock-random").unwrap()).unwrap();
    let random = |s: &str| s.split("random=").nth(1).and_then(|r| r.split(" order=").next()).unwrap().to_owned();
    assert_ne!(random(&first), random(&second), "observation should see real randomness");
    // In outcome, a different seq-nr gives different (but agreed) randomness.
    assert_ne!(random(&run(&a, 0, 6)), random(&node0));
}

#[test]
fn fuel_use_is_identical_on_every_run() {
    let engine = common::engine();
    let plugin = common::load(&engine, "median.wasm");
    let ctx = OutcomeContext { seq_nr: 1, ..Default::default() };
    let aos = observations(3);
    let fuel: Vec<u64> = (0..3)
        .map(|_| {
            let mut p = plugin
                .instantiate(&common::config(31, 10, 0, MEDIAN_CONFIG), Arc::new(StaticDataSources::new()))
                .unwrap();
            p.outcome(&ctx, &[], &aos).unwrap();
            p.inner_mut().stats().last_fuel_used
        })
        .collect();
    assert!(fuel[0] > 0);
    assert!(fuel.windows(2).all(|w| w[0] == w[1]), "{fuel:?}");
}
