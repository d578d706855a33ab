//! The median plugin as a wasm component through the host: every method, the
//! deviation and heartbeat decisions, report bytes decoded with alloy, and a
//! bad config; and the same results natively.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use alloy_primitives::aliases::I192;
use alloy_sol_types::{SolType, sol_data};
use median::{Decision, MedianConfig, MedianObservation, MedianOutcome, MedianPlugin};
use ocr_plugin_api::{NativePlugin, Plugin, PluginCallError};
use ocr_plugin_sdk::{AttributedObservation, OutcomeContext, PluginError, ReportWithInfo, StaticDataSources};

fn median_config(deviation_ppb: u64, heartbeat: u32) -> Vec<u8> {
    MedianConfig {
        version: 1,
        value_source: "price".into(),
        juels_per_fee_coin_source: Some("juels".into()),
        deviation_threshold_ppb: deviation_ppb,
        heartbeat_seconds: heartbeat,
    }
    .to_json()
    .into_bytes()
}

fn sources(price: i128) -> Arc<StaticDataSources> {
    Arc::new(StaticDataSources::new().with("price", price).with("juels", 5_000_000_000_000_000i128))
}

fn obs(observer: u8, timestamp: u32, value: i128) -> AttributedObservation {
    AttributedObservation {
        observer,
        observation: MedianObservation { timestamp, value, juels_per_fee_coin: 1000 + i128::from(observer) }.encode(),
    }
}

type Report = (sol_data::Uint<32>, sol_data::FixedBytes<32>, sol_data::Array<sol_data::Int<192>>, sol_data::Int<192>);

/// Runs `seq_nr` with these observations and returns (outcome, reports).
fn round(
    plugin: &mut dyn Plugin,
    seq_nr: u64,
    previous: &[u8],
    aos: &[AttributedObservation],
) -> (Vec<u8>, Vec<ocr_plugin_sdk::ReportPlus>) {
    let ctx = OutcomeContext { seq_nr, previous_outcome: previous.to_vec(), epoch: 1, round: seq_nr };
    assert_eq!(plugin.query(&ctx).unwrap(), Vec::<u8>::new());
    for ao in aos {
        plugin.validate_observation(&ctx, &[], ao).unwrap();
    }
    assert!(plugin.observation_quorum(&ctx, &[], aos).unwrap());
    let outcome = plugin.outcome(&ctx, &[], aos).unwrap();
    let reports = plugin.reports(seq_nr, &outcome).unwrap();
    (outcome, reports)
}

