//! One report per feed that moved, in an EVM layout:
//! `abi.encode(bytes32 feedId, int192 value, uint32 observationsTimestamp,
//! uint64 seqNr)`.

use ocr_plugin_sdk::PluginError;
use ocr_plugin_sdk::abi::{self, Token};

/// A decoded feed report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedReport {
    /// The feed id, left-aligned.
    pub feed_id: [u8; 32],
    /// The median value.
    pub value: i128,
    /// The median observation time.
    pub observations_timestamp: u32,
    /// The seq-nr of the outcome it came from.
    pub seq_nr: u64,
}

impl FeedReport {
    /// Encoded length: four words.
    pub const LEN: usize = 4 * 32;

    /// Encodes the report.
    pub fn encode(&self) -> Vec<u8> {
        abi::encode(&[
            Token::FixedBytes32(self.feed_id),
            Token::Int(self.value),
            Token::Uint(self.observations_timestamp.into()),
            Token::Uint(self.seq_nr.into()),
        ])
    }

    /// Decodes a report of exactly this layout.
    pub fn decode(bytes: &[u8]) -> Result<Self, PluginError> {
        let bad = |e: abi::AbiError| PluginError::invalid_input(format!("feed report: {e}"));
        if bytes.len() != Self::LEN {
            return Err(PluginError::invalid_input(format!("feed report: {} bytes, not {}", bytes.len(), Self::LEN)));
        }
        let r = abi::Reader::new(bytes);
        let observations_timestamp = u32::try_from(r.uint(2).map_err(bad)?)
            .map_err(|_| PluginError::invalid_input("feed report: timestamp exceeds uint32"))?;
        let seq_nr = u64::try_from(r.uint(3).map_err(bad)?)
            .map_err(|_| PluginError::invalid_input("feed report: seq-nr exceeds uint64"))?;
        Ok(Self { feed_id: *r.word(0).map_err(bad)?, value: r.int(1).map_err(bad)?, observations_timestamp, seq_nr })
    }
}
