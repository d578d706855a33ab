//! Turns an attested report into the aggregator's `transmit` call.
//!
//! The contract accepts exactly f+1 signatures from distinct registered
//! signers, split into `rs`, `ss` and `rawVs` (byte i = v of signature i, 0 or
//! 1), with s in the lower half of the group order and
//! `reportContext = [configDigest, bytes32(uint256(seqNr))]`. The attestation
//! layer may hand over more than f+1 signatures; the first f+1 by oracle id
//! (one per oracle) are used, so every oracle that transmits the same report
//! sends byte-identical calldata. A signature that the contract would reject
//! for its shape (length, v, high s, zero r or s) is refused here with a
//! typed error instead of costing gas onchain. Whether it recovers to a
//! registered signer is the attestation layer's job (it verified them).

use alloy_primitives::{B256, U256};
use alloy_sol_types::SolCall;
use ocr_core::attestation::AttestedReport;
use ocr_core::onchain::SIGNATURE_LENGTH;
use ocr_plugin_sdk::ConfigDigest;

use crate::bindings::OCR3MedianAggregator;

/// The secp256k1 group order halved: the contract rejects s above it (EIP-2).
const HALF_ORDER: U256 =
    alloy_primitives::uint!(0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0_U256);

/// `rawVs` is one 32-byte word, one v per byte.
pub const MAX_SIGNATURES: usize = 32;

/// Why a report cannot become a `transmit` call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransmitCallError {
    /// Fewer distinct oracles signed than the contract requires.
    #[error("report for seqNr {seq_nr} has signatures from {have} distinct oracles, the contract needs f+1 = {need}")]
    NotEnoughSignatures {
        /// The report's seq-nr.
        seq_nr: u64,
        /// Distinct signers present.
        have: usize,
        /// f+1.
        need: usize,
    },
    /// f+1 does not fit in `rawVs` (and exceeds what the contract allows).
    #[error("f = {f} needs {} signatures, more than the {MAX_SIGNATURES} rawVs can carry", usize::from(*f) + 1)]
    FaultToleranceTooHigh {
        /// The config's f.
        f: u8,
    },
    /// A signature the contract would reject for its shape.
    #[error("signature of oracle {oracle} is malformed: {problem}")]
    MalformedSignature {
        /// The oracle whose signature it is.
        oracle: u8,
        /// What is wrong with it.
        problem: SignatureProblem,
    },
}

/// What is wrong with a malformed signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureProblem {
    /// Not 65 bytes.
    #[error("length {0}, expected {SIGNATURE_LENGTH}")]
    Length(usize),
    /// v is neither 0 nor 1.
    #[error("v = {0}, expected 0 or 1")]
    V(u8),
    /// s is in the upper half of the group order.
    #[error("s is not in the lower half of the group order")]
    HighS,
    /// r or s is zero.
    #[error("r or s is zero")]
    Zero,
}

/// The arguments of one `transmit` call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransmitCall {
    /// The config digest the report was signed under.
    pub config_digest: ConfigDigest,
    /// The report's seq-nr.
    pub seq_nr: u64,
    /// The report bytes.
    pub report: Vec<u8>,
    /// r of each signature.
    pub rs: Vec<B256>,
    /// s of each signature.
    pub ss: Vec<B256>,
    /// Byte i is v (0 or 1) of signature i; the rest are zero.
    pub raw_vs: B256,
    /// The oracle ids whose signatures are used, ascending.
    pub signers: Vec<u8>,
}

impl TransmitCall {
    /// The call for `attested` under `config_digest` with fault tolerance
    /// `f`: the first f+1 signatures by oracle id, one per oracle.
    pub fn from_attested(
        attested: &AttestedReport,
        config_digest: &ConfigDigest,
        f: u8,
    ) -> Result<Self, TransmitCallError> {
        Self::new(config_digest, attested.seq_nr, &attested.report.report, &attested.signatures, f)
    }