#[test]
fn every_method_through_the_host_with_deviation_and_heartbeat() {
    let engine = common::engine();
    let median = common::load(&engine, "median.wasm");
    let mut plugin =
        median.instantiate(&common::config(4, 1, 0, &median_config(10_000_000, 60)), sources(3000)).unwrap();
    assert_eq!(plugin.info().name, "median");
    assert_eq!(plugin.info().limits.max_observation_length, 37);
    assert_eq!(plugin.info().limits.max_report_count, 1);

    // observation reads the data sources and the real clock.
    let own = plugin.observation(&OutcomeContext { seq_nr: 1, ..Default::default() }, &[]).unwrap();
    let decoded = MedianObservation::decode(&own).unwrap();
    assert_eq!((decoded.value, decoded.juels_per_fee_coin), (3000, 5_000_000_000_000_000));
    assert!(decoded.timestamp > 1_700_000_000, "observation carries the wall clock");

    // Round 1 reports (first round). Observations arrive out of order.
    let first = [obs(3, 100, 1010), obs(0, 100, 1000), obs(1, 101, 990)];
    let (outcome1, reports1) = round(&mut plugin, 1, &[], &first);
    assert_eq!(MedianOutcome::decode(&outcome1).unwrap().decision, Decision::FirstRound);
    assert_eq!(reports1.len(), 1);
    let (ts, observers, values, juels) = Report::abi_decode_params(&reports1[0].report).unwrap();
    assert_eq!(ts, 100);
    assert_eq!(&observers[..3], &[1, 0, 3]);
    assert_eq!(
        values,
        vec![I192::try_from(990).unwrap(), I192::try_from(1000).unwrap(), I192::try_from(1010).unwrap()]
    );
    assert_eq!(juels, I192::try_from(1001).unwrap(), "median juels");

    // Round 2: 0.5% move, below the 1% threshold, within the heartbeat: no report.
    let (outcome2, reports2) =
        round(&mut plugin, 2, &outcome1, &[obs(0, 130, 1005), obs(1, 130, 1005), obs(2, 130, 1004)]);
    assert_eq!(MedianOutcome::decode(&outcome2).unwrap().decision, Decision::Skip);
    assert!(reports2.is_empty());
    assert_eq!(
        MedianOutcome::decode(&outcome2).unwrap().last_report.unwrap().seq_nr,
        1,
        "the last report carries forward"
    );

    // Round 3: 1% move from the last *reported* 1000: deviation.
    let (outcome3, reports3) =
        round(&mut plugin, 3, &outcome2, &[obs(0, 140, 1010), obs(1, 140, 1010), obs(2, 140, 1011)]);
    assert_eq!(MedianOutcome::decode(&outcome3).unwrap().decision, Decision::Deviation);
    assert_eq!(reports3.len(), 1);

    // Round 4: no move, but 60 s after the last report's timestamp: heartbeat.
    let (outcome4, reports4) =
        round(&mut plugin, 4, &outcome3, &[obs(0, 200, 1010), obs(1, 200, 1010), obs(2, 199, 1010)]);
    assert_eq!(MedianOutcome::decode(&outcome4).unwrap().decision, Decision::Heartbeat);
    assert_eq!(reports4.len(), 1);

    // Transmission decisions: accept newer reports only; do not transmit superseded ones.
    let report = ReportWithInfo { report: reports4[0].report.clone(), info: vec![] };
    assert!(plugin.should_accept_attested_report(4, &report).unwrap());
    assert!(!plugin.should_accept_attested_report(3, &report).unwrap());
    assert!(!plugin.should_transmit_accepted_report(3, &report).unwrap());
    assert!(plugin.should_transmit_accepted_report(4, &report).unwrap());
    plugin.close().unwrap();
    plugin.close().unwrap();
    assert!(matches!(plugin.query(&OutcomeContext::default()), Err(PluginCallError::Closed { .. })));
}

