//! ZIP-215 batch verification of Ed25519 with the signers' keys
//! precomputed.
//!
//! An oracle checks quorums of signatures from the same n keys round after
//! round. A general batch verifier (ed25519-zebra's) decompresses every key
//! again for each batch and treats it as a fresh point in the
//! multiscalar multiplication. Here each key is decompressed once per
//! thread and kept, with the base point, in wide Straus lookup tables, so a
//! batch only pays for what is new in it: the signatures' R points, their
//! hashes and scalars.
//!
//! The check is the one ed25519-zebra makes, term for term: s canonical,
//! R and A decoded by `CompressedEdwardsY::decompress` (which accepts the
//! non-canonical encodings ZIP-215 requires), k = SHA-512(R ‖ A ‖ M) from
//! the bytes as given, and for random 128-bit z_i
//!
//! `[8]( [−Σ z_i·s_i]B + Σ [z_i]R_i + Σ [z_i·k_i]A_i ) = 0`.
//!
//! A batch of valid signatures always passes; one with an invalid
//! signature passes with probability about 2^-128 over the z_i (the
//! cofactored equation has no small-order escape). Tests compare every
//! verdict with ed25519-zebra's single verification.

use std::cell::RefCell;
use std::collections::HashMap;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint, VartimeEdwardsPrecomputation};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity as _, VartimePrecomputedMultiscalarMul as _};
use rand_chacha::rand_core::RngCore;
use sha2::{Digest as _, Sha512};

use super::{PublicKey, Signature};

/// Keys kept per thread before the table starts over. An oracle's instance
/// has at most 31; a process running several instances (or the simulator,
/// scenario after scenario) refills it now and then. Every key in the table
/// costs each batch a little (its scalar is scanned even when zero), so it
/// stays small.
const TABLE_KEYS: usize = 64;

/// The base point and the keys seen on this thread, decompressed, with
/// their Straus tables.
struct KeyTable {
    /// Position of each key's point in `points` (the base point is 0).
    index: HashMap<PublicKey, usize>,
    points: Vec<EdwardsPoint>,
    tables: VartimeEdwardsPrecomputation,
}

impl KeyTable {
    fn new() -> Self {
        let points = vec![ED25519_BASEPOINT_POINT];
        let tables = VartimeEdwardsPrecomputation::new(&points);
        Self { index: HashMap::new(), points, tables }
    }

    /// Adds the keys not yet in the table, with one rebuild for all of
    /// them; `false`, and the table unchanged, if one does not decode to a
    /// curve point.
    fn admit(&mut self, keys: &[&PublicKey]) -> bool {
        let mut missing: Vec<(PublicKey, EdwardsPoint)> = Vec::new();
        for key in keys {
            if self.index.contains_key(*key) || missing.iter().any(|(k, _)| k == *key) {
                continue;
            }
            let Some(point) = CompressedEdwardsY(**key).decompress() else { return false };
            missing.push((**key, point));
        }
        if missing.is_empty() {
            return true;
        }
        if !self.index.is_empty() && self.index.len() + missing.len() > TABLE_KEYS {
            // Start over with this batch's keys (all of them, even if they
            // alone are more than TABLE_KEYS).
            *self = Self::new();
            return self.admit(keys);
        }
        for (key, point) in missing {
            self.index.insert(key, self.points.len());
            self.points.push(point);
        }
        self.tables = VartimeEdwardsPrecomputation::new(&self.points);
        true
    }
}

thread_local! {
    static TABLE: RefCell<KeyTable> = RefCell::new(KeyTable::new());
}