    /// The call for `report` at `seq_nr` with these `(oracle id, r ‖ s ‖ v)`
    /// signatures (any order; duplicates of an oracle keep the first).
    pub fn new(
        config_digest: &ConfigDigest,
        seq_nr: u64,
        report: &[u8],
        signatures: &[(u8, Vec<u8>)],
        f: u8,
    ) -> Result<Self, TransmitCallError> {
        let need = usize::from(f) + 1;
        if need > MAX_SIGNATURES {
            return Err(TransmitCallError::FaultToleranceTooHigh { f });
        }
        let mut by_oracle: Vec<&(u8, Vec<u8>)> = signatures.iter().collect();
        // Stable: of two signatures by one oracle the first given stays first.
        by_oracle.sort_by_key(|(oracle, _)| *oracle);
        by_oracle.dedup_by_key(|(oracle, _)| *oracle);
        if by_oracle.len() < need {
            return Err(TransmitCallError::NotEnoughSignatures { seq_nr, have: by_oracle.len(), need });
        }
        by_oracle.truncate(need);

        let mut call = Self {
            config_digest: *config_digest,
            seq_nr,
            report: report.to_vec(),
            rs: Vec::with_capacity(need),
            ss: Vec::with_capacity(need),
            raw_vs: B256::ZERO,
            signers: Vec::with_capacity(need),
        };
        for (i, (oracle, signature)) in by_oracle.into_iter().enumerate() {
            let (r, s, v) = split_signature(signature)
                .map_err(|problem| TransmitCallError::MalformedSignature { oracle: *oracle, problem })?;
            call.rs.push(r);
            call.ss.push(s);
            call.raw_vs.0[i] = v;
            call.signers.push(*oracle);
        }
        Ok(call)
    }

    /// `[configDigest, bytes32(uint256(seqNr))]`.
    pub fn report_context(&self) -> [B256; 2] {
        [B256::from(self.config_digest.0), B256::from(U256::from(self.seq_nr))]
    }

    /// The typed call.
    pub fn to_call(&self) -> OCR3MedianAggregator::transmitCall {
        OCR3MedianAggregator::transmitCall {
            reportContext: self.report_context(),
            report: self.report.clone().into(),
            rs: self.rs.clone(),
            ss: self.ss.clone(),
            rawVs: self.raw_vs,
        }
    }

    /// The ABI-encoded calldata (selector included).
    pub fn calldata(&self) -> Vec<u8> {
        self.to_call().abi_encode()
    }
}

