//! The field layout, written in one place for both directions. The sizes
//! below are shared with [`super::limits`], so the size bounds follow the
//! encoding by construction.

use crate::certificate::{Certificate, CertifiedCommit, CertifiedPrepare};
use crate::messages::{AttributedSignedObservation, Message, SignedCertifiedTimestamp, SignedObservation};
use crate::payload::CertifiedTimestamp;
use crate::signing::Signature;

use super::{DecodeError, MessageKind};

pub(super) const U64: usize = 8;
/// Length prefix of byte strings, count prefix of vectors.
pub(super) const LEN: usize = 4;
pub(super) const ORACLE: usize = 1;
pub(super) const TAG: usize = 1;
pub(super) const SIGNATURE: usize = 64;
pub(super) const HASH: usize = 32;
/// seq-nr, committed flag, epoch.
pub(super) const TIMESTAMP: usize = U64 + 1 + U64;
pub(super) const SIGNED_TIMESTAMP: usize = TIMESTAMP + SIGNATURE;
/// One certificate signature: signer and signature.
pub(super) const QUORUM_ENTRY: usize = ORACLE + SIGNATURE;
/// One entry of an epoch-start proof: signer and signed timestamp.
pub(super) const PROOF_ENTRY: usize = ORACLE + SIGNED_TIMESTAMP;
/// A proposal entry with an empty observation.
pub(super) const MIN_PROPOSAL_ENTRY: usize = LEN + SIGNATURE + ORACLE;

const TAG_PREPARE: u8 = 1;
const TAG_COMMIT: u8 = 2;

fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_be_bytes());
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    // Saturating: see `encode` on why an unrepresentable length never matters.
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

fn put_quorum(out: &mut Vec<u8>, signatures: &[(u8, Signature)]) {
    put_len(out, signatures.len());
    for (signer, signature) in signatures {
        out.push(*signer);
        out.extend_from_slice(signature);
    }
}

fn put_signed_timestamp(out: &mut Vec<u8>, signed: &SignedCertifiedTimestamp) {
    let CertifiedTimestamp { seq_nr, committed, epoch } = signed.timestamp;
    put_u64(out, seq_nr);
    out.push(u8::from(committed));
    put_u64(out, epoch);
    out.extend_from_slice(&signed.signature);
}

/// A certified commit without a tag: the body of [`Message::CertifiedCommit`].
fn put_commit(out: &mut Vec<u8>, commit: &CertifiedCommit) {
    put_u64(out, commit.epoch);
    put_u64(out, commit.seq_nr);
    put_bytes(out, &commit.outcome);
    put_quorum(out, &commit.signatures);
}

pub(super) fn put_certificate(out: &mut Vec<u8>, certificate: &Certificate) {
    match certificate {
        Certificate::Prepare(p) => {
            out.push(TAG_PREPARE);
            put_u64(out, p.epoch);
            put_u64(out, p.seq_nr);
            out.extend_from_slice(&p.inputs_digest);
            put_bytes(out, &p.outcome);
            put_quorum(out, &p.signatures);
        }
        Certificate::Commit(c) => {
            out.push(TAG_COMMIT);
            put_commit(out, c);
        }
    }
}

