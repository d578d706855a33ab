//! The median outcome: the aggregated observations of one round, whether this
//! round reports, and the last reported answer carried forward so the next
//! round can decide on deviation and heartbeat from committed state alone.

use ocr_plugin_sdk::{OracleId, PluginError, SeqNr};

/// The last answer this feed reported, carried from outcome to outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastReport {
    /// The reported median.
    pub value: i128,
    /// Its observations timestamp.
    pub timestamp: u32,
    /// The seq-nr of the outcome that reported it.
    pub seq_nr: SeqNr,
}

/// Why an outcome reports (or not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nothing reported yet.
    FirstRound,
    /// The median moved by at least the threshold.
    Deviation,
    /// The heartbeat interval passed.
    Heartbeat,
    /// No reason to report.
    Skip,
    /// The median lies outside the onchain answer bounds, where the contract
    /// would reject it: no report (OCR2's rule).
    OutOfBounds,
}

impl Decision {
    /// Whether the outcome produces a report.
    pub fn reports(self) -> bool {
        matches!(self, Decision::FirstRound | Decision::Deviation | Decision::Heartbeat)
    }

    fn code(self) -> u8 {
        match self {
            Decision::Skip => 0,
            Decision::FirstRound => 1,
            Decision::Deviation => 2,
            Decision::Heartbeat => 3,
            Decision::OutOfBounds => 4,
        }
    }

    fn from_code(code: u8) -> Result<Self, PluginError> {
        Ok(match code {
            0 => Decision::Skip,
            1 => Decision::FirstRound,
            2 => Decision::Deviation,
            3 => Decision::Heartbeat,
            4 => Decision::OutOfBounds,
            other => return Err(PluginError::invalid_input(format!("outcome decision code {other}"))),
        })
    }
}

/// The outcome of one round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MedianOutcome {
    /// Whether and why this outcome reports.
    pub decision: Decision,
    /// The last reported answer as of this outcome (this one's, if it
    /// reports); `None` until the feed has reported once.
    pub last_report: Option<LastReport>,
    /// Median of the observation timestamps.
    pub observations_timestamp: u32,
    /// Median juels per fee coin.
    pub juels_per_fee_coin: i128,
    /// The observations as (observer, value), sorted by value then observer.
    pub observations: Vec<(OracleId, i128)>,
}

const VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 1 + (1 + 16 + 4 + 8) + 4 + 16 + 1;
const ENTRY_LEN: usize = 1 + 16;

/// The longest outcome for `n` oracles.
pub fn max_outcome_length(n: u8) -> usize {
    HEADER_LEN + ENTRY_LEN * usize::from(n)
}

impl MedianOutcome {
    /// The median value (`None` only for an outcome without observations,
    /// which `decode` never returns).
    pub fn median(&self) -> Option<i128> {
        self.observations.get(self.observations.len() / 2).map(|(_, v)| *v)
    }

    /// Encodes the outcome.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + ENTRY_LEN * self.observations.len());
        out.push(VERSION);
        out.push(self.decision.code());
        let last = self.last_report.unwrap_or(LastReport { value: 0, timestamp: 0, seq_nr: 0 });
        out.push(u8::from(self.last_report.is_some()));
        out.extend_from_slice(&last.value.to_be_bytes());
        out.extend_from_slice(&last.timestamp.to_be_bytes());
        out.extend_from_slice(&last.seq_nr.to_be_bytes());
        out.extend_from_slice(&self.observations_timestamp.to_be_bytes());
        out.extend_from_slice(&self.juels_per_fee_coin.to_be_bytes());
        // At most 31 observers (n <= 31); the constructor guarantees it.
        out.push(self.observations.len() as u8);
        for (observer, value) in &self.observations {
            out.push(*observer);
            out.extend_from_slice(&value.to_be_bytes());
        }
        out
    }

    /// Decodes an outcome. Outcomes are committed by a quorum, but a decoder
    /// that never panics costs nothing and protects against plugin upgrades.
    pub fn decode(bytes: &[u8]) -> Result<Self, PluginError> {
        let mut r = Cursor { bytes, at: 0 };
        let version = r.u8()?;
        if version != VERSION {
            return Err(PluginError::invalid_input(format!("outcome version {version} is not {VERSION}")));
        }
        let decision = Decision::from_code(r.u8()?)?;
        let present = match r.u8()? {
            0 => false,
            1 => true,
            other => return Err(PluginError::invalid_input(format!("outcome last-report flag {other}"))),
        };
        let last = LastReport { value: r.i128()?, timestamp: r.u32()?, seq_nr: r.u64()? };
        let last_report = present.then_some(last);
        let observations_timestamp = r.u32()?;
        let juels_per_fee_coin = r.i128()?;
        let count = usize::from(r.u8()?);
        if count == 0 {
            return Err(PluginError::invalid_input("outcome has no observations"));
        }
        let observations = (0..count).map(|_| Ok((r.u8()?, r.i128()?))).collect::<Result<Vec<_>, PluginError>>()?;
        if r.at != bytes.len() {
            return Err(PluginError::invalid_input("outcome has trailing bytes"));
        }
        Ok(Self { decision, last_report, observations_timestamp, juels_per_fee_coin, observations })
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], PluginError> {
        let slice =
            self.bytes.get(self.at..self.at + N).ok_or_else(|| PluginError::invalid_input("outcome is truncated"))?;
        self.at += N;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, PluginError> {
        Ok(self.take::<1>()?[0])
    }
    fn u32(&mut self) -> Result<u32, PluginError> {
        Ok(u32::from_be_bytes(self.take()?))
    }
    fn u64(&mut self) -> Result<u64, PluginError> {
        Ok(u64::from_be_bytes(self.take()?))
    }
    fn i128(&mut self) -> Result<i128, PluginError> {
        Ok(i128::from_be_bytes(self.take()?))
    }
}