/// Splits `r ‖ s ‖ v`, checking what the contract checks about its shape.
fn split_signature(signature: &[u8]) -> Result<(B256, B256, u8), SignatureProblem> {
    let raw: &[u8; SIGNATURE_LENGTH] = signature.try_into().map_err(|_| SignatureProblem::Length(signature.len()))?;
    let r = B256::from_slice(&raw[..32]);
    let s = B256::from_slice(&raw[32..64]);
    let v = raw[64];
    if v > 1 {
        return Err(SignatureProblem::V(v));
    }
    if r.is_zero() || s.is_zero() {
        return Err(SignatureProblem::Zero);
    }
    if U256::from_be_bytes(s.0) > HALF_ORDER {
        return Err(SignatureProblem::HighS);
    }
    Ok((r, s, v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocr_core::onchain::{OnchainKey, verify};

    fn key(i: u8) -> OnchainKey {
        OnchainKey::from_bytes(&[i + 1; 32]).expect("valid scalar")
    }

    fn signed(digest: &ConfigDigest, seq_nr: u64, report: &[u8], oracles: &[u8]) -> Vec<(u8, Vec<u8>)> {
        oracles.iter().map(|&i| (i, key(i).sign(digest, seq_nr, report).to_vec())).collect()
    }

    const DIGEST: ConfigDigest = ConfigDigest([7; 32]);

    #[test]
    fn takes_the_first_f_plus_one_by_oracle_id_and_packs_v() {
        let report = b"report".to_vec();
        // Out of order, with a duplicate of oracle 3.
        let mut signatures = signed(&DIGEST, 9, &report, &[3, 0, 2, 1]);
        signatures.push((3, vec![0; 65]));
        let call = TransmitCall::new(&DIGEST, 9, &report, &signatures, 1).expect("enough signatures");
        assert_eq!(call.signers, vec![0, 1]);
        assert_eq!(call.rs.len(), 2);
        assert_eq!(call.ss.len(), 2);
        for (i, oracle) in call.signers.iter().enumerate() {
            let mut sig = [0u8; 65];
            sig[..32].copy_from_slice(call.rs[i].as_slice());
            sig[32..64].copy_from_slice(call.ss[i].as_slice());
            sig[64] = call.raw_vs[i];
            assert!(verify(&key(*oracle).address(), &DIGEST, 9, &report, &sig));
        }
        assert!(call.raw_vs[2..].iter().all(|b| *b == 0));
        assert_eq!(call.report_context()[0].0, DIGEST.0);
        assert_eq!(call.report_context()[1], B256::from(U256::from(9u64)));
    }

    #[test]
    fn calldata_decodes_back() {
        let report = vec![1, 2, 3];
        let signatures = signed(&DIGEST, 42, &report, &[0, 1, 2]);
        let call = TransmitCall::new(&DIGEST, 42, &report, &signatures, 2).expect("enough signatures");
        let decoded =
            OCR3MedianAggregator::transmitCall::abi_decode(&call.calldata()).expect("calldata is a transmit call");
        assert_eq!(decoded.reportContext, call.report_context());
        assert_eq!(decoded.report.as_ref(), report.as_slice());
        assert_eq!(decoded.rs, call.rs);
        assert_eq!(decoded.ss, call.ss);
        assert_eq!(decoded.rawVs, call.raw_vs);
    }

    #[test]
    fn from_attested_uses_the_report_bytes() {
        let report = vec![5; 10];
        let attested = AttestedReport {
            seq_nr: 3,
            index: 0,
            report: ocr_plugin_sdk::ReportWithInfo { report: report.clone(), info: vec![] },
            signatures: signed(&DIGEST, 3, &report, &[1, 2]),
            schedule_override: None,
        };
        let call = TransmitCall::from_attested(&attested, &DIGEST, 1).expect("enough signatures");
        assert_eq!(call.report, report);
        assert_eq!(call.seq_nr, 3);
        assert_eq!(call.signers, vec![1, 2]);
    }

    #[test]
    fn refuses_too_few_distinct_signatures() {
        let report = vec![0];
        let mut signatures = signed(&DIGEST, 1, &report, &[0]);
        signatures.extend(signed(&DIGEST, 1, &report, &[0]));
        assert_eq!(
            TransmitCall::new(&DIGEST, 1, &report, &signatures, 1),
            Err(TransmitCallError::NotEnoughSignatures { seq_nr: 1, have: 1, need: 2 })
        );
        assert!(matches!(
            TransmitCall::new(&DIGEST, 1, &report, &[], 0),
            Err(TransmitCallError::NotEnoughSignatures { have: 0, need: 1, .. })
        ));
        assert_eq!(
            TransmitCall::new(&DIGEST, 1, &report, &signatures, 32),
            Err(TransmitCallError::FaultToleranceTooHigh { f: 32 })
        );
    }

    #[test]
    fn refuses_malformed_signatures() {
        let report = vec![0];
        let good = signed(&DIGEST, 1, &report, &[0, 1]);
        let with = |oracle: u8, bytes: Vec<u8>| {
            let mut signatures = good.clone();
            signatures[usize::from(oracle)] = (oracle, bytes);
            TransmitCall::new(&DIGEST, 1, &report, &signatures, 1)
        };
        let problem = |result: Result<TransmitCall, TransmitCallError>| match result {
            Err(TransmitCallError::MalformedSignature { oracle: 1, problem }) => problem,
            other => panic!("expected a malformed signature error, got {other:?}"),
        };
        assert_eq!(problem(with(1, vec![1; 64])), SignatureProblem::Length(64));
        let mut bad_v = good[1].1.clone();
        bad_v[64] = 27;
        assert_eq!(problem(with(1, bad_v)), SignatureProblem::V(27));
        let mut high_s = good[1].1.clone();
        high_s[32..64].copy_from_slice(&[0xff; 32]);
        assert_eq!(problem(with(1, high_s)), SignatureProblem::HighS);
        let mut zero_r = good[1].1.clone();
        zero_r[..32].fill(0);
        assert_eq!(problem(with(1, zero_r)), SignatureProblem::Zero);
    }
}
