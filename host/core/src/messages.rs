//! The protocol's messages (reference §8) and the size checks every inbound
//! message passes before any signature is looked at. The sender of a message
//! is never read from it: the authenticated transport says who sent it.

use crate::certificate::{Certificate, CertifiedCommit};
use crate::payload::CertifiedTimestamp;
use crate::signing::Signature;

/// An observation with its observer's signature over (instance, epoch,
/// seq-nr, query, observation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedObservation {
    /// The observation.
    pub observation: Vec<u8>,
    /// The observer's signature.
    pub signature: Signature,
}

/// A signed observation and who made it, as a proposal carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttributedSignedObservation {
    /// The observation and its signature.
    pub signed: SignedObservation,
    /// The observer.
    pub observer: u8,
}

/// A signed claim about the sender's highest certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCertifiedTimestamp {
    /// The claim.
    pub timestamp: CertifiedTimestamp,
    /// The signature over it (bound to the epoch it is sent in).
    pub signature: Signature,
}

/// Every message of the protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Pacemaker: the sender wants epoch `epoch`.
    NewEpochWish {
        /// The epoch.
        epoch: u64,
    },
    /// To the new leader: the sender's highest certificate.
    EpochStartRequest {
        /// The epoch.
        epoch: u64,
        /// The sender's lock.
        highest_certified: Certificate,
        /// The sender's signed claim about it.
        signed_timestamp: SignedCertifiedTimestamp,
    },
    /// From the leader: the certificate the epoch continues from, and proof
    /// that it is the highest among a byzantine quorum.
    EpochStart {
        /// The epoch.
        epoch: u64,
        /// The chosen certificate.
        highest_certified: Certificate,
        /// byzQuorum signed claims, one of which is the chosen certificate's.
        proof: Vec<(u8, SignedCertifiedTimestamp)>,
        /// The leader's signature over all of it.
        signature: Signature,
    },
    /// From the leader: start round `seq_nr` with this query.
    RoundStart {
        /// The epoch.
        epoch: u64,
        /// The round.
        seq_nr: u64,
        /// The query.
        query: Vec<u8>,
        /// The leader's signature.
        signature: Signature,
    },
    /// To the leader: the sender's observation.
    Observation {
        /// The epoch.
        epoch: u64,
        /// The round.
        seq_nr: u64,
        /// The signed observation.
        signed: SignedObservation,
    },
    /// From the leader: the observations the outcome is computed from.
    Proposal {
        /// The epoch.
        epoch: u64,
        /// The round.
        seq_nr: u64,
        /// The observations.
        observations: Vec<AttributedSignedObservation>,
    },
    /// The sender prepared the outcome it computed for `seq_nr`.
    Prepare {
        /// The epoch.
        epoch: u64,
        /// The round.
        seq_nr: u64,
        /// Its prepare signature.
        signature: Signature,
    },
    /// The sender holds a prepare certificate for `seq_nr`.
    Commit {
        /// The epoch.
        epoch: u64,
        /// The round.
        seq_nr: u64,
        /// Its commit signature.
        signature: Signature,
    },
    /// The sender's onchain signatures over the reports of `seq_nr`.
    ReportSignatures {
        /// The outcome's seq-nr.
        seq_nr: u64,
        /// One signature per report, in report order.
        signatures: Vec<Vec<u8>>,
    },
    /// Please send me the certified commit of `seq_nr`.
    CertifiedCommitRequest {
        /// The seq-nr.
        seq_nr: u64,
    },
    /// A certified commit, answering a request.
    CertifiedCommit(CertifiedCommit),
}

/// The bounds inbound messages are checked against.
#[derive(Clone, Copy, Debug)]
pub struct MessageLimits {
    /// Number of oracles.
    pub n: usize,
    /// byzQuorum.
    pub quorum: usize,
    /// The plugin's limits (capped by the OCR3 maxima).
    pub max_query_length: usize,
    /// Longest observation.
    pub max_observation_length: usize,
    /// Longest outcome.
    pub max_outcome_length: usize,
    /// Most reports per outcome.
    pub max_report_count: usize,
    /// Longest onchain signature.
    pub max_report_signature_length: usize,
}

impl MessageLimits {
    /// Small limits for `n` oracles (f the largest with 3f < n), so a fuzzer
    /// reaches every bound: what the fuzz targets of the wire codec and the
    /// tests replaying their corpora use.
    pub fn for_fuzzing(n: usize) -> Self {
        let f = n.saturating_sub(1) / 3;
        Self {
            n,
            quorum: (n + f) / 2 + 1,
            max_query_length: 64,
            max_observation_length: 64,
            max_outcome_length: 256,
            max_report_count: 4,
            max_report_signature_length: 65,
        }
    }

    /// The limits of an instance running a plugin that declared
    /// `plugin_limits` (capped at the OCR3 maxima).
    pub fn new(config: &crate::PublicConfig, plugin_limits: &ocr_plugin_api::PluginLimits) -> Self {
        let effective = ocr_plugin_api::EffectiveLimits::new(plugin_limits);
        Self {
            n: config.n(),
            quorum: config.byzantine_quorum(),
            max_query_length: effective.max_query_length,
            max_observation_length: effective.max_observation_length,
            max_outcome_length: effective.max_outcome_length,
            max_report_count: effective.max_report_count,
            max_report_signature_length: crate::onchain::SIGNATURE_LENGTH,
        }
    }
}

