//! Shared fixtures of the chain tests: generated oracles (onchain signing
//! keys via `ocr_core::onchain::OnchainKey`, transmitter accounts), a config
//! for them, and median reports encoded like the median plugin's.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // each test binary uses a part

use alloy_primitives::aliases::I192;
use alloy_primitives::{B256, keccak256};
use alloy_sol_types::{SolType, sol_data};
use ocr_chain::{PrivateKeySigner, SetConfigArgs, TransmitCall, encode_onchain_config, signer_from_bytes};
use ocr_core::attestation::AttestedReport;
use ocr_core::onchain::OnchainKey;
use ocr_plugin_sdk::{ConfigDigest, ReportWithInfo};

/// Answers the contract accepts in these tests.
pub const MIN_ANSWER: i64 = -1_000_000_000_000;
pub const MAX_ANSWER: i64 = 1_000_000_000_000;

pub fn secret(label: &str, seed: u64, i: usize) -> [u8; 32] {
    keccak256(format!("{label}/{seed}/{i}")).0
}

/// n oracles with fault tolerance f.
pub struct Oracles {
    pub signers: Vec<OnchainKey>,
    pub transmitters: Vec<PrivateKeySigner>,
    pub f: u8,
}

impl Oracles {
    /// Deterministic keys from `seed`.
    pub fn new(n: usize, f: u8, seed: u64) -> Self {
        Self {
            signers: (0..n).map(|i| OnchainKey::from_bytes(&secret("signer", seed, i)).unwrap()).collect(),
            transmitters: (0..n).map(|i| signer_from_bytes(&secret("transmitter", seed, i)).unwrap()).collect(),
            f,
        }
    }

    pub fn n(&self) -> usize {
        self.signers.len()
    }

    pub fn config_args(&self) -> SetConfigArgs {
        SetConfigArgs {
            signers: self.signers.iter().map(|k| k.address().into()).collect(),
            transmitters: self.transmitters.iter().map(|t| t.address()).collect(),
            f: self.f,
            onchain_config: encode_onchain_config(
                I192::try_from(MIN_ANSWER).unwrap(),
                I192::try_from(MAX_ANSWER).unwrap(),
            ),
            offchain_config_version: 3,
            offchain_config: b"offchain config bytes".to_vec(),
        }
    }

    /// Signatures of `report` by the oracles `ids`.
    pub fn sign(&self, digest: &ConfigDigest, seq_nr: u64, report: &[u8], ids: &[u8]) -> Vec<(u8, Vec<u8>)> {
        ids.iter().map(|&i| (i, self.signers[usize::from(i)].sign(digest, seq_nr, report).to_vec())).collect()
    }

    /// An attested report signed by the oracles `ids`.
    pub fn attested(&self, digest: &ConfigDigest, seq_nr: u64, report: &[u8], ids: &[u8]) -> AttestedReport {
        AttestedReport {
            seq_nr,
            index: 0,
            report: ReportWithInfo { report: report.to_vec(), info: Vec::new() },
            signatures: self.sign(digest, seq_nr, report, ids),
            schedule_override: None,
        }
    }

    /// The transmit call of `report` signed by the first f+1 oracles.
    pub fn transmit_call(&self, digest: &ConfigDigest, seq_nr: u64, report: &[u8]) -> TransmitCall {
        let ids: Vec<u8> = (0..=self.f).collect();
        TransmitCall::from_attested(&self.attested(digest, seq_nr, report, &ids), digest, self.f).unwrap()
    }

    /// A report with one observation per oracle `0..count` (value 1000 + 10·id).
    pub fn report(&self, timestamp: u32, count: usize) -> Vec<u8> {
        let observations: Vec<(u8, i64)> = (0..count).map(|i| (i as u8, 1000 + 10 * i as i64)).collect();
        median_report(timestamp, &observations, 7)
    }
}

/// `abi.encode(uint32 observationsTimestamp, bytes32 observers, int192[]
/// observations, int192 juelsPerFeeCoin)`, observations sorted ascending and
/// byte i of `observers` the oracle behind `observations[i]`.
pub fn median_report(timestamp: u32, observations: &[(u8, i64)], juels: i64) -> Vec<u8> {
    let mut sorted = observations.to_vec();
    sorted.sort_by_key(|(_, value)| *value);
    let mut observers = B256::ZERO;
    for (slot, (oracle, _)) in observers.0.iter_mut().zip(&sorted) {
        *slot = *oracle;
    }
    let values: Vec<I192> = sorted.iter().map(|(_, v)| I192::try_from(*v).unwrap()).collect();
    type Report =
        (sol_data::Uint<32>, sol_data::FixedBytes<32>, sol_data::Array<sol_data::Int<192>>, sol_data::Int<192>);
    Report::abi_encode_params(&(timestamp, observers, values, I192::try_from(juels).unwrap()))
}

/// The contract owner (deployer) account.
pub fn owner() -> PrivateKeySigner {
    signer_from_bytes(&secret("owner", 0, 0)).unwrap()
}