/// Whether every `(key, message, signature)` verifies, by ZIP-215, with
/// coefficients drawn from `rng`. `message` is what was signed.
pub(super) fn verify_batch<M: AsRef<[u8]>>(items: &[(&PublicKey, M, &Signature)], rng: &mut impl RngCore) -> bool {
    TABLE.with(|table| {
        let mut table = table.borrow_mut();
        let keys: Vec<&PublicKey> = items.iter().map(|(k, ..)| *k).collect();
        if !table.admit(&keys) {
            return false;
        }
        let mut static_scalars = vec![Scalar::ZERO; table.points.len()];
        let mut r_scalars = Vec::with_capacity(items.len());
        let mut r_points = Vec::with_capacity(items.len());
        let mut used = 1;
        for (key, message, signature) in items {
            let (r_bytes, s_bytes) = signature.split_at(32);
            let Some(s) = s_bytes.try_into().ok().and_then(|s| Option::<Scalar>::from(Scalar::from_canonical_bytes(s)))
            else {
                return false;
            };
            let Some(r) = r_bytes.try_into().ok().and_then(|r| CompressedEdwardsY(r).decompress()) else {
                return false;
            };
            let Some(&position) = table.index.get(*key) else { return false };
            let k = Scalar::from_bytes_mod_order_wide(
                &Sha512::new().chain_update(r_bytes).chain_update(key).chain_update(message).finalize().into(),
            );
            let mut z = [0u8; 32];
            rng.fill_bytes(&mut z[..16]);
            let z = Scalar::from_bytes_mod_order(z);
            static_scalars[0] -= z * s;
            static_scalars[position] += z * k;
            used = used.max(position + 1);
            r_scalars.push(z);
            r_points.push(r);
        }
        // Keys past the last one used would only add zero terms.
        table
            .tables
            .vartime_mixed_multiscalar_mul(&static_scalars[..used], &r_scalars, &r_points)
            .mul_by_cofactor()
            .is_identity()
    })
}

#[cfg(test)]
mod tests {
    use rand_chacha::rand_core::SeedableRng as _;

    use super::*;
    use crate::signing::OffchainKey;

    fn zebra_verdict(key: &PublicKey, message: &[u8], signature: &Signature) -> bool {
        ed25519_zebra::VerificationKey::try_from(*key)
            .is_ok_and(|k| k.verify(&ed25519_zebra::Signature::from(*signature), message).is_ok())
    }

    fn sign(key: &OffchainKey, message: &[u8]) -> Signature {
        ed25519_dalek::Signer::sign(&key.key, message).to_bytes()
    }

    fn rng(seed: u8) -> rand_chacha::ChaCha20Rng {
        rand_chacha::ChaCha20Rng::from_seed([seed; 32])
    }

    #[test]
    fn valid_batches_pass_and_one_bad_signature_fails_them() {
        let keys: Vec<OffchainKey> = (1..=31).map(|i| OffchainKey::from_seed([i; 32])).collect();
        let publics: Vec<PublicKey> = keys.iter().map(OffchainKey::public_key).collect();
        let messages: Vec<Vec<u8>> = (0..31u8).map(|i| vec![i; 36]).collect();
        let sigs: Vec<Signature> = keys.iter().zip(&messages).map(|(k, m)| sign(k, m)).collect();
        let items: Vec<(&PublicKey, &[u8], &Signature)> =
            publics.iter().zip(&messages).zip(&sigs).map(|((k, m), s)| (k, &m[..], s)).collect();
        for size in [1, 2, 21, 31] {
            assert!(verify_batch(&items[..size], &mut rng(1)), "{size} valid signatures");
        }
        assert!(verify_batch::<&[u8]>(&[], &mut rng(1)), "nothing to check");
        for i in [0, 7, 30] {
            let mut bad = sigs[i];
            bad[40] ^= 1;
            let mut with_bad = items.clone();
            with_bad[i].2 = &bad;
            assert!(!zebra_verdict(with_bad[i].0, with_bad[i].1, with_bad[i].2));
            assert!(!verify_batch(&with_bad, &mut rng(2)), "a bad signature at {i}");
            let mut other_message = items.clone();
            other_message[i].1 = b"another message";
            assert!(!verify_batch(&other_message, &mut rng(2)), "a signature over another message at {i}");
        }
        let mut swapped = items.clone();
        swapped.swap(3, 4);
        swapped[3].0 = items[3].0;
        swapped[4].0 = items[4].0;
        assert!(!verify_batch(&swapped, &mut rng(3)), "signatures swapped between signers");
        let not_a_point = [0x02; 32];
        let mut bad_key = items.clone();
        bad_key[5].0 = &not_a_point;
        assert!(!verify_batch(&bad_key, &mut rng(3)), "a key that is no curve point");
    }

    #[test]
    fn non_canonical_s_fails_like_zebra() {
        let key = OffchainKey::from_seed([5; 32]);
        let public = key.public_key();
        let message = [1u8; 36];
        let mut sig = sign(&key, &message);
        // s + ℓ: the same scalar mod ℓ, but not canonical.
        let l: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut carry = 0u16;
        let mut s_plus_l = [0u8; 32];
        for i in 0..32 {
            let sum = u16::from(sig[32 + i]) + u16::from(l[i]) + carry;
            s_plus_l[i] = sum as u8;
            carry = sum >> 8;
        }
        sig[32..].copy_from_slice(&s_plus_l);
        assert!(!zebra_verdict(&public, &message, &sig));
        assert!(!verify_batch(&[(&public, &message[..], &sig)], &mut rng(4)));
    }

