//! What a quorum's Ed25519 signatures cost to check: one by one, as one
//! ed25519-zebra batch, and as one batch of `signing::verify_all` (keys
//! precomputed). Batches of 7, 21 and 30: the prepare or commit quorum at
//! n = 10 and 31, and the observations of a proposal at n = 31.
//!
//! `cargo bench -p ocr-core --bench ed25519_batch`

use std::time::Instant;

use ocr_core::signing::{OffchainKey, PublicKey, Signature, SignedPayload, verify, verify_all};
use rand_chacha::rand_core::SeedableRng as _;

fn main() {
    // `cargo test --all-targets` runs benches once as a smoke test: keep it short.
    let bench = std::env::args().any(|a| a == "--bench");
    let iterations: u32 = if bench { 400 } else { 2 };
    println!("{:>6} {:>14} {:>14} {:>14}", "batch", "single µs/sig", "zebra µs/sig", "ours µs/sig");
    for size in [7usize, 21, 30] {
        let keys: Vec<OffchainKey> = (0..size).map(|i| OffchainKey::from_seed([i as u8 + 1; 32])).collect();
        let publics: Vec<PublicKey> = keys.iter().map(OffchainKey::public_key).collect();
        let payloads: Vec<Vec<u8>> = (0..size).map(|i| format!("prepare payload {i}").into_bytes()).collect();
        let sigs: Vec<Signature> = keys.iter().zip(&payloads).map(|(k, p)| k.sign(p)).collect();
        let items: Vec<SignedPayload<'_>> =
            publics.iter().zip(&payloads).zip(&sigs).map(|((k, p), s)| (k, &p[..], s)).collect();
        let per_sig = |f: &dyn Fn() -> bool| {
            assert!(f());
            let started = Instant::now();
            for _ in 0..iterations {
                assert!(f());
            }
            started.elapsed().as_secs_f64() * 1e6 / f64::from(iterations) / size as f64
        };
        let single = per_sig(&|| items.iter().all(|(k, p, s)| verify(k, p, s)));
        let zebra = per_sig(&|| {
            let mut batch = ed25519_zebra::batch::Verifier::new();
            for (k, p, s) in &items {
                let message = ocr_core::signing::signed_bytes(p);
                batch.queue((
                    ed25519_zebra::VerificationKeyBytes::from(**k),
                    ed25519_zebra::Signature::from(**s),
                    &message[..],
                ));
            }
            batch.verify(rand_chacha::ChaCha20Rng::from_seed([7; 32])).is_ok()
        });
        let ours = per_sig(&|| verify_all(&items));
        println!("{size:>6} {single:>14.1} {zebra:>14.1} {ours:>14.1}");
    }
}
