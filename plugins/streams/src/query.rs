//! The leader's query: which feeds this round observes. The leader picks
//! the feeds observed longest ago (from the carried state), so every feed
//! gets its turn; followers check the query is well formed before they
//! observe or accept an outcome for it.

use ocr_plugin_sdk::PluginError;

use crate::codec::{Reader, check_feed_indices};
use crate::outcome::FeedState;

/// The feeds of one round, ascending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamsQuery {
    /// Feed indices, strictly ascending.
    pub feeds: Vec<u8>,
}

impl StreamsQuery {
    /// Layout version.
    pub const VERSION: u8 = 1;

    /// The `per_round` feeds observed longest ago (ties: lower index first).
    pub fn pick(state: &[FeedState], per_round: u8) -> Self {
        let mut order: Vec<(u64, u8)> =
            state.iter().enumerate().map(|(i, s)| (s.last_observed_seq_nr, i as u8)).collect();
        order.sort_unstable();
        let mut feeds: Vec<u8> = order.into_iter().take(usize::from(per_round)).map(|(_, i)| i).collect();
        feeds.sort_unstable();
        Self { feeds }
    }

    /// Encodes the query.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![Self::VERSION, self.feeds.len() as u8];
        out.extend_from_slice(&self.feeds);
        out
    }

    /// Decodes and checks an (untrusted) query against the config.
    pub fn decode(bytes: &[u8], feeds: usize, per_round: u8) -> Result<Self, PluginError> {
        let mut r = Reader::new(bytes, "query");
        r.version(Self::VERSION)?;
        let count = r.u8()?;
        if count == 0 || count > per_round {
            return Err(PluginError::invalid_input(format!("query: {count} feeds, 1 to {per_round} allowed")));
        }
        let picked: Vec<u8> = (0..count).map(|_| r.u8()).collect::<Result<_, _>>()?;
        r.finish()?;
        check_feed_indices(picked.iter().copied(), feeds, "query")?;
        Ok(Self { feeds: picked })
    }
}
