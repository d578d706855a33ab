//! Onchain (report) signatures: secp256k1 over
//! `keccak256(keccak256(report) ‖ configDigest ‖ seqNr as a 32-byte word)`,
//! 65 bytes `r ‖ s ‖ v` with v in {0, 1} and s in the lower half, the format
//! the aggregator contract (and Chainlink's OCR3 EVM keyring) verifies.
//! Verification recovers the signer's address and is strict about v and s,
//! exactly as the contract is, so a signature the node accepts is one the
//! chain accepts.

use alloy_primitives::{B256, U256, keccak256};
use k256::ecdsa::SigningKey;
use ocr_plugin_sdk::ConfigDigest;

use crate::config::Address;

/// Length of an onchain signature.
pub const SIGNATURE_LENGTH: usize = 65;

/// The hash a report signature covers.
pub fn report_hash(config_digest: &ConfigDigest, seq_nr: u64, report: &[u8]) -> [u8; 32] {
    let mut preimage = [0u8; 96];
    preimage[..32].copy_from_slice(keccak256(report).as_slice());
    preimage[32..64].copy_from_slice(&config_digest.0);
    preimage[64..].copy_from_slice(&U256::from(seq_nr).to_be_bytes::<32>());
    keccak256(preimage).0
}

/// The secp256k1 key that signs reports.
pub struct OnchainKey {
    key: SigningKey,
}

/// A key that is not a valid secp256k1 scalar.
#[derive(Debug, thiserror::Error)]
#[error("not a valid secp256k1 private key")]
pub struct InvalidKey;

impl OnchainKey {
    /// The key with these 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, InvalidKey> {
        SigningKey::from_slice(bytes).map(|key| Self { key }).map_err(|_| InvalidKey)
    }

    /// Its Ethereum address.
    pub fn address(&self) -> Address {
        alloy_primitives::Address::from_public_key(self.key.verifying_key()).0.0
    }

    /// Signs a report (deterministically, RFC 6979).
    pub fn sign(&self, config_digest: &ConfigDigest, seq_nr: u64, report: &[u8]) -> [u8; SIGNATURE_LENGTH] {
        let hash = report_hash(config_digest, seq_nr, report);
        let mut out = [0u8; SIGNATURE_LENGTH];
        // Signing a 32-byte prehash with a valid key cannot fail.
        if let Ok((signature, recovery)) = self.key.sign_prehash_recoverable(&hash) {
            let (signature, recovery) = match signature.normalize_s() {
                Some(low) => (low, k256::ecdsa::RecoveryId::new(!recovery.is_y_odd(), recovery.is_x_reduced())),
                None => (signature, recovery),
            };
            out[..64].copy_from_slice(&signature.to_bytes());
            out[64] = recovery.to_byte() & 1;
        }
        out
    }
}

impl std::fmt::Debug for OnchainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OnchainKey({:02x?}…)", &self.address()[..4])
    }
}

/// The secp256k1 group order halved: valid signatures have s at most this.
const HALF_ORDER: U256 =
    alloy_primitives::uint!(0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0_U256);

/// Whether `signature` is `signer`'s signature of `report` for this
/// instance and seq-nr, by the contract's rules.
pub fn verify(signer: &Address, config_digest: &ConfigDigest, seq_nr: u64, report: &[u8], signature: &[u8]) -> bool {
    crate::verification_stats::record_onchain();
    let valid = verify_uncounted(signer, config_digest, seq_nr, report, signature);
    if !valid {
        crate::verification_stats::record_invalid();
    }
    valid
}

fn verify_uncounted(
    signer: &Address,
    config_digest: &ConfigDigest,
    seq_nr: u64,
    report: &[u8],
    signature: &[u8],
) -> bool {
    let Ok(raw) = <&[u8; SIGNATURE_LENGTH]>::try_from(signature) else { return false };
    if raw[64] > 1 || U256::from_be_slice(&raw[32..64]) > HALF_ORDER {
        return false;
    }
    let Ok(parsed) = alloy_primitives::Signature::from_raw_array(raw) else { return false };
    let hash = B256::from(report_hash(config_digest, seq_nr, report));
    parsed.recover_address_from_prehash(&hash).is_ok_and(|a| a.0.0 == *signer)
}
