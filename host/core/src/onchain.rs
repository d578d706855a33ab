//! Onchain (report) signatures: secp256k1 over
//! `keccak256(keccak256(report) ‖ configDigest ‖ seqNr as a 32-byte word)`,
//! 65 bytes `r ‖ s ‖ v` with v in {0, 1} and s in the lower half, the format
//! the aggregator contract (and Chainlink's OCR3 EVM keyring) verifies.
//! Verification recovers the signer's address and is strict about v and s,
//! exactly as the contract is, so a signature the node accepts is one the
//! chain accepts.
//!
//! The curve arithmetic is libsecp256k1's (Bitcoin Core's library): an
//! oracle recovers f signers per report, and libsecp256k1 recovers a key
//! about five times faster than the pure-Rust k256 (31 µs against 151 µs
//! on the benchmark machine). Its verdicts are checked against alloy's
//! ecrecover in this module's tests.

use alloy_primitives::{U256, keccak256};
use ocr_plugin_sdk::ConfigDigest;
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message, PublicKey, SECP256K1, SecretKey};

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

/// The Ethereum address of a public key: the last 20 bytes of the keccak256
/// of its uncompressed encoding without the 0x04 prefix.
fn address_of(key: &PublicKey) -> Address {
    let uncompressed = key.serialize_uncompressed();
    let hash = keccak256(&uncompressed[1..]);
    let mut address = [0u8; 20];
    address.copy_from_slice(&hash[12..]);
    address
}

/// The secp256k1 key that signs reports.
pub struct OnchainKey {
    key: SecretKey,
    address: Address,
}

/// A key that is not a valid secp256k1 scalar.
#[derive(Debug, thiserror::Error)]
#[error("not a valid secp256k1 private key")]
pub struct InvalidKey;

impl OnchainKey {
    /// The key with these 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, InvalidKey> {
        let mut key = SecretKey::from_byte_array(*bytes).map_err(|_| InvalidKey)?;
        let this = Self { key, address: address_of(&key.public_key(SECP256K1)) };
        // The key type is Copy: erase the local copy too.
        key.non_secure_erase();
        Ok(this)
    }

    /// Its Ethereum address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Signs a report (deterministically, RFC 6979; libsecp256k1 always
    /// produces the lower-half s the contract requires).
    pub fn sign(&self, config_digest: &ConfigDigest, seq_nr: u64, report: &[u8]) -> [u8; SIGNATURE_LENGTH] {
        let hash = report_hash(config_digest, seq_nr, report);
        let signature = SECP256K1.sign_ecdsa_recoverable(Message::from_digest(hash), &self.key);
        let (recovery, compact) = signature.serialize_compact();
        let mut out = [0u8; SIGNATURE_LENGTH];
        out[..64].copy_from_slice(&compact);
        // A signature whose R.x overflowed the group order (ids 2 and 3,
        // probability about 2^-128) cannot be expressed in v; the contract
        // would reject it, and so does `verify`.
        out[64] = i32::from(recovery) as u8;
        out
    }
}

impl Drop for OnchainKey {
    /// Erases the key this value holds, as k256's keys (which the node's
    /// key store holds) zeroize themselves; the caller's bytes are its own.
    fn drop(&mut self) {
        self.key.non_secure_erase();
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
    let valid = recover(&report_hash(config_digest, seq_nr, report), signature) == Some(*signer);
    if !valid {
        crate::verification_stats::record_invalid();
    }
    valid
}

/// The contract's rules beyond ecrecover's: v in {0, 1}, s in the lower half.
fn meets_contract_rules(raw: &[u8; SIGNATURE_LENGTH]) -> bool {
    raw[64] <= 1 && U256::from_be_slice(&raw[32..64]) <= HALF_ORDER
}

/// The address that made `signature` over `hash`, by ecrecover's rules with
/// the contract's extra ones (v in {0, 1}, s in the lower half); `None` for
/// a signature the contract rejects.
fn recover(hash: &[u8; 32], signature: &[u8]) -> Option<Address> {
    let raw = <&[u8; SIGNATURE_LENGTH]>::try_from(signature).ok()?;
    if !meets_contract_rules(raw) {
        return None;
    }
    let recovery = RecoveryId::try_from(i32::from(raw[64])).ok()?;
    // Parsing rejects r or s at or above the group order; recovery rejects
    // zero r or s and an r that is no curve point's x, as ecrecover does.
    let parsed = RecoverableSignature::from_compact(&raw[..64], recovery).ok()?;
    let key = SECP256K1.recover_ecdsa(Message::from_digest(*hash), &parsed).ok()?;
    Some(address_of(&key))
}

#[cfg(test)]
mod tests {
    use alloy_primitives::B256;
    use proptest::prelude::*;

    use super::*;

    /// The reference: alloy's (k256) ecrecover, which the embedded chain's
    /// EVM runs, with the contract's v and s rules.
    fn reference(hash: &[u8; 32], signature: &[u8]) -> Option<Address> {
        let raw = <&[u8; SIGNATURE_LENGTH]>::try_from(signature).ok()?;
        if !meets_contract_rules(raw) {
            return None;
        }
        let parsed = alloy_primitives::Signature::from_raw_array(raw).ok()?;
        parsed.recover_address_from_prehash(&B256::from(*hash)).ok().map(|a| a.0.0)
    }

    fn digest() -> ConfigDigest {
        ConfigDigest([3; 32])
    }

