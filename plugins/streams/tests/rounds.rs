#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The streams plugin through whole rounds among four oracles, natively:
//! the leader's query visits every feed in turn, outcomes are identical at
//! every oracle whatever the order of observations, state carries over so
//! a feed reports on its first round, on deviation and on heartbeat only,
//! urgent moves get their own transmission schedule, a lying oracle does not
//! move the medians, and malformed queries and observations are refused.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use ocr_plugin_sdk::{
    AttributedObservation, DataSourceError, DataSources, OutcomeContext, PluginConfig, ReportWithInfo, ReportingPlugin,
    observation_refs,
};
use streams::{FeedReport, StreamsOutcome, StreamsPlugin, StreamsQuery};

const N: u8 = 4;
const START: u64 = 1_800_000_000;

fn config() -> Vec<u8> {
    let feed = |id: &str| {
        format!(
            r#"{{"id":"{id}","source":"{id}","deviation_ppb":5000000,"heartbeat_seconds":600,"urgent_ppb":50000000}}"#
        )
    };
    let feeds: Vec<String> = ["btc-usd", "eth-usd", "sol-usd", "link-usd", "dot-usd"].iter().map(|f| feed(f)).collect();
    format!(r#"{{"version":1,"feeds_per_round":2,"feeds":[{}]}}"#, feeds.join(",")).into_bytes()
}

/// A market every oracle reads, with its own clock.
#[derive(Clone)]
struct Market {
    values: BTreeMap<String, i128>,
    now: u64,
}

impl DataSources for Market {
    fn read(&self, name: &str) -> Result<String, DataSourceError> {
        self.values.get(name).map(i128::to_string).ok_or_else(|| DataSourceError::Unknown(name.into()))
    }

    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(self.now)
    }
}

struct Cluster {
    oracles: Vec<StreamsPlugin>,
    market: Market,
    previous: Vec<u8>,
    seq_nr: u64,
    /// Oracle 3 reports ten times the market.
    liar: bool,
}

/// What one round produced.
struct Round {
    queried: Vec<u8>,
    outcome: StreamsOutcome,
    reports: Vec<(FeedReport, bool)>,
}