pub(super) fn put_message(out: &mut Vec<u8>, message: &Message) {
    match message {
        Message::NewEpochWish { epoch } => put_u64(out, *epoch),
        Message::EpochStartRequest { epoch, highest_certified, signed_timestamp } => {
            put_u64(out, *epoch);
            put_certificate(out, highest_certified);
            put_signed_timestamp(out, signed_timestamp);
        }
        Message::EpochStart { epoch, highest_certified, proof, signature } => {
            put_u64(out, *epoch);
            put_certificate(out, highest_certified);
            put_len(out, proof.len());
            for (signer, signed) in proof {
                out.push(*signer);
                put_signed_timestamp(out, signed);
            }
            out.extend_from_slice(signature);
        }
        Message::RoundStart { epoch, seq_nr, query, signature } => {
            put_u64(out, *epoch);
            put_u64(out, *seq_nr);
            put_bytes(out, query);
            out.extend_from_slice(signature);
        }
        Message::Observation { epoch, seq_nr, signed } => {
            put_u64(out, *epoch);
            put_u64(out, *seq_nr);
            put_bytes(out, &signed.observation);
            out.extend_from_slice(&signed.signature);
        }
        Message::Proposal { epoch, seq_nr, observations } => {
            put_u64(out, *epoch);
            put_u64(out, *seq_nr);
            put_len(out, observations.len());
            for o in observations {
                put_bytes(out, &o.signed.observation);
                out.extend_from_slice(&o.signed.signature);
                out.push(o.observer);
            }
        }
        Message::Prepare { epoch, seq_nr, signature } | Message::Commit { epoch, seq_nr, signature } => {
            put_u64(out, *epoch);
            put_u64(out, *seq_nr);
            out.extend_from_slice(signature);
        }
        Message::ReportSignatures { seq_nr, signatures } => {
            put_u64(out, *seq_nr);
            put_len(out, signatures.len());
            for signature in signatures {
                put_bytes(out, signature);
            }
        }
        Message::CertifiedCommitRequest { seq_nr } => put_u64(out, *seq_nr),
        Message::CertifiedCommit(commit) => put_commit(out, commit),
    }
}

