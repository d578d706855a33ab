//! The median report against the independent vectors in
//! `shared/vectors/evm.json` (produced with Python's eth-abi).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use median::{MedianObservation, MedianOutcome, MedianPlugin};
use ocr_plugin_sdk::{AttributedObservation, OutcomeContext, PluginConfig, ReportingPlugin};

const VECTOR_REPORT: &str = "000000000000000000000000000000000000000000000000000000006553f100000203000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000800000000000000000000000000000000000000000000000000011c37937e08000000000000000000000000000000000000000000000000000000000000000000300000000000000000000000000000000000000000000000000000045bb97530000000000000000000000000000000000000000000000000000000045d964b8000000000000000000000000000000000000000000000000000000004623e63480";

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn report_matches_the_reference_vector() {
    let config = PluginConfig::for_tests(
        4,
        1,
        br#"{"version":1,"value_source":"p","deviation_threshold_ppb":0,"heartbeat_seconds":1}"#.to_vec(),
    );
    let (plugin, _) = MedianPlugin::new(&config).unwrap();
    let juels = 5_000_000_000_000_000i128;
    let aos: Vec<AttributedObservation> = [(2u8, 300_000_000_000i128), (0, 299_500_000_000), (3, 301_250_000_000)]
        .into_iter()
        .map(|(observer, value)| AttributedObservation {
            observer,
            observation: MedianObservation { timestamp: 1_700_000_000, value, juels_per_fee_coin: juels }.encode(),
        })
        .collect();
    let ctx = OutcomeContext { seq_nr: 1, ..Default::default() };
    let refs = ocr_plugin_sdk::observation_refs(&aos);
    let outcome = plugin.outcome(&ctx, &[], &refs).unwrap();
    assert_eq!(MedianOutcome::decode(&outcome).unwrap().median(), Some(300_000_000_000));
    let reports = plugin.reports(1, &outcome).unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].report, unhex(VECTOR_REPORT));
    let decoded = median::MedianReport::decode(&reports[0].report).unwrap();
    assert_eq!(decoded.median(), Some(300_000_000_000));
    assert_eq!(decoded.observers, vec![0, 2, 3]);
}