impl Cluster {
    fn new() -> Self {
        let oracles = (0..N)
            .map(|i| {
                let mut config = PluginConfig::for_tests(N, 1, config());
                config.oracle_id = i;
                StreamsPlugin::new(&config).unwrap().0
            })
            .collect();
        let values =
            [("btc-usd", 6_000_000), ("eth-usd", 300_000), ("sol-usd", 15_000), ("link-usd", 1_500), ("dot-usd", 700)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
        Self { oracles, market: Market { values, now: START }, previous: Vec::new(), seq_nr: 0, liar: false }
    }

    fn round(&mut self) -> Round {
        self.seq_nr += 1;
        let ctx = OutcomeContext { seq_nr: self.seq_nr, previous_outcome: self.previous.clone(), epoch: 1, round: 1 };
        let leader = &self.oracles[(self.seq_nr % u64::from(N)) as usize];
        let query = leader.query(&ctx, &self.market).unwrap();
        let mut observations: Vec<AttributedObservation> = (0..N)
            .map(|i| {
                let mut market = self.market.clone();
                if self.liar && i == 3 {
                    market.values.values_mut().for_each(|v| *v *= 10);
                }
                let observation = self.oracles[usize::from(i)].observation(&ctx, &query, &market).unwrap();
                AttributedObservation { observation, observer: i }
            })
            .collect();
        for ao in &observations {
            leader.validate_observation(&ctx, &query, ao.as_ref()).unwrap();
        }
        assert!(leader.observation_quorum(&ctx, &query, &observation_refs(&observations)).unwrap());
        // Every oracle computes the outcome; half of them see the
        // observations in another order.
        let outcomes: Vec<Vec<u8>> = self
            .oracles
            .iter()
            .enumerate()
            .map(|(i, oracle)| {
                if i % 2 == 1 {
                    observations.reverse();
                }
                oracle.outcome(&ctx, &query, &observation_refs(&observations)).unwrap()
            })
            .collect();
        assert!(outcomes.windows(2).all(|w| w[0] == w[1]), "every oracle computes the same outcome");
        let outcome_bytes = outcomes[0].clone();
        let reports = self.oracles[0].reports(self.seq_nr, &outcome_bytes).unwrap();
        for other in &self.oracles[1..] {
            assert_eq!(other.reports(self.seq_nr, &outcome_bytes).unwrap(), reports);
        }
        self.previous = outcome_bytes.clone();
        Round {
            queried: StreamsQuery::decode(&query, 5, 2).unwrap().feeds,
            outcome: StreamsOutcome::decode(&outcome_bytes, 5).unwrap(),
            reports: reports
                .iter()
                .map(|r| (FeedReport::decode(&r.report).unwrap(), r.transmission_schedule_override.is_some()))
                .collect(),
        }
    }

    fn set(&mut self, feed: &str, value: i128) {
        self.market.values.insert(feed.into(), value);
    }
}

fn id(feed: &str) -> [u8; 32] {
    let mut word = [0u8; 32];
    word[..feed.len()].copy_from_slice(feed.as_bytes());
    word
}

#[test]
fn the_query_visits_every_feed_and_each_reports_on_its_first_round() {
    let mut cluster = Cluster::new();
    let queried: Vec<Vec<u8>> = (0..3).map(|_| cluster.round().queried).collect();
    assert_eq!(queried, [vec![0, 1], vec![2, 3], vec![0, 4]]);
    let mut cluster = Cluster::new();
    let reported: Vec<usize> = (0..3).map(|_| cluster.round().reports.len()).collect();
    assert_eq!(reported, [2, 2, 1], "feed 0's second visit has not moved");
    let state = cluster.round().outcome;
    assert!(state.feeds.iter().all(|f| f.last_report_seq_nr > 0), "every feed reported: {state:?}");
}

#[test]
fn only_deviations_and_heartbeats_report_and_urgent_moves_get_their_own_schedule() {
    let mut cluster = Cluster::new();
    for _ in 0..3 {
        cluster.round();
    }
    // Round 4 queries feeds 1 and 2 (observed longest ago).
    cluster.set("eth-usd", 300_000 + 100); // +0.03 %: below the 0.5 % deviation
    cluster.set("sol-usd", 15_000 * 11 / 10); // +10 %: urgent
    let round = cluster.round();
    assert_eq!(round.queried, [1, 2]);
    assert_eq!(round.reports.len(), 1);
    let (report, urgent) = &round.reports[0];
    assert_eq!((report.feed_id, report.value, report.seq_nr, *urgent), (id("sol-usd"), 16_500, 4, true));

    // A routine deviation (1 %) is reported on the default schedule.
    cluster.set("link-usd", 1_515);
    let round = cluster.round();
    assert_eq!(round.queried, [0, 3]);
    assert_eq!(round.reports.iter().map(|(r, u)| (r.feed_id, *u)).collect::<Vec<_>>(), [(id("link-usd"), false)]);

    // Nothing moves, then the heartbeat passes: every feed reports again
    // on its next visit.
    let quiet: usize = (0..3).map(|_| cluster.round().reports.len()).sum();
    assert_eq!(quiet, 0);
    cluster.market.now += 600;
    let after: usize = (0..3).map(|_| cluster.round().reports.len()).sum();
    assert_eq!(after, 5, "each of the five feeds reported once on heartbeat");
}

#[test]
fn a_lying_oracle_does_not_move_the_medians() {
    let mut cluster = Cluster::new();
    cluster.liar = true;
    for _ in 0..3 {
        for (report, _) in cluster.round().reports {
            let honest = ["btc-usd", "eth-usd", "sol-usd", "link-usd", "dot-usd"]
                .iter()
                .find(|f| id(f) == report.feed_id)
                .map(|f| cluster.market.values[*f])
                .unwrap();
            assert_eq!(report.value, honest);
        }
    }
}

#[test]
fn malformed_queries_and_observations_are_refused() {
    let cluster = Cluster::new();
    let plugin = &cluster.oracles[0];
    let ctx = OutcomeContext { seq_nr: 1, ..OutcomeContext::default() };
    for bad in
        [vec![1, 0], vec![1, 3, 0, 1, 2], vec![1, 2, 1, 0], vec![1, 1, 9], vec![2, 1, 0], vec![1, 1, 0, 0], vec![]]
    {
        assert!(plugin.observation(&ctx, &bad, &cluster.market).is_err(), "query {bad:?}");
    }
    let query = StreamsQuery { feeds: vec![0, 1] }.encode();
    let unqueried = streams::StreamsObservation { timestamp: 1, values: vec![(0, 5), (2, 5)] }.encode();
    fn ao(observation: &[u8], observer: u8) -> ocr_plugin_sdk::AttributedObservationRef<'_> {
        ocr_plugin_sdk::AttributedObservationRef { observation, observer }
    }
    assert!(plugin.validate_observation(&ctx, &query, ao(&unqueried, 1)).is_err());
    let good = streams::StreamsObservation { timestamp: 1, values: vec![(0, 5)] }.encode();
    assert!(plugin.validate_observation(&ctx, &query, ao(&good, 1)).is_ok());
    assert!(plugin.validate_observation(&ctx, &query, ao(&good, N)).is_err(), "observer out of range");
    assert!(plugin.validate_observation(&ctx, &query, ao(&good[..good.len() - 1], 1)).is_err());
    let bad_previous = OutcomeContext { seq_nr: 2, previous_outcome: vec![1, 2, 3], ..OutcomeContext::default() };
    assert!(plugin.outcome(&bad_previous, &query, &[ao(&good, 0)]).is_err());
}

#[test]
fn reports_are_accepted_once_per_feed_and_seq_nr() {
    let mut cluster = Cluster::new();
    let round = cluster.round();
    let plugin = &cluster.oracles[0];
    let reports = plugin.reports(1, &round.outcome.encode()).unwrap();
    let with_info = |r: &ocr_plugin_sdk::ReportPlus| ReportWithInfo { report: r.report.clone(), info: r.info.clone() };
    for report in &reports {
        assert!(plugin.should_accept_attested_report(1, &with_info(report)).unwrap());
        assert!(!plugin.should_accept_attested_report(1, &with_info(report)).unwrap(), "not twice");
        assert!(plugin.should_transmit_accepted_report(1, &with_info(report)).unwrap());
    }
    let garbage = ReportWithInfo { report: vec![0; 10], info: Vec::new() };
    assert!(plugin.should_accept_attested_report(2, &garbage).is_err());
}