    #[test]
    fn the_table_starts_over_when_full_and_still_verifies() {
        let keys: Vec<OffchainKey> = (0..=200u8).map(|i| OffchainKey::from_seed([i; 32])).collect();
        for chunk in keys.chunks(25) {
            let message = [9u8; 36];
            let publics: Vec<PublicKey> = chunk.iter().map(OffchainKey::public_key).collect();
            let sigs: Vec<Signature> = chunk.iter().map(|k| sign(k, &message)).collect();
            let items: Vec<(&PublicKey, &[u8], &Signature)> =
                publics.iter().zip(&sigs).map(|(k, s)| (k, &message[..], s)).collect();
            assert!(verify_batch(&items, &mut rng(5)));
            assert!(TABLE.with(|t| t.borrow().index.len()) <= TABLE_KEYS);
        }
        // One batch with more keys than the table holds.
        let message = [9u8; 36];
        let publics: Vec<PublicKey> = keys.iter().map(OffchainKey::public_key).collect();
        let sigs: Vec<Signature> = keys.iter().map(|k| sign(k, &message)).collect();
        let items: Vec<(&PublicKey, &[u8], &Signature)> =
            publics.iter().zip(&sigs).map(|(k, s)| (k, &message[..], s)).collect();
        assert!(verify_batch(&items, &mut rng(5)));
        assert!(verify_batch(&items[..3], &mut rng(5)), "and a small one after it");
    }

    /// Every encoding of every small-order point, canonical or not (y + p
    /// where it fits, x = 0 with the sign bit set), as key and as R, with
    /// s = 0 (valid by the cofactored equation) and s = 1 (invalid): the
    /// batch, next to an honest signature, agrees with ed25519-zebra's
    /// single verification on each. These are the encodings on which
    /// Ed25519 verifiers historically disagree.
    #[test]
    fn small_order_points_in_any_encoding_are_judged_like_zebra() {
        use curve25519_dalek::constants::EIGHT_TORSION;

        // p = 2^255 - 19, little-endian.
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        let mut encodings: Vec<[u8; 32]> = Vec::new();
        for point in EIGHT_TORSION {
            let canonical = point.compress().to_bytes();
            encodings.push(canonical);
            let mut y = canonical;
            y[31] &= 0x7f;
            let sign = canonical[31] & 0x80;
            if y[1..].iter().all(|b| *b == 0) && y[0] < 19 {
                let mut plus_p = p;
                plus_p[0] = plus_p[0].wrapping_add(y[0]);
                if plus_p[0] < p[0] {
                    plus_p[1] = plus_p[1].wrapping_add(1);
                }
                plus_p[31] |= sign;
                encodings.push(plus_p);
            }
            if y[1..].iter().all(|b| *b == 0) && y[0] == 1 {
                // The identity as y = p + 1 with the sign bit set too.
                let mut plus_p = p;
                plus_p[0] = plus_p[0].wrapping_add(1);
                plus_p[31] |= 0x80;
                encodings.push(plus_p);
            }
            // x = 0 exactly for the identity and the point of order 2.
            if sign == 0 && (point.is_identity() || (point + point).is_identity()) {
                let mut negative_zero_x = canonical;
                negative_zero_x[31] |= 0x80;
                encodings.push(negative_zero_x);
            }
        }
        let honest = OffchainKey::from_seed([3; 32]);
        let honest_public = honest.public_key();
        let message = [4u8; 36];
        let honest_sig = sign(&honest, &message);
        let (mut accepted, mut checked) = (0, 0);
        for key in &encodings {
            for r in &encodings {
                for s in [0u8, 1] {
                    let mut sig = [0u8; 64];
                    sig[..32].copy_from_slice(r);
                    sig[32] = s;
                    let expected = zebra_verdict(key, &message, &sig);
                    let items = [(&honest_public, &message[..], &honest_sig), (key, &message[..], &sig)];
                    assert_eq!(
                        verify_batch(&items, &mut rng(6)),
                        expected,
                        "key {key:02x?}, R {r:02x?}, s = {s}: zebra says {expected}"
                    );
                    accepted += usize::from(expected);
                    checked += 1;
                }
            }
        }
        // 8 canonical; y + p for y = 0 (twice, by sign) and y = 1 (twice);
        // x = -0 for y = 1 and y = -1.
        assert_eq!(encodings.len(), 14, "{encodings:02x?}");
        assert!(accepted > 0 && accepted < checked, "both verdicts occur ({accepted} of {checked})");
    }

