//! The median plugin's configuration: its own offchain config (versioned JSON,
//! validated field by field) and the OCR2 median onchain config (answer bounds).

use ocr_plugin_sdk::PluginError;
use serde::Deserialize;

/// The only offchain config version this build understands.
pub const OFFCHAIN_CONFIG_VERSION: u32 = 1;

/// The plugin's offchain config, from the network config.
///
/// ```json
/// {"version": 1, "value_source": "eth-usd", "juels_per_fee_coin_source": "link-eth",
///  "deviation_threshold_ppb": 5000000, "heartbeat_seconds": 3600}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MedianConfig {
    /// Format version; must be [`OFFCHAIN_CONFIG_VERSION`].
    pub version: u32,
    /// Data source that yields the observed value (a decimal integer).
    pub value_source: String,
    /// Data source for juels per fee coin; when absent the plugin observes 0.
    #[serde(default)]
    pub juels_per_fee_coin_source: Option<String>,
    /// Report when the median moves by at least this many parts per billion
    /// from the last reported median (0 reports every round).
    pub deviation_threshold_ppb: u64,
    /// Report when this many seconds passed (by observation timestamps) since
    /// the last report, even without deviation.
    pub heartbeat_seconds: u32,
}

impl MedianConfig {
    /// Parses and validates the offchain config bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, PluginError> {
        if bytes.is_empty() {
            return Err(PluginError::invalid_config(
                "the median plugin's offchain config is empty; expected JSON such as \
                 {\"version\":1,\"value_source\":\"price\",\"deviation_threshold_ppb\":5000000,\"heartbeat_seconds\":3600}",
            ));
        }
        let config: MedianConfig = serde_json::from_slice(bytes)
            .map_err(|e| PluginError::invalid_config(format!("median offchain config: {e}")))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), PluginError> {
        if self.version != OFFCHAIN_CONFIG_VERSION {
            return Err(PluginError::invalid_config(format!(
                "median offchain config: version {} is not supported (this build reads version {OFFCHAIN_CONFIG_VERSION})",
                self.version
            )));
        }
        if self.value_source.trim().is_empty() {
            return Err(PluginError::invalid_config("median offchain config: value_source is empty"));
        }
        if matches!(&self.juels_per_fee_coin_source, Some(s) if s.trim().is_empty()) {
            return Err(PluginError::invalid_config(
                "median offchain config: juels_per_fee_coin_source is empty (omit it to observe 0)",
            ));
        }
        if self.heartbeat_seconds == 0 {
            return Err(PluginError::invalid_config("median offchain config: heartbeat_seconds must be at least 1"));
        }
        Ok(())
    }

    /// Serialises the config (for tools and tests).
    pub fn to_json(&self) -> String {
        let juels = match &self.juels_per_fee_coin_source {
            Some(s) => format!(",\"juels_per_fee_coin_source\":{s:?}"),
            None => String::new(),
        };
        format!(
            "{{\"version\":{},\"value_source\":{:?}{juels},\"deviation_threshold_ppb\":{},\"heartbeat_seconds\":{}}}",
            self.version, self.value_source, self.deviation_threshold_ppb, self.heartbeat_seconds
        )
    }
}

/// The answer bounds of the OCR2 median onchain config: one version byte (1)
/// then the minimum and maximum answer as 24-byte two's-complement `int192`.
/// Empty means unbounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnswerBounds {
    /// Smallest acceptable value.
    pub min: i128,
    /// Largest acceptable value.
    pub max: i128,
}

impl AnswerBounds {
    /// Length of an encoded onchain config.
    pub const ENCODED_LEN: usize = 1 + 24 + 24;

    /// Parses the onchain config; bounds outside the `i128` range are clamped
    /// to it, since observations are `i128`.
    pub fn decode(bytes: &[u8]) -> Result<Self, PluginError> {
        if bytes.is_empty() {
            return Ok(Self { min: i128::MIN, max: i128::MAX });
        }
        if bytes.len() != Self::ENCODED_LEN || bytes[0] != 1 {
            return Err(PluginError::invalid_config(format!(
                "median onchain config must be {} bytes starting with version 1, got {} bytes",
                Self::ENCODED_LEN,
                bytes.len()
            )));
        }
        let min = int192_clamped(&bytes[1..25]);
        let max = int192_clamped(&bytes[25..49]);
        if min > max {
            return Err(PluginError::invalid_config(format!("median onchain config: min {min} > max {max}")));
        }
        Ok(Self { min, max })
    }

    /// Encodes the bounds as an onchain config.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![1u8];
        for v in [self.min, self.max] {
            let word = ocr_plugin_sdk::abi::int_word(v);
            out.extend_from_slice(&word[8..]);
        }
        out
    }

    /// Whether `value` lies within the bounds.
    pub fn contains(&self, value: i128) -> bool {
        (self.min..=self.max).contains(&value)
    }
}

fn int192_clamped(bytes: &[u8]) -> i128 {
    let negative = bytes[0] & 0x80 != 0;
    let sign = if negative { 0xff } else { 0 };
    if bytes[..8].iter().all(|b| *b == sign) && (bytes[8] & 0x80 != 0) == negative {
        let mut low = [0u8; 16];
        low.copy_from_slice(&bytes[8..]);
        i128::from_be_bytes(low)
    } else if negative {
        i128::MIN
    } else {
        i128::MAX
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_configs_name_the_problem() {
        let err = |json: &str| MedianConfig::decode(json.as_bytes()).unwrap_err().to_string();
        assert!(err("").contains("empty"));
        assert!(err("{").contains("median offchain config"));
        assert!(
            err(r#"{"version":2,"value_source":"p","deviation_threshold_ppb":1,"heartbeat_seconds":1}"#)
                .contains("version 2")
        );
        assert!(
            err(r#"{"version":1,"value_source":" ","deviation_threshold_ppb":1,"heartbeat_seconds":1}"#)
                .contains("value_source")
        );
        assert!(
            err(r#"{"version":1,"value_source":"p","deviation_threshold_ppb":1,"heartbeat_seconds":0}"#)
                .contains("heartbeat_seconds")
        );
        assert!(
            err(r#"{"version":1,"value_source":"p","deviation_threshold_ppb":1,"heartbeat_seconds":1,"typo":1}"#)
                .contains("typo")
        );
    }

    #[test]
    fn config_round_trips_through_json() {
        let config = MedianConfig {
            version: 1,
            value_source: "eth-usd".into(),
            juels_per_fee_coin_source: Some("juels".into()),
            deviation_threshold_ppb: 5_000_000,
            heartbeat_seconds: 60,
        };
        assert_eq!(MedianConfig::decode(config.to_json().as_bytes()).unwrap(), config);
    }

    #[test]
    fn onchain_bounds_read_the_reference_vector() {
        // The onchain config of shared/vectors/evm.json: version 1, min = -(2^191-1), max = 2^191-1.
        let hex = "018000000000000000000000000000000000000000000000017fffffffffffffffffffffffffffffffffffffffffffffff";
        let bytes: Vec<u8> =
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
        let bounds = AnswerBounds::decode(&bytes).unwrap();
        assert_eq!((bounds.min, bounds.max), (i128::MIN, i128::MAX));
        let small = AnswerBounds { min: -5, max: 1_000_000 };
        assert_eq!(AnswerBounds::decode(&small.encode()).unwrap(), small);
        assert!(AnswerBounds::decode(&[1, 2, 3]).is_err());
        let inverted = AnswerBounds { min: 5, max: -5 };
        assert!(AnswerBounds::decode(&inverted.encode()).is_err());
    }
}
