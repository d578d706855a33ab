//! # The streams plugin
//!
//! A multi-asset feed that uses what the median plugin does not:
//! - **the leader's query**: each round the leader names the feeds to
//!   observe, the ones observed longest ago, so a round costs
//!   `feeds_per_round` reads whatever the number of feeds;
//! - **state carried in the outcome**: every feed's last reported value and
//!   time, and when it was last observed, go from round to round;
//! - **several reports per outcome**: one per feed that moved past its
//!   deviation or reached its heartbeat, each with its own transmission
//!   schedule: an urgent move (past `urgent_ppb`) is sent by every oracle at
//!   once, a routine one follows the staged default schedule.
//!
//! Queries, observations and previous outcomes are untrusted: every decoder
//! returns an error instead of panicking, and the outcome depends only on
//! them, in a fixed order.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, UNIX_EPOCH};

use ocr_plugin_sdk::{
    AttributedObservationRef, DataSources, OracleId, OutcomeContext, PluginConfig, PluginError, PluginInfo,
    PluginLimits, Quorum, ReportPlus, ReportWithInfo, ReportingPlugin, SeqNr, TransmissionSchedule,
};

mod codec;
mod config;
mod observation;
mod outcome;
mod query;
mod report;

pub use config::{FeedConfig, MAX_FEEDS, OFFCHAIN_CONFIG_VERSION, StreamsConfig};
pub use observation::StreamsObservation;
pub use outcome::{Change, FeedState, StreamsOutcome, moved};
pub use query::StreamsQuery;
pub use report::FeedReport;

/// The plugin instance.
pub struct StreamsPlugin {
    config: PluginConfig,
    streams: StreamsConfig,
    /// Highest seq-nr accepted per feed: node-local, best-effort.
    accepted: Mutex<BTreeMap<[u8; 32], SeqNr>>,
}

impl StreamsPlugin {
    /// The name in [`PluginInfo`].
    pub const NAME: &'static str = "streams";

    fn previous(&self, ctx: &OutcomeContext) -> Result<StreamsOutcome, PluginError> {
        if ctx.previous_outcome.is_empty() {
            Ok(StreamsOutcome::genesis(self.streams.feeds.len()))
        } else {
            StreamsOutcome::decode(&ctx.previous_outcome, self.streams.feeds.len())
        }
    }

    fn query_of(&self, query: &[u8]) -> Result<StreamsQuery, PluginError> {
        StreamsQuery::decode(query, self.streams.feeds.len(), self.streams.feeds_per_round)
    }

    fn decode_valid(
        &self,
        query: &StreamsQuery,
        ao: AttributedObservationRef<'_>,
    ) -> Result<StreamsObservation, PluginError> {
        if ao.observer >= self.config.n {
            return Err(PluginError::invalid_input(format!(
                "observer {} is not below n={}",
                ao.observer, self.config.n
            )));
        }
        StreamsObservation::decode(ao.observation, query)
    }

    /// Every oracle at once: for urgent reports.
    fn everyone_now(&self) -> TransmissionSchedule {
        TransmissionSchedule {
            transmitters: (0..self.config.n).collect::<Vec<OracleId>>(),
            transmission_delays: vec![Duration::ZERO; usize::from(self.config.n)],
        }
    }

    fn feed_of(&self, report: &FeedReport) -> Result<(), PluginError> {
        match self.streams.feeds.iter().any(|f| f.id_word() == report.feed_id) {
            true => Ok(()),
            false => Err(PluginError::invalid_input("report for a feed not in the config")),
        }
    }
}

/// The upper median of a non-empty sorted list.
fn upper_median<T: Copy>(sorted: &[T]) -> Option<T> {
    sorted.get(sorted.len() / 2).copied()
}

impl ReportingPlugin for StreamsPlugin {
    fn new(config: &PluginConfig) -> Result<(Self, PluginInfo), PluginError> {
        let streams = StreamsConfig::decode(&config.offchain_config)?;
        config.check_committee()?;
        let per_round = streams.feeds_per_round;
        let info = PluginInfo {
            name: Self::NAME.into(),
            limits: PluginLimits {
                max_query_length: 2 + u32::from(per_round),
                max_observation_length: StreamsObservation::max_len(per_round) as u32,
                max_outcome_length: StreamsOutcome::max_len(streams.feeds.len()) as u32,
                max_report_length: FeedReport::LEN as u32,
                max_report_count: u32::from(per_round),
            },
        };
        Ok((Self { config: config.clone(), streams, accepted: Mutex::new(BTreeMap::new()) }, info))
    }

    fn query(&self, ctx: &OutcomeContext, _sources: &dyn DataSources) -> Result<Vec<u8>, PluginError> {
        let previous = self.previous(ctx)?;
        Ok(StreamsQuery::pick(&previous.feeds, self.streams.feeds_per_round).encode())
    }

