//! Offchain (consensus) signatures: Ed25519 over `"ocr3" ‖ sha256(payload)`,
//! where every payload starts with a label naming its kind and is bound to the
//! config digest and the epoch (reference §9), so no signature can be replayed
//! in another instance, epoch or message kind. The payload builders are in
//! [`crate::payload`].
//!
//! Verification follows ZIP-215 (ed25519-zebra): the cofactored equation,
//! canonical s, any point encoding that decodes. Those rules were written for
//! consensus: a signature is valid or invalid everywhere, and checking many
//! at once ([`verify_all`]) gives the verdict checking each would (a batch
//! holding an invalid signature passes with probability about 2^-128).
//! Those rules let anyone sign for a small-order key, so a config naming
//! one is refused ([`is_usable_public_key`]).
//! Strict (cofactorless) verification has no batch form that agrees with it
//! on signatures a faulty signer crafts, and a certificate one oracle accepts
//! must be one every oracle accepts. Batching a quorum's signatures, with
//! the oracles' keys precomputed (`signing/batch.rs`), cuts their cost from
//! 35 to 13 µs a signature here; they are the largest part of an oracle's
//! CPU in big clusters.
//!
//! A batch's random coefficients come from a hash of everything in it (the
//! core has no RNG of its own), so a signer cannot predict the coefficients
//! its signatures will be weighed by without changing the batch. Every
//! oracle must run these rules: a node still on strict verification would
//! refuse some signatures these accept (a small-order component added to R
//! by a faulty signer) and judge such a certificate differently.

mod batch;

use ed25519_dalek::{Signer as _, SigningKey};
use ed25519_zebra::VerificationKey;
use rand_chacha::rand_core::SeedableRng as _;
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
    static KEYS: std::cell::RefCell<std::collections::HashMap<PublicKey, Option<VerificationKey>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// The decompressed key, or `None` for bytes that are not a curve point.
fn decompressed(public_key: &PublicKey) -> Option<VerificationKey> {
    KEYS.with(|keys| {
        let mut keys = keys.borrow_mut();
        if let Some(key) = keys.get(public_key) {
            return *key;
        }
        if keys.len() >= DECOMPRESSED_KEYS {
            keys.clear();
        }
        let key = VerificationKey::try_from(*public_key).ok();
        keys.insert(*public_key, key);
        key
    })
}

/// Whether `public_key` can stand for an oracle: a curve point of more
/// than small order. Under ZIP-215 anyone can sign for a small-order key
/// (R the identity, s = 0 passes the cofactored equation for any message),
/// so a config naming one would give that oracle's vote to everybody.
pub fn is_usable_public_key(public_key: &PublicKey) -> bool {
    curve25519_dalek::edwards::CompressedEdwardsY(*public_key).decompress().is_some_and(|point| !point.is_small_order())
}

