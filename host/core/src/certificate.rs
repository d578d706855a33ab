//! Certificates: byzantine-quorum sets of prepare or commit signatures, and
//! the "highest certified" lock each oracle persists (reference §5, §9).
//! A certificate verifies only with exactly byzQuorum distinct, in-range
//! signers whose signatures are valid for this instance and the certificate's
//! epoch.

use ocr_plugin_sdk::ConfigDigest;

use crate::payload::{self, CertifiedTimestamp, Hash, Ogid};
use crate::signing::{self, PublicKey, Signature};

/// A prepare quorum certificate: byzQuorum oracles prepared `outcome`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertifiedPrepare {
    /// The epoch of the prepares.
    pub epoch: u64,
    /// The seq-nr.
    pub seq_nr: u64,
    /// What the outcome was computed from (zero for a re-proposal).
    pub inputs_digest: Hash,
    /// The outcome.
    pub outcome: Vec<u8>,
    /// (signer, prepare signature), ascending by signer.
    pub signatures: Vec<(u8, Signature)>,
}

/// A commit quorum certificate: `outcome` is committed at `seq_nr`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CertifiedCommit {
    /// The epoch of the commits.
    pub epoch: u64,
    /// The seq-nr (0 for genesis).
    pub seq_nr: u64,
    /// The outcome.
    pub outcome: Vec<u8>,
    /// (signer, commit signature), ascending by signer; empty for genesis.
    pub signatures: Vec<(u8, Signature)>,
}

impl CertifiedCommit {
    /// The certificate every instance starts from.
    pub fn genesis() -> Self {
        Self::default()
    }

    /// Whether this is the genesis certificate.
    pub fn is_genesis(&self) -> bool {
        self.seq_nr == 0 && self.epoch == 0 && self.outcome.is_empty() && self.signatures.is_empty()
    }
}

/// The highest certificate an oracle holds: its lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Certificate {
    /// A prepare certificate.
    Prepare(CertifiedPrepare),
    /// A commit certificate.
    Commit(CertifiedCommit),
}

/// What certificate verification needs to know about the instance.
pub struct Verifier<'a> {
    /// The instance.
    pub config_digest: ConfigDigest,
    /// Offchain keys by oracle id.
    pub keys: &'a [PublicKey],
    /// byzQuorum.
    pub quorum: usize,
}

impl Verifier<'_> {
    fn quorum_of(&self, signatures: &[(u8, Signature)], payload: &[u8]) -> bool {
        if signatures.len() != self.quorum {
            return false;
        }
        let mut seen = [false; 256];
        let mut items = Vec::with_capacity(signatures.len());
        for (signer, signature) in signatures {
            let Some(key) = self.keys.get(usize::from(*signer)) else { return false };
            if std::mem::replace(&mut seen[usize::from(*signer)], true) {
                return false;
            }
            items.push((key, payload, signature));
        }
        signing::verify_all(&items)
    }
}

impl Certificate {
    /// Where this certificate stands in the order of certificates.
    pub fn timestamp(&self) -> CertifiedTimestamp {
        match self {
            Certificate::Prepare(p) => CertifiedTimestamp { seq_nr: p.seq_nr, committed: false, epoch: p.epoch },
            Certificate::Commit(c) => CertifiedTimestamp { seq_nr: c.seq_nr, committed: true, epoch: c.epoch },
        }
    }

    /// The certified outcome.
    pub fn outcome(&self) -> &[u8] {
        match self {
            Certificate::Prepare(p) => &p.outcome,
            Certificate::Commit(c) => &c.outcome,
        }
    }

    /// Whether the signatures prove what the certificate claims.
    pub fn verify(&self, v: &Verifier<'_>) -> bool {
        match self {
            Certificate::Prepare(p) => {
                let ogid = Ogid { config_digest: v.config_digest, epoch: p.epoch };
                let outcome_digest = payload::outcome_digest(&p.outcome);
                v.quorum_of(&p.signatures, &payload::prepare(&ogid, p.seq_nr, &p.inputs_digest, &outcome_digest))
            }
            Certificate::Commit(c) if c.is_genesis() => true,
            Certificate::Commit(c) => {
                let ogid = Ogid { config_digest: v.config_digest, epoch: c.epoch };
                v.quorum_of(&c.signatures, &payload::commit(&ogid, c.seq_nr, &payload::outcome_digest(&c.outcome)))
            }
        }
    }

    /// A digest naming this certificate (for the epoch-start signature).
    pub fn digest(&self) -> Hash {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        let ts = self.timestamp();
        h.update(b"ocr3 CertificateDigest");
        h.update([u8::from(ts.committed)]);
        h.update(ts.epoch.to_be_bytes());
        h.update(ts.seq_nr.to_be_bytes());
        if let Certificate::Prepare(p) = self {
            h.update(p.inputs_digest);
        }
        h.update((self.outcome().len() as u64).to_be_bytes());
        h.update(self.outcome());
        let signatures = match self {
            Certificate::Prepare(p) => &p.signatures,
            Certificate::Commit(c) => &c.signatures,
        };
        for (signer, signature) in signatures {
            h.update([*signer]);
            h.update(signature);
        }
        h.finalize().into()
    }
}
