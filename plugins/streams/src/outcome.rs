//! The outcome: the state every feed carries from round to round (its last
//! reported value and time, when it was last reported and last observed),
//! and the feeds this round reports. Computed only from the previous
//! outcome, the query and the observations, in a fixed order, so every
//! honest node computes the same bytes.

use ocr_plugin_sdk::{PluginError, SeqNr};

use crate::codec::{Reader, check_feed_indices};
use crate::config::FeedConfig;

/// What one feed carries between rounds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FeedState {
    /// The last reported value.
    pub last_value: i128,
    /// Its observation time (Unix seconds).
    pub last_timestamp: u32,
    /// The seq-nr that reported it; 0 if never reported.
    pub last_report_seq_nr: SeqNr,
    /// The last seq-nr that observed the feed; 0 if never.
    pub last_observed_seq_nr: SeqNr,
}

/// A feed reported this round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    /// The feed index.
    pub feed: u8,
    /// Whether it moved by at least its urgent threshold.
    pub urgent: bool,
}

/// The outcome of one round.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamsOutcome {
    /// One state per configured feed, in config order.
    pub feeds: Vec<FeedState>,
    /// The feeds this round reports, ascending.
    pub changes: Vec<Change>,
}

/// Whether `new` is at least `ppb` parts per billion away from `old`:
/// `|new - old| * 1e9 >= |old| * ppb`, compared exactly in 256 bits.
pub fn moved(old: i128, new: i128, ppb: u64) -> bool {
    let difference = new.abs_diff(old);
    let base = old.unsigned_abs();
    if base == 0 {
        return difference != 0;
    }
    wide_mul(difference, 1_000_000_000) >= wide_mul(base, u128::from(ppb))
}

/// `a * b` as (high, low) 128-bit halves.
fn wide_mul(a: u128, b: u128) -> (u128, u128) {
    const MASK: u128 = u64::MAX as u128;
    let (a_hi, a_lo, b_hi, b_lo) = (a >> 64, a & MASK, b >> 64, b & MASK);
    let (lo_lo, hi_lo, lo_hi, hi_hi) = (a_lo * b_lo, a_hi * b_lo, a_lo * b_hi, a_hi * b_hi);
    let cross = (lo_lo >> 64) + (hi_lo & MASK) + (lo_hi & MASK);
    let low = (cross << 64) | (lo_lo & MASK);
    let high = hi_hi + (hi_lo >> 64) + (lo_hi >> 64) + (cross >> 64);
    (high, low)
}

impl StreamsOutcome {
    /// Layout version.
    pub const VERSION: u8 = 1;

    /// The state before any round.
    pub fn genesis(feeds: usize) -> Self {
        Self { feeds: vec![FeedState::default(); feeds], changes: Vec::new() }
    }

    /// The longest outcome for `feeds` feeds.
    pub fn max_len(feeds: usize) -> usize {
        2 + 36 * feeds + 1 + 2 * feeds
    }