/// Why a message was refused before any signature work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// A field is larger than its limit.
    #[error("{kind}: {what} is {len}, the limit is {limit}")]
    TooLarge {
        /// The message kind.
        kind: &'static str,
        /// The field.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A certificate or proof does not have byzQuorum entries, or names an
    /// oracle that does not exist.
    #[error("{kind}: {what}")]
    Malformed {
        /// The message kind.
        kind: &'static str,
        /// What is wrong.
        what: &'static str,
    },
}

/// (outcome length, genesis?, signatures) of a commit, without copying it.
fn commit(c: &CertifiedCommit) -> (usize, bool, &[(u8, Signature)]) {
    (c.outcome.len(), c.is_genesis(), c.signatures.as_slice())
}

/// The same for either kind of certificate.
fn cert_parts(c: &Certificate) -> (usize, bool, &[(u8, Signature)]) {
    match c {
        Certificate::Prepare(p) => (p.outcome.len(), false, p.signatures.as_slice()),
        Certificate::Commit(c) => commit(c),
    }
}

impl Message {
    /// The epoch an outcome-generation message belongs to (`None` for the
    /// pacemaker's and report attestation's messages).
    pub fn epoch_mut(&mut self) -> Option<&mut u64> {
        match self {
            Message::EpochStartRequest { epoch, .. }
            | Message::EpochStart { epoch, .. }
            | Message::RoundStart { epoch, .. }
            | Message::Observation { epoch, .. }
            | Message::Proposal { epoch, .. }
            | Message::Prepare { epoch, .. }
            | Message::Commit { epoch, .. } => Some(epoch),
            _ => None,
        }
    }

    /// The epoch of an outcome-generation message (see [`Self::epoch_mut`]).
    pub fn epoch(&self) -> Option<u64> {
        match self {
            Message::EpochStartRequest { epoch, .. }
            | Message::EpochStart { epoch, .. }
            | Message::RoundStart { epoch, .. }
            | Message::Observation { epoch, .. }
            | Message::Proposal { epoch, .. }
            | Message::Prepare { epoch, .. }
            | Message::Commit { epoch, .. } => Some(*epoch),
            _ => None,
        }
    }

    /// A short name of the kind, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::NewEpochWish { .. } => "new_epoch_wish",
            Message::EpochStartRequest { .. } => "epoch_start_request",
            Message::EpochStart { .. } => "epoch_start",
            Message::RoundStart { .. } => "round_start",
            Message::Observation { .. } => "observation",
            Message::Proposal { .. } => "proposal",
            Message::Prepare { .. } => "prepare",
            Message::Commit { .. } => "commit",
            Message::ReportSignatures { .. } => "report_signatures",
            Message::CertifiedCommitRequest { .. } => "certified_commit_request",
            Message::CertifiedCommit(_) => "certified_commit",
        }
    }

    /// Checks sizes and shapes against `limits`.
    pub fn check_size(&self, limits: &MessageLimits) -> Result<(), SizeError> {
        let kind = self.kind();
        let at_most = |what, len: usize, limit: usize| {
            if len > limit { Err(SizeError::TooLarge { kind, what, len, limit }) } else { Ok(()) }
        };
        let cert = |(outcome_len, genesis, signatures): (usize, bool, &[(u8, Signature)])| -> Result<(), SizeError> {
            at_most("outcome", outcome_len, limits.max_outcome_length)?;
            if genesis {
                return Ok(());
            }
            if signatures.len() != limits.quorum || signatures.iter().any(|(s, _)| usize::from(*s) >= limits.n) {
                return Err(SizeError::Malformed { kind, what: "certificate is not a quorum of known oracles" });
            }
            Ok(())
        };
        match self {
            Message::NewEpochWish { .. } | Message::Prepare { .. } | Message::Commit { .. } => Ok(()),
            Message::CertifiedCommitRequest { .. } => Ok(()),
            Message::EpochStartRequest { highest_certified, .. } => cert(cert_parts(highest_certified)),
            Message::EpochStart { highest_certified, proof, .. } => {
                cert(cert_parts(highest_certified))?;
                if proof.len() != limits.quorum || proof.iter().any(|(s, _)| usize::from(*s) >= limits.n) {
                    return Err(SizeError::Malformed { kind, what: "proof is not a quorum of known oracles" });
                }
                Ok(())
            }
            Message::RoundStart { query, .. } => at_most("query", query.len(), limits.max_query_length),
            Message::Observation { signed, .. } => {
                at_most("observation", signed.observation.len(), limits.max_observation_length)
            }
            Message::Proposal { observations, .. } => {
                at_most("observation count", observations.len(), limits.n)?;
                for o in observations {
                    at_most("observation", o.signed.observation.len(), limits.max_observation_length)?;
                }
                Ok(())
            }
            Message::ReportSignatures { signatures, .. } => {
                at_most("report count", signatures.len(), limits.max_report_count)?;
                for s in signatures {
                    at_most("report signature", s.len(), limits.max_report_signature_length)?;
                }
                Ok(())
            }
            Message::CertifiedCommit(c) => cert(commit(c)),
        }
    }
}