/// Whether `new` deviates from `old` by at least `threshold_ppb` parts per
/// billion, computed exactly: `|new - old| * 1e9 >= threshold_ppb * |old|`.
/// A zero `old` deviates for any non-zero `new`.
pub fn deviates(old: i128, new: i128, threshold_ppb: u64) -> bool {
    if old == 0 {
        return new != 0 || threshold_ppb == 0;
    }
    let lhs = mul_wide(old.abs_diff(new), 1_000_000_000);
    let rhs = mul_wide(u128::from(threshold_ppb), old.unsigned_abs());
    lhs >= rhs
}

/// The full 256-bit product of two u128 values, as (high, low).
fn mul_wide(a: u128, b: u128) -> (u128, u128) {
    let mask = u128::from(u64::MAX);
    let (a_hi, a_lo) = (a >> 64, a & mask);
    let (b_hi, b_lo) = (b >> 64, b & mask);
    let lo_lo = a_lo * b_lo;
    let hi_lo = a_hi * b_lo;
    let lo_hi = a_lo * b_hi;
    let hi_hi = a_hi * b_hi;
    let cross = (lo_lo >> 64) + (hi_lo & mask) + (lo_hi & mask);
    let low = (cross << 64) | (lo_lo & mask);
    let high = hi_hi + (hi_lo >> 64) + (lo_hi >> 64) + (cross >> 64);
    (high, low)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn deviation_is_exact_at_the_threshold() {
        // 0.5% of 1000 is 5.
        assert!(deviates(1000, 1005, 5_000_000));
        assert!(deviates(1000, 995, 5_000_000));
        assert!(!deviates(1000, 1004, 5_000_000));
        assert!(deviates(0, 1, 5_000_000));
        assert!(!deviates(0, 0, 5_000_000));
        assert!(deviates(7, 7, 0));
        // Extremes do not overflow.
        assert!(deviates(i128::MIN, i128::MAX, 1_000_000_000));
        assert!(!deviates(i128::MIN, i128::MAX, u64::MAX));
        assert!(!deviates(i128::MAX, i128::MAX - 1, 1));
    }

    proptest! {
        #[test]
        fn mul_wide_matches_u256(a: u128, b: u128) {
            let expected = alloy_primitives::U256::from(a) * alloy_primitives::U256::from(b);
            let (hi, lo) = mul_wide(a, b);
            prop_assert_eq!(expected, (alloy_primitives::U256::from(hi) << 128) | alloy_primitives::U256::from(lo));
        }

        #[test]
        fn decode_never_panics(bytes: Vec<u8>) {
            let _ = MedianOutcome::decode(&bytes);
        }

        #[test]
        fn round_trips(values in proptest::collection::vec((0u8..31, any::<i128>()), 1..31), ts: u32, juels: i128, seq: u64) {
            let outcome = MedianOutcome {
                decision: Decision::Deviation,
                last_report: Some(LastReport { value: values[0].1, timestamp: ts, seq_nr: seq }),
                observations_timestamp: ts,
                juels_per_fee_coin: juels,
                observations: values,
            };
            let bytes = outcome.encode();
            prop_assert!(bytes.len() <= max_outcome_length(31));
            prop_assert_eq!(MedianOutcome::decode(&bytes).unwrap(), outcome);
        }
    }
}