    #[test]
    fn a_signature_verifies_only_for_its_signer_report_instance_and_seq_nr() {
        let key = OnchainKey::from_bytes(&[7; 32]).unwrap();
        let other = OnchainKey::from_bytes(&[8; 32]).unwrap();
        let sig = key.sign(&digest(), 5, b"report");
        assert!(verify(&key.address(), &digest(), 5, b"report", &sig));
        assert!(!verify(&other.address(), &digest(), 5, b"report", &sig));
        assert!(!verify(&key.address(), &digest(), 6, b"report", &sig));
        assert!(!verify(&key.address(), &ConfigDigest([4; 32]), 5, b"report", &sig));
        assert!(!verify(&key.address(), &digest(), 5, b"reporT", &sig));
        assert!(!verify(&key.address(), &digest(), 5, b"report", &sig[..64]));
        assert_eq!(sig, key.sign(&digest(), 5, b"report"), "RFC 6979 signing is deterministic");
    }

    #[test]
    fn the_address_is_alloys() {
        let key = OnchainKey::from_bytes(&[7; 32]).unwrap();
        let signer =
            alloy_primitives::Address::from_private_key(&k256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap());
        assert_eq!(key.address(), signer.0.0);
        assert!(OnchainKey::from_bytes(&[0; 32]).is_err(), "zero is not a key");
        assert!(OnchainKey::from_bytes(&[0xff; 32]).is_err(), "above the group order is not a key");
    }

    #[test]
    fn high_s_and_v_outside_zero_one_are_rejected() {
        let key = OnchainKey::from_bytes(&[9; 32]).unwrap();
        let sig = key.sign(&digest(), 1, b"r");
        let s = U256::from_be_slice(&sig[32..64]);
        assert!(s <= HALF_ORDER, "libsecp256k1 signs with the lower-half s");
        // The same signature with s' = n - s and v flipped recovers the same
        // key under plain ecrecover; the contract refuses it.
        let order = HALF_ORDER * U256::from(2) + U256::from(1);
        let mut high = sig;
        high[32..64].copy_from_slice(&(order - s).to_be_bytes::<32>());
        high[64] ^= 1;
        assert!(!verify(&key.address(), &digest(), 1, b"r", &high));
        for v in [2u8, 27, 28] {
            let mut bad = sig;
            bad[64] = v;
            assert!(!verify(&key.address(), &digest(), 1, b"r", &bad));
        }
    }

    #[test]
    fn edge_values_of_r_and_s_get_alloys_verdict() {
        let order = HALF_ORDER * U256::from(2) + U256::from(1);
        let field = alloy_primitives::uint!(0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F_U256);
        let key = OnchainKey::from_bytes(&[5; 32]).unwrap();
        let honest = key.sign(&digest(), 3, b"r");
        let hash = report_hash(&digest(), 3, b"r");
        let honest_r = U256::from_be_slice(&honest[..32]);
        let honest_s = U256::from_be_slice(&honest[32..64]);
        let rs = [
            U256::ZERO,
            U256::from(1),
            honest_r,
            order - U256::from(1),
            order,
            field - U256::from(1),
            field,
            U256::MAX,
        ];
        let ss = [U256::ZERO, U256::from(1), honest_s, HALF_ORDER, HALF_ORDER + U256::from(1), order, U256::MAX];
        for r in rs {
            for s in ss {
                for v in [0u8, 1] {
                    let mut signature = [0u8; SIGNATURE_LENGTH];
                    signature[..32].copy_from_slice(&r.to_be_bytes::<32>());
                    signature[32..64].copy_from_slice(&s.to_be_bytes::<32>());
                    signature[64] = v;
                    let ours = recover(&hash, &signature);
                    assert_eq!(ours, reference(&hash, &signature), "r = {r:#x}, s = {s:#x}, v = {v}");
                    if r.is_zero() || s.is_zero() || r >= order || s > HALF_ORDER {
                        assert_eq!(ours, None, "r = {r:#x}, s = {s:#x}, v = {v}");
                    }
                }
            }
        }
        assert_eq!(recover(&hash, &honest), Some(key.address()));
    }

    proptest! {
        /// libsecp256k1's recovery agrees with alloy's on honest signatures
        /// and on arbitrary (mostly invalid) bytes.
        #[test]
        fn recovery_agrees_with_alloy(
            seed in prop::array::uniform32(1u8..),
            hash in prop::array::uniform32(any::<u8>()),
            noise in prop::collection::vec(any::<u8>(), 65),
            flip in 0usize..65,
        ) {
            let Ok(key) = OnchainKey::from_bytes(&seed) else { return Ok(()) };
            let sig = key.sign(&digest(), 1, &hash);
            let signed = report_hash(&digest(), 1, &hash);
            prop_assert_eq!(recover(&signed, &sig), Some(key.address()));
            prop_assert_eq!(reference(&signed, &sig), Some(key.address()));
            let mut tampered = sig;
            tampered[flip] ^= 0x01;
            prop_assert_eq!(recover(&signed, &tampered), reference(&signed, &tampered));
            prop_assert_eq!(recover(&signed, &noise), reference(&signed, &noise));
            // Noise that passes the v and s rules, so it reaches recovery.
            let mut plausible = noise.clone();
            plausible[64] &= 1;
            plausible[32] &= 0x7f;
            prop_assert_eq!(recover(&signed, &plausible), reference(&signed, &plausible));
        }
    }
}