/// The bytes actually signed for a payload.
pub fn signed_bytes(payload: &[u8]) -> [u8; 36] {
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

/// Whether `signature` is `public_key`'s signature of `payload`, by the
/// ZIP-215 rules (see the module doc).
pub fn verify(public_key: &PublicKey, payload: &[u8], signature: &Signature) -> bool {
    crate::verification_stats::record_offchain();
    let valid = decompressed(public_key)
        .is_some_and(|key| key.verify(&ed25519_zebra::Signature::from(*signature), &signed_bytes(payload)).is_ok());
    if !valid {
        crate::verification_stats::record_invalid();
    }
    valid
}

/// One signature to check: the signer's key, the payload (borrowed or
/// owned), the signature.
pub type SignedPayload<'a, P = &'a [u8]> = (&'a PublicKey, P, &'a Signature);

/// Whether every signature is its key's signature of its payload: the
/// verdict [`verify`] would give on each, for about 40 % of the cost once
/// there are a dozen (`cargo bench -p ocr-core --bench ed25519_batch`). A
/// `false` does not say which failed; a caller that needs to know verifies
/// them one by one.
pub fn verify_all<P: AsRef<[u8]>>(items: &[SignedPayload<'_, P>]) -> bool {
    if let [(key, payload, signature)] = items {
        return verify(key, payload.as_ref(), signature);
    }
    crate::verification_stats::record_offchain_batch(items.len());
    let mut transcript = Sha256::new();
    let mut messages = Vec::with_capacity(items.len());
    for (key, payload, signature) in items {
        let message = signed_bytes(payload.as_ref());
        transcript.update(key);
        transcript.update(message);
        transcript.update(signature);
        messages.push((*key, message, *signature));
    }
    let mut coefficients = rand_chacha::ChaCha20Rng::from_seed(transcript.finalize().into());
    let valid = batch::verify_batch(&messages, &mut coefficients);
    if !valid {
        // One at least is invalid; a caller that checks them one by one
        // counts each.
        crate::verification_stats::record_invalid();
    }
    valid
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The secret scalar of the Ed25519 key with this seed (RFC 8032
    /// clamping), and the seed's SHA-512 (its second half is the nonce
    /// key), for tests that build signatures by hand.
    pub(super) fn secret_scalar(seed: [u8; 32]) -> (curve25519_dalek::scalar::Scalar, [u8; 64]) {
        use sha2::Sha512;
        let expanded: [u8; 64] = Sha512::digest(seed).into();
        let mut secret = [0u8; 32];
        secret.copy_from_slice(&expanded[..32]);
        secret[0] &= 248;
        secret[31] &= 127;
        secret[31] |= 64;
        (curve25519_dalek::scalar::Scalar::from_bytes_mod_order(secret), expanded)
    }

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
        assert!(!verify(&[0x02; 32], b"payload", &sig), "bytes that are no curve point never verify");
        assert_eq!(sig, key.sign(b"payload"), "Ed25519 is deterministic");
    }

    #[test]
    fn a_batch_verifies_exactly_when_each_of_its_signatures_does() {
        let keys: Vec<OffchainKey> = (1..=7).map(|i| OffchainKey::from_seed([i; 32])).collect();
        let publics: Vec<PublicKey> = keys.iter().map(OffchainKey::public_key).collect();
        let payloads: Vec<Vec<u8>> = (0..7u8).map(|i| vec![i; 40]).collect();
        let sigs: Vec<Signature> = keys.iter().zip(&payloads).map(|(k, p)| k.sign(p)).collect();
        let items = |sigs: &[Signature]| -> Vec<(PublicKey, Vec<u8>, Signature)> {
            publics.iter().zip(&payloads).zip(sigs).map(|((k, p), s)| (*k, p.clone(), *s)).collect()
        };
        let check = |items: &[(PublicKey, Vec<u8>, Signature)]| {
            let borrowed: Vec<SignedPayload<'_>> = items.iter().map(|(k, p, s)| (k, &p[..], s)).collect();
            let each = borrowed.iter().all(|(k, p, s)| verify(k, p, s));
            assert_eq!(verify_all(&borrowed), each);
            each
        };
        assert!(check(&items(&sigs)));
        assert!(check(&items(&sigs[..1])));
        assert!(check(&[]));
        for i in 0..7 {
            let mut bad = sigs.clone();
            bad[i][i] ^= 0x40;
            assert!(!check(&items(&bad)), "a bad signature at {i} fails the batch");
            let mut swapped = sigs.clone();
            swapped.swap(i, (i + 1) % 7);
            assert!(!check(&items(&swapped)), "signatures swapped between signers fail");
        }
        let mut wrong_key = items(&sigs);
        wrong_key[3].0 = [0x02; 32];
        assert!(!check(&wrong_key), "an undecodable key fails the batch");
    }

    /// A faulty signer's signature whose R has a small-order component
    /// (R' = rB + T): strict verification refuses it and dalek's
    /// cofactorless batch accepts it for some coefficients only. Under
    /// ZIP-215 it is valid, alone and in any batch, so every oracle judges
    /// a certificate holding it alike.
    #[test]
    fn a_small_order_component_in_r_is_judged_alike_alone_and_in_batches() {
        use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
        use curve25519_dalek::scalar::Scalar;
        use sha2::Sha512;

        let seed = [9u8; 32];
        let key = OffchainKey::from_seed(seed);
        let public = key.public_key();
        let message = signed_bytes(b"payload");
        let (a, expanded) = secret_scalar(seed);
        let wide = |parts: &[&[u8]]| {
            let mut hash = Sha512::new();
            for part in parts {
                hash.update(part);
            }
            Scalar::from_bytes_mod_order_wide(&hash.finalize().into())
        };
        let r = wide(&[&expanded[32..], &message]);
        for torsion in &EIGHT_TORSION[1..] {
            let big_r = (ED25519_BASEPOINT_POINT * r + torsion).compress();
            let k = wide(&[big_r.as_bytes(), &public, &message]);
            let s = r + k * a;
            let mut crafted = [0u8; 64];
            crafted[..32].copy_from_slice(big_r.as_bytes());
            crafted[32..].copy_from_slice(s.as_bytes());
            let strict = ed25519_dalek::VerifyingKey::from_bytes(&public)
                .unwrap()
                .verify_strict(&message, &ed25519_dalek::Signature::from_bytes(&crafted));
            assert!(strict.is_err(), "strict verification refuses it");
            assert!(verify(&public, b"payload", &crafted), "ZIP-215 accepts it");
            let others: Vec<(PublicKey, Signature)> = (1..=6u8)
                .map(|i| {
                    let k = OffchainKey::from_seed([i; 32]);
                    (k.public_key(), k.sign(b"payload"))
                })
                .collect();
            for size in 0..others.len() {
                let mut items: Vec<SignedPayload<'_>> =
                    others[..size].iter().map(|(k, s)| (k, &b"payload"[..], s)).collect();
                items.push((&public, b"payload", &crafted));
                assert!(verify_all(&items), "accepted in a batch of {}", size + 1);
            }
        }
    }
}