#[test]
fn invalid_observations_are_rejected_and_quorum_is_two_f_plus_one() {
    let engine = common::engine();
    let median = common::load(&engine, "median.wasm");
    let mut config = common::config(4, 1, 0, &median_config(0, 60));
    config.onchain_config = median::AnswerBounds { min: 0, max: 1_000_000 }.encode();
    let mut plugin = median.instantiate(&config, sources(1)).unwrap();
    let ctx = OutcomeContext { seq_nr: 1, ..Default::default() };
    let reject = |p: &mut dyn Plugin, ao: AttributedObservation| match p.validate_observation(&ctx, &[], &ao) {
        Err(PluginCallError::Guest { error: PluginError::InvalidInput(m), .. }) => m,
        other => panic!("expected an invalid-input error, got {other:?}"),
    };
    assert!(reject(&mut plugin, AttributedObservation { observer: 0, observation: vec![1; 10] }).contains("10 bytes"));
    // A faulty leader's query is refused.
    match plugin.validate_observation(&ctx, b"q", &obs(0, 100, 5)) {
        Err(PluginCallError::Guest { error: PluginError::InvalidInput(m), .. }) => assert!(m.contains("no query")),
        other => panic!("expected a refused query, got {other:?}"),
    }
    assert!(reject(&mut plugin, obs(9, 100, 5)).contains("observer 9"));
    assert!(reject(&mut plugin, obs(0, 0, 5)).contains("timestamp"));
    assert!(!plugin.observation_quorum(&ctx, &[], &[obs(0, 1, 1), obs(1, 1, 1)]).unwrap());
    // Duplicate observers do not count twice.
    assert!(!plugin.observation_quorum(&ctx, &[], &[obs(0, 1, 1), obs(1, 1, 1), obs(1, 1, 1)]).unwrap());
    assert!(plugin.observation_quorum(&ctx, &[], &[obs(0, 1, 1), obs(1, 1, 1), obs(2, 1, 1)]).unwrap());

    // Values beyond the onchain answer bounds stay valid observations (so
    // outcome generation goes on), but a median out of bounds is not reported.
    let high = [obs(0, 100, 2_000_000), obs(1, 100, 2_000_001), obs(2, 100, 5)];
    plugin.validate_observation(&ctx, &[], &high[0]).unwrap();
    let (outcome, reports) = round(&mut plugin, 1, &[], &high);
    assert_eq!(MedianOutcome::decode(&outcome).unwrap().decision, Decision::OutOfBounds);
    assert!(reports.is_empty());
    assert_eq!(MedianOutcome::decode(&outcome).unwrap().last_report, None, "nothing was reported");
    // Back within bounds, the next round reports as the first one.
    let (outcome2, reports2) = round(&mut plugin, 2, &outcome, &[obs(0, 110, 7), obs(1, 110, 8), obs(2, 110, 9)]);
    assert_eq!(MedianOutcome::decode(&outcome2).unwrap().decision, Decision::FirstRound);
    assert_eq!(reports2.len(), 1);
}

#[test]
fn a_bad_config_is_a_clear_error_from_the_factory() {
    let engine = common::engine();
    let median = common::load(&engine, "median.wasm");
    let cases: [(&[u8], &str); 4] = [
        (b"", "empty"),
        (b"{not json", "median offchain config"),
        (br#"{"version":9,"value_source":"p","deviation_threshold_ppb":1,"heartbeat_seconds":1}"#, "version 9"),
        (br#"{"version":1,"value_source":"p","deviation_threshold_ppb":1,"heartbeat_seconds":0}"#, "heartbeat_seconds"),
    ];
    for (offchain, expected) in cases {
        match median.instantiate(&common::config(4, 1, 0, offchain), sources(1)) {
            Err(PluginCallError::Guest { error: PluginError::InvalidConfig(message), .. }) => {
                assert!(message.contains(expected), "{message:?} should mention {expected:?}")
            }
            Err(other) => panic!("expected invalid-config, got {other}"),
            Ok(_) => panic!("config {:?} was accepted", String::from_utf8_lossy(offchain)),
        }
    }
    // And n/f are checked too.
    assert!(median.instantiate(&common::config(3, 1, 0, &median_config(0, 1)), sources(1)).is_err());
}

#[test]
fn wasm_and_native_agree_byte_for_byte() {
    let engine = common::engine();
    let median = common::load(&engine, "median.wasm");
    let config = common::config(7, 2, 3, &median_config(5_000_000, 3600));
    let mut wasm = median.instantiate(&config, sources(1)).unwrap();
    let mut native = NativePlugin::<MedianPlugin>::create(&config, sources(1)).unwrap();
    assert_eq!(wasm.info(), native.info());
    let mut previous = Vec::new();
    for seq_nr in 1..=20u64 {
        let aos: Vec<_> = (0..7u8)
            .map(|o| obs(o, 1000 + seq_nr as u32 * 30, 100_000 + (seq_nr as i128 * 37 + i128::from(o) * 101) % 997))
            .collect();
        let (w_out, w_rep) = round(&mut wasm, seq_nr, &previous, &aos);
        let (n_out, n_rep) = round(&mut native, seq_nr, &previous, &aos);
        assert_eq!(w_out, n_out, "seq_nr {seq_nr}");
        assert_eq!(w_rep, n_rep, "seq_nr {seq_nr}");
        previous = w_out;
    }
}
