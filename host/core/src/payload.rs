//! The exact bytes behind every signature and digest of the protocol
//! (reference §9). Each payload is a transcript: a label naming the kind, the
//! config digest and the epoch (the "outcome generation id"), then the fields
//! in a fixed order with explicit lengths, so two different messages can
//! never produce the same bytes.
//!
//! The labels and field orders follow libocr's OCR3; the leader and
//! transmission permutations do not (see [`crate::permutation`]), so this
//! node does not interoperate with Go nodes, and the payloads drop libocr's
//! legacy quirks (the repeated digest in SignedObservation, the pre-"31"
//! timestamp signature).

use ocr_plugin_sdk::{AttributedObservation, ConfigDigest};
use sha2::{Digest, Sha256};

/// A 32-byte SHA-256 digest.
pub type Hash = [u8; 32];

/// Which protocol instance and epoch a payload belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ogid {
    /// The instance.
    pub config_digest: ConfigDigest,
    /// The epoch.
    pub epoch: u64,
}

struct Transcript(Vec<u8>);

impl Transcript {
    fn new(label: &str) -> Self {
        Self(label.as_bytes().to_vec())
    }
    fn bound(label: &str, ogid: &Ogid) -> Self {
        Self::new(label).raw(&ogid.config_digest.0).u64(ogid.epoch)
    }
    fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn byte(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    fn raw(mut self, bytes: &[u8]) -> Self {
        self.0.extend_from_slice(bytes);
        self
    }
    fn bytes(self, bytes: &[u8]) -> Self {
        self.u64(bytes.len() as u64).raw(bytes)
    }
    fn done(self) -> Vec<u8> {
        self.0
    }
}

/// An observation signed by its observer, bound to the leader's query.
pub fn signed_observation(ogid: &Ogid, seq_nr: u64, query: &[u8], observation: &[u8]) -> Vec<u8> {
    Transcript::bound("ocr3 SignedObservation", ogid).u64(seq_nr).bytes(query).bytes(observation).done()
}

/// The digest of everything an outcome was computed from.
pub fn outcome_inputs_digest(
    ogid: &Ogid,
    previous_outcome: &[u8],
    seq_nr: u64,
    query: &[u8],
    observations: &[AttributedObservation],
) -> Hash {
    let mut t = Transcript::bound("ocr3 OutcomeInputsDigest", ogid)
        .bytes(previous_outcome)
        .u64(seq_nr)
        .bytes(query)
        .u64(observations.len() as u64);
    for ao in observations {
        t = t.bytes(&ao.observation).u64(u64::from(ao.observer));
    }
    Sha256::digest(t.done()).into()
}

/// The digest of an outcome.
pub fn outcome_digest(outcome: &[u8]) -> Hash {
    Sha256::digest(outcome).into()
}

/// A prepare: this oracle computed `outcome_digest` from `inputs_digest`.
pub fn prepare(ogid: &Ogid, seq_nr: u64, inputs_digest: &Hash, outcome_digest: &Hash) -> Vec<u8> {
    Transcript::bound("ocr3 PrepareSignature", ogid).u64(seq_nr).raw(inputs_digest).raw(outcome_digest).done()
}

/// A commit: this oracle holds a prepare certificate for `outcome_digest`.
pub fn commit(ogid: &Ogid, seq_nr: u64, outcome_digest: &Hash) -> Vec<u8> {
    Transcript::bound("ocr3 CommitSignature", ogid).u64(seq_nr).raw(outcome_digest).done()
}

/// The position of a certificate: by seq-nr, then committed above prepared,
/// then by epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct CertifiedTimestamp {
    /// The certificate's seq-nr.
    pub seq_nr: u64,
    /// Whether it certifies a commit (else a prepare).
    pub committed: bool,
    /// The epoch it was certified in.
    pub epoch: u64,
}

/// An oracle's claim, in epoch `ogid.epoch`, that its highest certificate is at `ts`.
pub fn highest_certified_timestamp(ogid: &Ogid, ts: &CertifiedTimestamp) -> Vec<u8> {
    Transcript::bound("ocr3 SignedHighestCertifiedTimestamp", ogid)
        .u64(ts.seq_nr)
        .byte(u8::from(ts.committed))
        .u64(ts.epoch)
        .done()
}

/// The leader's start of a round with its query.
pub fn round_start(ogid: &Ogid, seq_nr: u64, query: &[u8]) -> Vec<u8> {
    Transcript::bound("ocr3 RoundStartSignature", ogid).u64(seq_nr).bytes(query).done()
}

/// The leader's epoch start over the certificate it chose and the proof.
pub fn epoch_start(ogid: &Ogid, highest_certified_digest: &Hash, proof: &[(CertifiedTimestamp, u8)]) -> Vec<u8> {
    let mut t =
        Transcript::bound("ocr3 EpochStartSignature", ogid).raw(highest_certified_digest).u64(proof.len() as u64);
    for (ts, signer) in proof {
        t = t.u64(ts.seq_nr).byte(u8::from(ts.committed)).u64(ts.epoch).u64(u64::from(*signer));
    }
    t.done()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ogid(epoch: u64) -> Ogid {
        Ogid { config_digest: ConfigDigest([9; 32]), epoch }
    }

    #[test]
    fn payloads_are_bound_to_instance_epoch_and_kind() {
        let h = [1u8; 32];
        let base = prepare(&ogid(1), 5, &h, &h);
        assert_ne!(base, prepare(&ogid(2), 5, &h, &h), "epoch");
        let other_instance = Ogid { config_digest: ConfigDigest([8; 32]), epoch: 1 };
        assert_ne!(base, prepare(&other_instance, 5, &h, &h), "instance");
        assert_ne!(base, prepare(&ogid(1), 6, &h, &h), "seq-nr");
        assert!(!commit(&ogid(1), 5, &h).starts_with(b"ocr3 Prepare"), "kind");
        // Length prefixes keep field boundaries: moving a byte between query
        // and observation changes the payload.
        assert_ne!(signed_observation(&ogid(1), 1, b"ab", b"c"), signed_observation(&ogid(1), 1, b"a", b"bc"));
    }

    #[test]
    fn timestamps_order_by_seq_nr_then_commit_then_epoch() {
        let ts = |seq_nr, committed, epoch| CertifiedTimestamp { seq_nr, committed, epoch };
        assert!(ts(2, false, 1) > ts(1, true, 9));
        assert!(ts(2, true, 1) > ts(2, false, 9));
        assert!(ts(2, false, 3) > ts(2, false, 2));
        assert_eq!(CertifiedTimestamp::default(), ts(0, false, 0));
    }
}
