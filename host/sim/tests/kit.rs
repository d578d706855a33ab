#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The plugin test kit: median and streams run in simulated networks with
//! scripted sources (and faults), and a deliberately non-deterministic
//! plugin is caught, with the oracles that diverged, the seq-nr and the
//! method named.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use median::{MedianPlugin, MedianReport};
use ocr_plugin_sdk::{
    AttributedObservationRef, DataSources, OutcomeContext, PluginConfig, PluginError, PluginInfo, PluginLimits, Quorum,
    ReportPlus, ReportingPlugin, SeqNr,
};
use ocr_sim::faults::FaultClass;
use ocr_sim::kit::{component, native};
use ocr_sim::{Script, TestKit};

/// A market at 3000.00000000 rising a cent a second; oracle 3 lies tenfold.
fn market() -> Script {
    Arc::new(|oracle, at: Duration, name: &str| {
        let honest = 300_000_000_000 + i128::from(at.as_secs() as u32) * 1_000_000 + i128::from(oracle) * 1_000;
        match name {
            "price" => Some(if oracle == 3 { honest * 10 } else { honest }.to_string()),
            "juels" => Some("5000000000000000".into()),
            _ => None,
        }
    })
}

#[test]
fn the_median_plugin_passes_the_kit_and_its_reports_follow_the_honest_market() {
    let config = br#"{"version":1,"value_source":"price","juels_per_fee_coin_source":"juels","deviation_threshold_ppb":100000,"heartbeat_seconds":5}"#;
    let report = TestKit::new(config, native::<MedianPlugin>(), market()).run();
    report.check().unwrap();
    assert!(report.outcome.committed.len() > 50, "{} outcomes", report.outcome.committed.len());
    assert!(!report.outcome.reports.is_empty());
    for bytes in report.outcome.reports.values() {
        let answer = MedianReport::decode(bytes).unwrap().median().unwrap();
        assert!((300_000_000_000..300_100_000_000).contains(&answer), "{answer} is outside the honest market");
    }
    // The same seed replays the same run.
    let again = TestKit::new(config, native::<MedianPlugin>(), market()).run();
    assert_eq!(again.outcome.trace_hash, report.outcome.trace_hash);
}

#[test]
fn the_streams_plugin_passes_the_kit_under_crashes_and_equivocation() {
    let config = br#"{"version":1,"feeds_per_round":2,"feeds":[
        {"id":"a","source":"price","deviation_ppb":100000,"heartbeat_seconds":5,"urgent_ppb":1000000},
        {"id":"b","source":"juels","deviation_ppb":100000,"heartbeat_seconds":5,"urgent_ppb":1000000},
        {"id":"c","source":"price","deviation_ppb":100000,"heartbeat_seconds":5,"urgent_ppb":1000000}]}"#;
    for class in [FaultClass::Crash, FaultClass::Equivocation, FaultClass::Network] {
        for seed in 1..=2 {
            let report =
                TestKit::new(config, native::<streams::StreamsPlugin>(), market()).faults(class).seed(seed).run();
            report.check().unwrap_or_else(|e| panic!("{}: {e}", class.name()));
            let reported: std::collections::BTreeSet<[u8; 32]> = report
                .outcome
                .reports
                .values()
                .map(|bytes| streams::FeedReport::decode(bytes).unwrap().feed_id)
                .collect();
            assert_eq!(reported.len(), 3, "{}: every feed reported", class.name());
        }
    }
}

/// A plugin whose `reports` returns more reports than it declared: every
/// oracle fails alike, so there is no divergence, but the kit reports it.
#[test]
fn a_plugin_over_its_declared_limits_is_caught() {
    let report = TestKit::new(b"", native::<TooManyReports>(), market()).duration(Duration::from_secs(5)).run();
    assert!(report.outcome.divergences.is_empty());
    let error = report.check().expect_err("too many reports must be caught");
    assert!(error.contains("reports returned 2 reports, the limit is 1"), "{error}");
}

/// Declares one report per outcome and returns two.
struct TooManyReports {
    config: PluginConfig,
}

impl ReportingPlugin for TooManyReports {
    fn new(config: &PluginConfig) -> Result<(Self, PluginInfo), PluginError> {
        let limits = PluginLimits {
            max_query_length: 0,
            max_observation_length: 64,
            max_outcome_length: 64,
            max_report_length: 8,
            max_report_count: 1,
        };
        Ok((Self { config: config.clone() }, PluginInfo { name: "too-many-reports".into(), limits }))
    }