    /// Encodes the outcome.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::max_len(self.feeds.len()));
        out.push(Self::VERSION);
        out.push(self.feeds.len() as u8);
        for s in &self.feeds {
            out.extend_from_slice(&s.last_value.to_be_bytes());
            out.extend_from_slice(&s.last_timestamp.to_be_bytes());
            out.extend_from_slice(&s.last_report_seq_nr.to_be_bytes());
            out.extend_from_slice(&s.last_observed_seq_nr.to_be_bytes());
        }
        out.push(self.changes.len() as u8);
        for change in &self.changes {
            out.push(change.feed);
            out.push(u8::from(change.urgent));
        }
        out
    }

    /// Decodes an outcome for a config of `feeds` feeds.
    pub fn decode(bytes: &[u8], feeds: usize) -> Result<Self, PluginError> {
        let mut r = Reader::new(bytes, "outcome");
        r.version(Self::VERSION)?;
        if usize::from(r.u8()?) != feeds {
            return Err(PluginError::invalid_input(format!("outcome: not {feeds} feeds")));
        }
        let mut state = Vec::with_capacity(feeds);
        for _ in 0..feeds {
            state.push(FeedState {
                last_value: r.i128()?,
                last_timestamp: r.u32()?,
                last_report_seq_nr: r.u64()?,
                last_observed_seq_nr: r.u64()?,
            });
        }
        let count = r.u8()?;
        let mut changes = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let feed = r.u8()?;
            let urgent = match r.u8()? {
                0 => false,
                1 => true,
                other => return Err(PluginError::invalid_input(format!("outcome: urgency {other}"))),
            };
            changes.push(Change { feed, urgent });
        }
        r.finish()?;
        check_feed_indices(changes.iter().map(|c| c.feed), feeds, "outcome")?;
        Ok(Self { feeds: state, changes })
    }

    /// The next outcome: `medians` holds (feed, median value, median
    /// timestamp) for each queried feed that reached its quorum, ascending.
    pub fn next(&self, seq_nr: SeqNr, config: &[FeedConfig], queried: &[u8], medians: &[(u8, i128, u32)]) -> Self {
        let mut feeds = self.feeds.clone();
        for &feed in queried {
            feeds[usize::from(feed)].last_observed_seq_nr = seq_nr;
        }
        let mut changes = Vec::new();
        for &(feed, value, timestamp) in medians {
            let (state, rules) = (&mut feeds[usize::from(feed)], &config[usize::from(feed)]);
            let first = state.last_report_seq_nr == 0;
            let report = first
                || moved(state.last_value, value, rules.deviation_ppb)
                || timestamp.saturating_sub(state.last_timestamp) >= rules.heartbeat_seconds;
            if report {
                let urgent = !first && moved(state.last_value, value, rules.urgent_ppb);
                *state = FeedState {
                    last_value: value,
                    last_timestamp: timestamp,
                    last_report_seq_nr: seq_nr,
                    last_observed_seq_nr: seq_nr,
                };
                changes.push(Change { feed, urgent });
            }
        }
        Self { feeds, changes }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn moved_is_relative_and_handles_zero_and_extremes() {
        assert!(moved(1_000_000_000, 1_001_000_000, 1_000_000));
        assert!(!moved(1_000_000_000, 1_000_999_999, 1_000_000));
        assert!(moved(-1_000_000_000, -1_001_000_000, 1_000_000));
        assert!(moved(0, 1, 1) && !moved(0, 0, 1));
        assert!(moved(1, i128::MAX, u64::MAX));
        assert!(moved(i128::MIN, i128::MAX, 1));
        // Huge values: a 4 ppb move is not a 5 ppb one, even where
        // difference * 1e9 overflows 128 bits.
        let old = 100_000_000_000_000_000_000_000_000_000_000_000_000i128;
        assert!(!moved(old, old + old / 250_000_000, 5) && moved(old, old + old / 250_000_000, 4));
    }

    proptest! {
        #[test]
        fn wide_mul_matches_u128_when_it_fits(a: u64, b: u64) {
            let (a, b) = (u128::from(a), u128::from(b));
            prop_assert_eq!(wide_mul(a, b), (0, a * b));
        }
    }

    proptest! {
        #[test]
        fn round_trips(values in proptest::collection::vec((any::<i128>(), any::<u32>(), any::<u64>(), any::<u64>()), 1..8), urgent: bool) {
            let feeds: Vec<FeedState> = values.iter().map(|&(v, t, r, o)| FeedState {
                last_value: v, last_timestamp: t, last_report_seq_nr: r, last_observed_seq_nr: o,
            }).collect();
            let outcome = StreamsOutcome { changes: vec![Change { feed: 0, urgent }], feeds };
            prop_assert_eq!(StreamsOutcome::decode(&outcome.encode(), values.len()).unwrap(), outcome);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes: Vec<u8>, feeds in 0usize..8) {
            let _ = StreamsOutcome::decode(&bytes, feeds);
        }
    }
}
