//! Quorum sizes, as libocr's `quorumhelper` and `byzquorum` define them.

use crate::{AttributedObservationRef, OracleId};

/// The four quorums plugins commonly ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quorum {
    /// At least f+1: at least one honest oracle.
    FPlusOne,
    /// At least 2f+1: honest oracles outnumber faulty ones.
    TwoFPlusOne,
    /// At least `floor((n+f)/2)+1`: any two such sets share an honest oracle.
    ByzQuorum,
    /// At least n−f: every honest oracle, in the worst case.
    NMinusF,
}

impl Quorum {
    /// The number of oracles this quorum needs for `n` oracles of which at
    /// most `f` are faulty.
    pub fn threshold(self, n: u8, f: u8) -> usize {
        let (n, f) = (usize::from(n), usize::from(f));
        match self {
            Quorum::FPlusOne => f + 1,
            Quorum::TwoFPlusOne => 2 * f + 1,
            Quorum::ByzQuorum => byzantine_quorum(n, f),
            Quorum::NMinusF => n.saturating_sub(f),
        }
    }

    /// Whether `count` oracles meet the quorum.
    pub fn is_met(self, n: u8, f: u8, count: usize) -> bool {
        count >= self.threshold(n, f)
    }
}

/// `floor((n+f)/2) + 1`, the size of every OCR3 certificate.
pub fn byzantine_quorum(n: usize, f: usize) -> usize {
    (n + f) / 2 + 1
}

/// The number of distinct observers in `observations`. The protocol never
/// hands a plugin two observations from one oracle, but counting distinct
/// observers keeps a quorum check honest even if it did.
pub fn distinct_observers(observations: &[AttributedObservationRef<'_>]) -> usize {
    let mut seen = [false; 256];
    let mut count = 0;
    for ao in observations {
        let slot = &mut seen[usize::from(ao.observer as OracleId)];
        if !*slot {
            *slot = true;
            count += 1;
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_match_the_reference_table() {
        // (n, f, byzQuorum) from the OCR3 reference.
        for (n, f, byz) in [(4, 1, 3), (5, 1, 4), (7, 2, 5), (10, 3, 7), (31, 10, 21)] {
            assert_eq!(Quorum::ByzQuorum.threshold(n, f), byz, "n={n} f={f}");
            assert_eq!(Quorum::FPlusOne.threshold(n, f), usize::from(f) + 1);
            assert_eq!(Quorum::TwoFPlusOne.threshold(n, f), 2 * usize::from(f) + 1);
            assert_eq!(Quorum::NMinusF.threshold(n, f), usize::from(n - f));
        }
        assert!(Quorum::TwoFPlusOne.is_met(4, 1, 3));
        assert!(!Quorum::TwoFPlusOne.is_met(4, 1, 2));
    }

    #[test]
    fn distinct_observers_ignores_duplicates() {
        let ao = |o| AttributedObservationRef { observation: &[], observer: o };
        assert_eq!(distinct_observers(&[ao(1), ao(2), ao(1), ao(255)]), 3);
    }
}