    fn observation(
        &self,
        _ctx: &OutcomeContext,
        query: &[u8],
        sources: &dyn DataSources,
    ) -> Result<Vec<u8>, PluginError> {
        let query = self.query_of(query)?;
        let values: Vec<(u8, i128)> = query
            .feeds
            .iter()
            .filter_map(|&feed| {
                let source = &self.streams.feeds[usize::from(feed)].source;
                sources.read_integer(source).ok().map(|value| (feed, value))
            })
            .collect();
        if values.is_empty() {
            return Err(PluginError::DataSource("no source of the queried feeds answered".into()));
        }
        let now =
            sources.now().duration_since(UNIX_EPOCH).map_err(|_| PluginError::other("the clock reads before 1970"))?;
        let timestamp = u32::try_from(now.as_secs()).unwrap_or(u32::MAX);
        Ok(StreamsObservation { timestamp, values }.encode())
    }

    fn validate_observation(
        &self,
        _ctx: &OutcomeContext,
        query: &[u8],
        ao: AttributedObservationRef<'_>,
    ) -> Result<(), PluginError> {
        self.decode_valid(&self.query_of(query)?, ao).map(|_| ())
    }

    fn observation_quorum(
        &self,
        _ctx: &OutcomeContext,
        _query: &[u8],
        aos: &[AttributedObservationRef<'_>],
    ) -> Result<bool, PluginError> {
        Ok(self.config.is_quorum(Quorum::TwoFPlusOne, ocr_plugin_sdk::distinct_observers(aos)))
    }

    fn outcome(
        &self,
        ctx: &OutcomeContext,
        query: &[u8],
        aos: &[AttributedObservationRef<'_>],
    ) -> Result<Vec<u8>, PluginError> {
        let query = self.query_of(query)?;
        let previous = self.previous(ctx)?;
        // One observation per observer, whatever order the leader sent them
        // in; per feed, values sorted by (value, observer).
        let mut seen = [false; 256];
        let mut per_feed: BTreeMap<u8, Vec<(i128, u8)>> = BTreeMap::new();
        let mut timestamps: BTreeMap<u8, Vec<u32>> = BTreeMap::new();
        for ao in aos {
            if std::mem::replace(&mut seen[usize::from(ao.observer)], true) {
                continue;
            }
            let Ok(observation) = self.decode_valid(&query, *ao) else { continue };
            for (feed, value) in observation.values {
                per_feed.entry(feed).or_default().push((value, ao.observer));
                timestamps.entry(feed).or_default().push(observation.timestamp);
            }
        }
        let mut medians = Vec::new();
        for (feed, mut values) in per_feed {
            if !self.config.is_quorum(Quorum::TwoFPlusOne, values.len()) {
                continue;
            }
            values.sort_unstable();
            let mut times = timestamps.remove(&feed).unwrap_or_default();
            times.sort_unstable();
            if let (Some((value, _)), Some(timestamp)) = (upper_median(&values), upper_median(&times)) {
                medians.push((feed, value, timestamp));
            }
        }
        Ok(previous.next(ctx.seq_nr, &self.streams.feeds, &query.feeds, &medians).encode())
    }

    fn reports(&self, seq_nr: SeqNr, outcome: &[u8]) -> Result<Vec<ReportPlus>, PluginError> {
        let outcome = StreamsOutcome::decode(outcome, self.streams.feeds.len())?;
        Ok(outcome
            .changes
            .iter()
            .map(|change| {
                let (feed, state) =
                    (&self.streams.feeds[usize::from(change.feed)], &outcome.feeds[usize::from(change.feed)]);
                let report = FeedReport {
                    feed_id: feed.id_word(),
                    value: state.last_value,
                    observations_timestamp: state.last_timestamp,
                    seq_nr,
                };
                ReportPlus {
                    report: report.encode(),
                    info: feed.id.as_bytes().to_vec(),
                    transmission_schedule_override: change.urgent.then(|| self.everyone_now()),
                }
            })
            .collect())
    }

    fn should_accept_attested_report(&self, seq_nr: SeqNr, report: &ReportWithInfo) -> Result<bool, PluginError> {
        let decoded = FeedReport::decode(&report.report)?;
        self.feed_of(&decoded)?;
        let mut accepted = self.accepted.lock().map_err(|_| PluginError::other("state lock poisoned"))?;
        let last = accepted.entry(decoded.feed_id).or_insert(0);
        if seq_nr <= *last {
            return Ok(false);
        }
        *last = seq_nr;
        Ok(true)
    }

    fn should_transmit_accepted_report(&self, seq_nr: SeqNr, report: &ReportWithInfo) -> Result<bool, PluginError> {
        // A feed's report superseded by a newer accepted one is not sent.
        let decoded = FeedReport::decode(&report.report)?;
        let accepted = self.accepted.lock().map_err(|_| PluginError::other("state lock poisoned"))?;
        Ok(accepted.get(&decoded.feed_id).is_none_or(|&last| seq_nr >= last))
    }
}

ocr_plugin_sdk::export_plugin!(StreamsPlugin);