    fn observation(&self, _: &OutcomeContext, _: &[u8], _: &dyn DataSources) -> Result<Vec<u8>, PluginError> {
        Ok(vec![1])
    }

    fn observation_quorum(
        &self,
        _: &OutcomeContext,
        _: &[u8],
        aos: &[AttributedObservationRef<'_>],
    ) -> Result<bool, PluginError> {
        Ok(self.config.is_quorum(Quorum::TwoFPlusOne, aos.len()))
    }

    fn outcome(
        &self,
        _: &OutcomeContext,
        _: &[u8],
        _: &[AttributedObservationRef<'_>],
    ) -> Result<Vec<u8>, PluginError> {
        Ok(vec![1])
    }

    fn reports(&self, _: SeqNr, _: &[u8]) -> Result<Vec<ReportPlus>, PluginError> {
        Ok(vec![ReportPlus::new(vec![1]), ReportPlus::new(vec![2])])
    }
}

/// The median plugin's built component through the real wasm host.
#[test]
fn the_median_component_passes_the_kit_through_the_wasm_host() {
    let exe = std::env::current_exe().unwrap();
    let path = exe.ancestors().nth(3).unwrap().join("plugins").join("median.wasm");
    let factory = component(&path).unwrap_or_else(|e| panic!("{e} (run `cargo xtask plugins`)"));
    let config = br#"{"version":1,"value_source":"price","juels_per_fee_coin_source":"juels","deviation_threshold_ppb":100000,"heartbeat_seconds":5}"#;
    let report = TestKit::new(config, factory, market()).duration(Duration::from_secs(10)).run();
    report.check().unwrap();
    assert!(report.outcome.committed.len() > 20 && !report.outcome.reports.is_empty());
}

/// Lists the observations in a `HashMap`'s iteration order, which differs
/// from one instance to the next: the classic non-deterministic outcome.
struct HashMapOrder {
    config: PluginConfig,
}

impl ReportingPlugin for HashMapOrder {
    fn new(config: &PluginConfig) -> Result<(Self, PluginInfo), PluginError> {
        let limits = PluginLimits {
            max_query_length: 0,
            max_observation_length: 64,
            max_outcome_length: 64 * 32,
            max_report_length: 0,
            max_report_count: 0,
        };
        Ok((Self { config: config.clone() }, PluginInfo { name: "hashmap-order".into(), limits }))
    }

    fn observation(&self, _: &OutcomeContext, _: &[u8], sources: &dyn DataSources) -> Result<Vec<u8>, PluginError> {
        Ok(sources.read("price")?.into_bytes())
    }

    fn observation_quorum(
        &self,
        _: &OutcomeContext,
        _: &[u8],
        aos: &[AttributedObservationRef<'_>],
    ) -> Result<bool, PluginError> {
        Ok(self.config.is_quorum(Quorum::TwoFPlusOne, aos.len()))
    }

    fn outcome(
        &self,
        _: &OutcomeContext,
        _: &[u8],
        aos: &[AttributedObservationRef<'_>],
    ) -> Result<Vec<u8>, PluginError> {
        let by_observer: HashMap<u8, &[u8]> = aos.iter().map(|ao| (ao.observer, ao.observation)).collect();
        Ok(by_observer
            .into_iter()
            .flat_map(|(observer, observation)| [&[observer][..], observation].concat())
            .collect())
    }

    fn reports(&self, _: SeqNr, _: &[u8]) -> Result<Vec<ReportPlus>, PluginError> {
        Ok(Vec::new())
    }
}

#[test]
fn a_non_deterministic_plugin_is_caught_and_the_diverging_oracles_named() {
    let report = TestKit::new(b"", native::<HashMapOrder>(), market()).duration(Duration::from_secs(10)).run();
    let error = report.check().expect_err("the kit must catch the plugin");
    let divergence = report.outcome.divergences.first().expect("a divergence");
    assert_eq!(divergence.method, "outcome");
    assert!(divergence.groups.len() > 1 && divergence.groups.iter().flatten().count() >= 3, "{divergence}");
    assert!(error.contains("outcome gave different outputs for the same inputs: oracles ["), "{error}");
    println!("{error}");
}
