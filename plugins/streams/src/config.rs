//! The streams plugin's offchain config (JSON): the feeds, how many the
//! leader may pick per round, and per feed its data source, deviation and
//! heartbeat, and the deviation that makes a report urgent.

use ocr_plugin_sdk::PluginError;
use serde::Deserialize;

/// The config version this plugin reads.
pub const OFFCHAIN_CONFIG_VERSION: u32 = 1;

/// The most feeds one config may carry (indices are one byte; this keeps
/// outcomes small).
pub const MAX_FEEDS: usize = 64;

/// One feed.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// The feed's id, reported as a left-aligned `bytes32` (1 to 32 ASCII
    /// characters).
    pub id: String,
    /// The data source each oracle reads for it.
    pub source: String,
    /// A move of at least this many parts per billion is reported.
    pub deviation_ppb: u64,
    /// A feed not reported for this long is reported anyway.
    pub heartbeat_seconds: u32,
    /// A move of at least this many ppb is urgent: every oracle transmits
    /// at once instead of the staged default schedule.
    pub urgent_ppb: u64,
}

/// The whole config.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StreamsConfig {
    /// Must be [`OFFCHAIN_CONFIG_VERSION`].
    pub version: u32,
    /// The feeds, in index order.
    pub feeds: Vec<FeedConfig>,
    /// How many feeds the leader may put in one round's query.
    pub feeds_per_round: u8,
}

impl StreamsConfig {
    /// Parses and checks the config; every error names the field.
    pub fn decode(bytes: &[u8]) -> Result<Self, PluginError> {
        let config: Self = serde_json::from_slice(bytes)
            .map_err(|e| PluginError::invalid_config(format!("streams offchain config: {e}")))?;
        let bad = |what: String| Err(PluginError::invalid_config(format!("streams offchain config: {what}")));
        if config.version != OFFCHAIN_CONFIG_VERSION {
            return bad(format!("version {} is not {OFFCHAIN_CONFIG_VERSION}", config.version));
        }
        if config.feeds.is_empty() || config.feeds.len() > MAX_FEEDS {
            return bad(format!("feeds: {} feeds, 1 to {MAX_FEEDS} expected", config.feeds.len()));
        }
        if config.feeds_per_round == 0 || usize::from(config.feeds_per_round) > config.feeds.len() {
            return bad(format!(
                "feeds_per_round: {} is not between 1 and the number of feeds",
                config.feeds_per_round
            ));
        }
        for (i, feed) in config.feeds.iter().enumerate() {
            if feed.id.is_empty() || feed.id.len() > 32 || !feed.id.is_ascii() {
                return bad(format!("feeds[{i}].id: {:?} is not 1 to 32 ASCII characters", feed.id));
            }
            if config.feeds[..i].iter().any(|other| other.id == feed.id) {
                return bad(format!("feeds[{i}].id: {:?} appears twice", feed.id));
            }
            if feed.source.is_empty() {
                return bad(format!("feeds[{i}].source: empty"));
            }
            if feed.deviation_ppb == 0 || feed.heartbeat_seconds == 0 {
                return bad(format!("feeds[{i}]: deviation_ppb and heartbeat_seconds must be positive"));
            }
            if feed.urgent_ppb < feed.deviation_ppb {
                return bad(format!("feeds[{i}].urgent_ppb: below deviation_ppb"));
            }
        }
        Ok(config)
    }
}

impl FeedConfig {
    /// The id as the `bytes32` reports carry.
    pub fn id_word(&self) -> [u8; 32] {
        let mut word = [0u8; 32];
        word[..self.id.len()].copy_from_slice(self.id.as_bytes());
        word
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn config(feeds: &str, per_round: u8) -> Vec<u8> {
        format!(r#"{{"version":1,"feeds_per_round":{per_round},"feeds":[{feeds}]}}"#).into_bytes()
    }

    const FEED: &str =
        r#"{"id":"btc-usd","source":"btc","deviation_ppb":1000000,"heartbeat_seconds":60,"urgent_ppb":10000000}"#;

    #[test]
    fn a_good_config_parses_and_each_bad_one_names_its_field() {
        assert_eq!(StreamsConfig::decode(&config(FEED, 1)).unwrap().feeds[0].id_word()[..7], *b"btc-usd");
        let error = |bytes: Vec<u8>| StreamsConfig::decode(&bytes).unwrap_err().to_string();
        assert!(error(config("", 1)).contains("feeds: 0 feeds"));
        assert!(error(config(FEED, 2)).contains("feeds_per_round"));
        assert!(error(config(&format!("{FEED},{FEED}"), 1)).contains("feeds[1].id: \"btc-usd\" appears twice"));
        assert!(error(config(&FEED.replace("btc-usd", &"x".repeat(33)), 1)).contains("feeds[0].id"));
        assert!(error(config(&FEED.replace("10000000", "10"), 1)).contains("feeds[0].urgent_ppb"));
        assert!(
            error(config(&FEED.replace("\"heartbeat_seconds\":60", "\"heartbeat_seconds\":0"), 1)).contains("feeds[0]")
        );
        assert!(error(b"{\"version\":2,\"feeds_per_round\":1,\"feeds\":[]}".to_vec()).contains("version 2"));
        assert!(error(b"not json".to_vec()).contains("streams offchain config"));
    }
}