    /// Two invalid signatures whose errors cancel when summed (s₁ + δ and
    /// s₂ − δ) pass a batch that weighs them alike; random coefficients
    /// must catch them.
    #[test]
    fn errors_that_cancel_in_a_sum_are_caught() {
        let keys = [OffchainKey::from_seed([21; 32]), OffchainKey::from_seed([22; 32])];
        let publics = keys.each_ref().map(OffchainKey::public_key);
        let message = [8u8; 36];
        let mut sigs = keys.each_ref().map(|k| sign(k, &message));
        let delta = Scalar::from(12345u64);
        let shift = |sig: &mut Signature, by: Scalar| {
            let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(sig[32..].try_into().unwrap())).unwrap();
            sig[32..].copy_from_slice((s + by).as_bytes());
        };
        shift(&mut sigs[0], delta);
        shift(&mut sigs[1], -delta);
        // The same key twice, too: its terms share one table entry.
        let items = [(&publics[0], &message[..], &sigs[0]), (&publics[1], &message[..], &sigs[1])];
        let same_key_sigs = [sigs[0], {
            let mut other = sign(&keys[0], &message);
            shift(&mut other, -delta);
            other
        }];
        let same_key = [(&publics[0], &message[..], &same_key_sigs[0]), (&publics[0], &message[..], &same_key_sigs[1])];
        for seed in 0..16 {
            assert!(!verify_batch(&items, &mut rng(seed)), "seed {seed}");
            assert!(!verify_batch(&same_key, &mut rng(seed)), "seed {seed}, one key");
        }
    }

    /// Several signatures by one key in one batch (an epoch start holds
    /// the leader's own next to a proof that may include it).
    #[test]
    fn one_key_may_sign_several_items_of_a_batch() {
        let key = OffchainKey::from_seed([31; 32]);
        let other = OffchainKey::from_seed([32; 32]);
        let (public, other_public) = (key.public_key(), other.public_key());
        let messages: Vec<[u8; 36]> = (0..4u8).map(|i| [i; 36]).collect();
        let sigs: Vec<Signature> = messages.iter().map(|m| sign(&key, m)).collect();
        let other_sig = sign(&other, &messages[0]);
        let mut items: Vec<(&PublicKey, &[u8], &Signature)> =
            messages.iter().zip(&sigs).map(|(m, s)| (&public, &m[..], s)).collect();
        items.push((&other_public, &messages[0], &other_sig));
        assert!(verify_batch(&items, &mut rng(7)));
        let swapped = [(&public, &messages[0][..], &sigs[1]), (&public, &messages[1][..], &sigs[0])];
        assert!(!verify_batch(&swapped, &mut rng(7)), "one key's signatures swapped between its messages");
    }

    /// An honest key's signature whose R is a small-order point written
    /// non-canonically: valid under ZIP-215, and only if k hashes R's bytes
    /// as given, not R re-encoded.
    #[test]
    fn k_hashes_r_as_written() {
        let seed = [41u8; 32];
        let key = OffchainKey::from_seed(seed);
        let public = key.public_key();
        let message = [5u8; 36];
        let (a, _) = crate::signing::tests::secret_scalar(seed);
        // y = 0 + p: a point of order 4, not its canonical encoding.
        let mut r_bytes = [0xffu8; 32];
        r_bytes[0] = 0xed;
        r_bytes[31] = 0x7f;
        assert!(CompressedEdwardsY(r_bytes).decompress().is_some_and(|r| r.compress().to_bytes() != r_bytes));
        let k = Scalar::from_bytes_mod_order_wide(
            &Sha512::new().chain_update(r_bytes).chain_update(public).chain_update(message).finalize().into(),
        );
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&r_bytes);
        sig[32..].copy_from_slice((k * a).as_bytes());
        assert!(zebra_verdict(&public, &message, &sig), "ZIP-215 accepts it");
        let honest = OffchainKey::from_seed([42; 32]);
        let (honest_public, honest_sig) = (honest.public_key(), sign(&honest, &message));
        let items = [(&honest_public, &message[..], &honest_sig), (&public, &message[..], &sig)];
        assert!(verify_batch(&items, &mut rng(8)));
    }
}
