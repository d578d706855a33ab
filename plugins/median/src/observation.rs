//! The median observation: what one oracle saw, in a fixed 37-byte layout.

use ocr_plugin_sdk::PluginError;

/// One oracle's observation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MedianObservation {
    /// When the oracle observed, in Unix seconds.
    pub timestamp: u32,
    /// The observed value.
    pub value: i128,
    /// Juels per fee coin, for billing.
    pub juels_per_fee_coin: i128,
}

impl MedianObservation {
    /// Layout version.
    pub const VERSION: u8 = 1;
    /// Encoded length: version, timestamp, value, juels.
    pub const ENCODED_LEN: usize = 1 + 4 + 16 + 16;

    /// Encodes the observation.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::ENCODED_LEN);
        out.push(Self::VERSION);
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.value.to_be_bytes());
        out.extend_from_slice(&self.juels_per_fee_coin.to_be_bytes());
        out
    }

    /// Decodes an (untrusted) observation.
    pub fn decode(bytes: &[u8]) -> Result<Self, PluginError> {
        if bytes.len() != Self::ENCODED_LEN {
            return Err(PluginError::invalid_input(format!(
                "observation is {} bytes, expected {}",
                bytes.len(),
                Self::ENCODED_LEN
            )));
        }
        if bytes[0] != Self::VERSION {
            return Err(PluginError::invalid_input(format!("observation version {} is not 1", bytes[0])));
        }
        let mut ts = [0u8; 4];
        ts.copy_from_slice(&bytes[1..5]);
        let mut value = [0u8; 16];
        value.copy_from_slice(&bytes[5..21]);
        let mut juels = [0u8; 16];
        juels.copy_from_slice(&bytes[21..37]);
        Ok(Self {
            timestamp: u32::from_be_bytes(ts),
            value: i128::from_be_bytes(value),
            juels_per_fee_coin: i128::from_be_bytes(juels),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips(timestamp: u32, value: i128, juels: i128) {
            let o = MedianObservation { timestamp, value, juels_per_fee_coin: juels };
            prop_assert_eq!(MedianObservation::decode(&o.encode()).unwrap(), o);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes: Vec<u8>) {
            let _ = MedianObservation::decode(&bytes);
        }
    }
}
