//! Offchain (consensus) signatures: Ed25519 over `"ocr3" ‖ sha256(payload)`,
//! where every payload starts with a label naming its kind and is bound to the
//! config digest and the epoch (reference §9), so no signature can be replayed
//! in another instance, epoch or message kind. The payload builders are in
//! [`crate::payload`].

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// An Ed25519 signature.
pub type Signature = [u8; 64];

/// An Ed25519 public key.
pub type PublicKey = [u8; 32];

/// Public keys already decompressed on this thread. Decompressing a key
/// (a square root in the field) costs about a fifth of a verification, and an
/// oracle verifies the same n keys over and over. Bounded: a thread that sees
/// more keys than this starts over.
const DECOMPRESSED_KEYS: usize = 256;

thread_local! {
    static KEYS: std::cell::RefCell<std::collections::HashMap<PublicKey, Option<VerifyingKey>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// The decompressed key, or `None` for bytes that are not a curve point.
fn decompressed(public_key: &PublicKey) -> Option<VerifyingKey> {
    KEYS.with(|keys| {
        let mut keys = keys.borrow_mut();
        if let Some(key) = keys.get(public_key) {
            return *key;
        }
        if keys.len() >= DECOMPRESSED_KEYS {
            keys.clear();
        }
        let key = VerifyingKey::from_bytes(public_key).ok();
        keys.insert(*public_key, key);
        key
    })
}

/// The bytes actually signed for a payload.
fn signed_bytes(payload: &[u8]) -> [u8; 36] {
    let mut out = [0u8; 36];
    out[..4].copy_from_slice(b"ocr3");
    out[4..].copy_from_slice(&Sha256::digest(payload));
    out
}

/// The offchain key of this oracle.
pub struct OffchainKey {
    key: SigningKey,
}

impl OffchainKey {
    /// The key with this 32-byte seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self { key: SigningKey::from_bytes(&seed) }
    }

    /// Its public key.
    pub fn public_key(&self) -> PublicKey {
        self.key.verifying_key().to_bytes()
    }

    /// Signs a payload built by [`crate::payload`].
    pub fn sign(&self, payload: &[u8]) -> Signature {
        self.key.sign(&signed_bytes(payload)).to_bytes()
    }
}

impl std::fmt::Debug for OffchainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OffchainKey({:02x?}…)", &self.public_key()[..4])
    }
}

/// Whether `signature` is `public_key`'s signature of `payload`. Strict
/// verification: malleable or small-order encodings are rejected, so a
/// signature verifies on every node or on none.
pub fn verify(public_key: &PublicKey, payload: &[u8], signature: &Signature) -> bool {
    crate::verification_stats::record_offchain();
    let valid = decompressed(public_key).is_some_and(|key| {
        key.verify_strict(&signed_bytes(payload), &ed25519_dalek::Signature::from_bytes(signature)).is_ok()
    });
    if !valid {
        crate::verification_stats::record_invalid();
    }
    valid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_for_their_payload_and_key() {
        let key = OffchainKey::from_seed([7; 32]);
        let other = OffchainKey::from_seed([8; 32]);
        let sig = key.sign(b"payload");
        assert!(verify(&key.public_key(), b"payload", &sig));
        assert!(!verify(&key.public_key(), b"payloaD", &sig));
        assert!(!verify(&other.public_key(), b"payload", &sig));
        let mut bad = sig;
        bad[10] ^= 1;
        assert!(!verify(&key.public_key(), b"payload", &bad));
        assert!(!verify(&[0xff; 32], b"payload", &sig), "an invalid key never verifies");
        assert_eq!(sig, key.sign(b"payload"), "Ed25519 is deterministic");
    }
}
