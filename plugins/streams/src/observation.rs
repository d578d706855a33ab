//! One oracle's observation: a timestamp and a value per queried feed whose
//! source answered (a feed whose source failed is left out, so one broken
//! source costs one feed, not the round).

use ocr_plugin_sdk::PluginError;

use crate::codec::{Reader, check_feed_indices};
use crate::query::StreamsQuery;

/// What one oracle saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamsObservation {
    /// When, in Unix seconds.
    pub timestamp: u32,
    /// (feed index, value), indices strictly ascending and all queried.
    pub values: Vec<(u8, i128)>,
}

impl StreamsObservation {
    /// Layout version.
    pub const VERSION: u8 = 1;

    /// The longest observation for `per_round` feeds.
    pub fn max_len(per_round: u8) -> usize {
        1 + 4 + 1 + 17 * usize::from(per_round)
    }

    /// Encodes the observation.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(6 + 17 * self.values.len());
        out.push(Self::VERSION);
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.push(self.values.len() as u8);
        for (feed, value) in &self.values {
            out.push(*feed);
            out.extend_from_slice(&value.to_be_bytes());
        }
        out
    }

    /// Decodes an (untrusted) observation and checks it answers `query`.
    pub fn decode(bytes: &[u8], query: &StreamsQuery) -> Result<Self, PluginError> {
        let mut r = Reader::new(bytes, "observation");
        r.version(Self::VERSION)?;
        let timestamp = r.u32()?;
        let count = r.u8()?;
        if usize::from(count) > query.feeds.len() {
            return Err(PluginError::invalid_input("observation: more feeds than the query asked for"));
        }
        let values: Vec<(u8, i128)> =
            (0..count).map(|_| Ok::<_, PluginError>((r.u8()?, r.i128()?))).collect::<Result<_, _>>()?;
        r.finish()?;
        check_feed_indices(values.iter().map(|(feed, _)| *feed), usize::from(u8::MAX), "observation")?;
        if let Some((feed, _)) = values.iter().find(|(feed, _)| !query.feeds.contains(feed)) {
            return Err(PluginError::invalid_input(format!("observation: feed {feed} was not queried")));
        }
        if timestamp == 0 {
            return Err(PluginError::invalid_input("observation: zero timestamp"));
        }
        Ok(Self { timestamp, values })
    }
}
