//! The OCR2 median report in its EVM layout, so existing decoders read it:
//! `abi.encode(uint32 observationsTimestamp, bytes32 observers,
//! int192[] observations, int192 juelsPerFeeCoin)`, observations ascending and
//! byte i of `observers` the oracle behind `observations[i]`.

use ocr_plugin_sdk::abi::{self, Token};
use ocr_plugin_sdk::{OracleId, PluginError};

/// A decoded median report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MedianReport {
    /// Median of the observation timestamps.
    pub observations_timestamp: u32,
    /// Observers in the order of `observations`.
    pub observers: Vec<OracleId>,
    /// Observed values, ascending.
    pub observations: Vec<i128>,
    /// Median juels per fee coin.
    pub juels_per_fee_coin: i128,
}

/// The longest report for `n` oracles: five head/length words plus one word
/// per observation.
pub fn max_report_length(n: u8) -> usize {
    32 * 5 + 32 * usize::from(n)
}

impl MedianReport {
    /// The answer the contract stores: `observations[len / 2]`.
    pub fn median(&self) -> Option<i128> {
        self.observations.get(self.observations.len() / 2).copied()
    }

    /// Encodes the report. At most 32 observers fit the `bytes32`.
    pub fn encode(&self) -> Vec<u8> {
        let mut observers = [0u8; 32];
        for (slot, o) in observers.iter_mut().zip(&self.observers) {
            *slot = *o;
        }
        abi::encode(&[
            Token::Uint(self.observations_timestamp.into()),
            Token::FixedBytes32(observers),
            Token::IntArray(self.observations.clone()),
            Token::Int(self.juels_per_fee_coin),
        ])
    }

    /// Decodes a report, checking its exact length as the contract does.
    pub fn decode(bytes: &[u8]) -> Result<Self, PluginError> {
        let bad = |e: abi::AbiError| PluginError::invalid_input(format!("median report: {e}"));
        let r = abi::Reader::new(bytes);
        let ts = r.uint(0).map_err(bad)?;
        let observers_word = r.word(1).map_err(bad)?;
        let observations = r.int_array(2).map_err(bad)?;
        let juels = r.int(3).map_err(bad)?;
        let observations_timestamp =
            u32::try_from(ts).map_err(|_| PluginError::invalid_input("median report: timestamp exceeds uint32"))?;
        if observations.is_empty() || observations.len() > 32 {
            return Err(PluginError::invalid_input("median report: 1 to 32 observations expected"));
        }
        if bytes.len() != 32 * 5 + 32 * observations.len() {
            return Err(PluginError::invalid_input("median report: wrong length"));
        }
        Ok(Self {
            observations_timestamp,
            observers: observers_word[..observations.len()].to_vec(),
            observations,
            juels_per_fee_coin: juels,
        })
    }
}