/// Reads fields off the front of a byte slice. Every read checks the
/// remaining length first, so no input can make it panic or over-allocate.
pub(super) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    fn truncated(&self, field: &'static str, needed: usize) -> DecodeError {
        DecodeError::Truncated { field, needed, remaining: self.rest.len() }
    }

    fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let (head, tail) = self.rest.split_at_checked(len).ok_or_else(|| self.truncated(field, len))?;
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let (head, tail) = self.rest.split_first_chunk::<N>().ok_or_else(|| self.truncated(field, N))?;
        self.rest = tail;
        Ok(*head)
    }

    pub(super) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        let [byte] = self.array(field)?;
        Ok(byte)
    }

    pub(super) fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        self.array(field).map(u64::from_be_bytes)
    }

    fn bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(DecodeError::BadBool { field, value }),
        }
    }

    fn len(&mut self, field: &'static str) -> Result<usize, DecodeError> {
        let len = u32::from_be_bytes(self.array(field)?);
        // Only a 16-bit target could fail here; MAX then fails the length check.
        Ok(usize::try_from(len).unwrap_or(usize::MAX))
    }

    fn bytes(&mut self, field: &'static str) -> Result<Vec<u8>, DecodeError> {
        let len = self.len(field)?;
        Ok(self.take(len, field)?.to_vec())
    }

    /// A counted vector. The count is checked against the remaining bytes
    /// (each element takes at least `min_element_len > 0`) before any
    /// capacity is reserved: a four-byte count cannot reserve gigabytes.
    fn vec<T>(
        &mut self,
        field: &'static str,
        min_element_len: usize,
        mut element: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let count = self.len(field)?;
        let remaining = self.rest.len();
        if count.saturating_mul(min_element_len) > remaining {
            return Err(DecodeError::CountTooLarge { field, count, min_element_len, remaining });
        }
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            out.push(element(self)?);
        }
        Ok(out)
    }

    fn quorum(&mut self, field: &'static str) -> Result<Vec<(u8, Signature)>, DecodeError> {
        self.vec(field, QUORUM_ENTRY, |r| Ok((r.u8("certificate signer")?, r.array("certificate signature")?)))
    }

    fn signed_timestamp(&mut self) -> Result<SignedCertifiedTimestamp, DecodeError> {
        let seq_nr = self.u64("timestamp seq_nr")?;
        let committed = self.bool("timestamp committed")?;
        let epoch = self.u64("timestamp epoch")?;
        let signature = self.array("timestamp signature")?;
        Ok(SignedCertifiedTimestamp { timestamp: CertifiedTimestamp { seq_nr, committed, epoch }, signature })
    }

    fn commit(&mut self) -> Result<CertifiedCommit, DecodeError> {
        let epoch = self.u64("commit epoch")?;
        let seq_nr = self.u64("commit seq_nr")?;
        let outcome = self.bytes("commit outcome")?;
        let signatures = self.quorum("commit signatures")?;
        Ok(CertifiedCommit { epoch, seq_nr, outcome, signatures })
    }

    pub(super) fn certificate(&mut self) -> Result<Certificate, DecodeError> {
        match self.u8("certificate tag")? {
            TAG_PREPARE => {
                let epoch = self.u64("prepare epoch")?;
                let seq_nr = self.u64("prepare seq_nr")?;
                let inputs_digest = self.array("prepare inputs digest")?;
                let outcome = self.bytes("prepare outcome")?;
                let signatures = self.quorum("prepare signatures")?;
                Ok(Certificate::Prepare(CertifiedPrepare { epoch, seq_nr, inputs_digest, outcome, signatures }))
            }
            TAG_COMMIT => self.commit().map(Certificate::Commit),
            value => Err(DecodeError::BadTag { field: "certificate tag", value }),
        }
    }

    /// (epoch, seq-nr), the start of most outcome-generation messages.
    fn round(&mut self) -> Result<(u64, u64), DecodeError> {
        Ok((self.u64("epoch")?, self.u64("seq_nr")?))
    }

    pub(super) fn message(&mut self, kind: MessageKind) -> Result<Message, DecodeError> {
        Ok(match kind {
            MessageKind::NewEpochWish => Message::NewEpochWish { epoch: self.u64("epoch")? },
            MessageKind::EpochStartRequest => {
                let epoch = self.u64("epoch")?;
                let highest_certified = self.certificate()?;
                let signed_timestamp = self.signed_timestamp()?;
                Message::EpochStartRequest { epoch, highest_certified, signed_timestamp }
            }
            MessageKind::EpochStart => {
                let epoch = self.u64("epoch")?;
                let highest_certified = self.certificate()?;
                let proof =
                    self.vec("epoch start proof", PROOF_ENTRY, |r| Ok((r.u8("proof signer")?, r.signed_timestamp()?)))?;
                let signature = self.array("epoch start signature")?;
                Message::EpochStart { epoch, highest_certified, proof, signature }
            }
            MessageKind::RoundStart => {
                let (epoch, seq_nr) = self.round()?;
                let query = self.bytes("query")?;
                let signature = self.array("round start signature")?;
                Message::RoundStart { epoch, seq_nr, query, signature }
            }
            MessageKind::Observation => {
                let (epoch, seq_nr) = self.round()?;
                let observation = self.bytes("observation")?;
                let signature = self.array("observation signature")?;
                Message::Observation { epoch, seq_nr, signed: SignedObservation { observation, signature } }
            }
            MessageKind::Proposal => {
                let (epoch, seq_nr) = self.round()?;
                let observations = self.vec("proposal observations", MIN_PROPOSAL_ENTRY, |r| {
                    let observation = r.bytes("proposal observation")?;
                    let signature = r.array("proposal observation signature")?;
                    let observer = r.u8("proposal observer")?;
                    Ok(AttributedSignedObservation { signed: SignedObservation { observation, signature }, observer })
                })?;
                Message::Proposal { epoch, seq_nr, observations }
            }
            MessageKind::Prepare => {
                let (epoch, seq_nr) = self.round()?;
                Message::Prepare { epoch, seq_nr, signature: self.array("prepare signature")? }
            }
            MessageKind::Commit => {
                let (epoch, seq_nr) = self.round()?;
                Message::Commit { epoch, seq_nr, signature: self.array("commit signature")? }
            }
            MessageKind::ReportSignatures => {
                let seq_nr = self.u64("seq_nr")?;
                let signatures = self.vec("report signatures", LEN, |r| r.bytes("report signature"))?;
                Message::ReportSignatures { seq_nr, signatures }
            }
            MessageKind::CertifiedCommitRequest => Message::CertifiedCommitRequest { seq_nr: self.u64("seq_nr")? },
            MessageKind::CertifiedCommit => Message::CertifiedCommit(self.commit()?),
        })
    }

    /// Succeeds only if every byte was read: trailing bytes would make two
    /// bodies decode to one message.
    pub(super) fn finish(self) -> Result<(), DecodeError> {
        match self.rest.len() {
            0 => Ok(()),
            count => Err(DecodeError::TrailingBytes { count }),
        }
    }
}
