//! A process-wide count of signatures that failed verification, offchain and
//! onchain, and a per-thread count of the verifications performed (what the
//! protocol's CPU cost is made of, checked by tests and benchmarks). Invalid signatures are dropped silently by the protocol (they
//! come from faulty peers and change nothing), so this counter is how an
//! operator sees them. It is global rather than per oracle because the
//! verification functions are free functions called deep inside the state
//! machines; a node runs one oracle per instance, and the count is a metric,
//! never an input to the protocol.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

static INVALID_SIGNATURES: AtomicU64 = AtomicU64::new(0);

/// Counts one failed verification.
pub(crate) fn record_invalid() {
    INVALID_SIGNATURES.fetch_add(1, Ordering::Relaxed);
}

/// Signatures that failed verification in this process so far.
pub fn invalid_signatures() -> u64 {
    INVALID_SIGNATURES.load(Ordering::Relaxed)
}

thread_local! {
    static PERFORMED: Cell<Verifications> = const { Cell::new(Verifications { offchain: 0, offchain_batched: 0, onchain: 0 }) };
}

/// Signature verifications performed on one thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Verifications {
    /// Ed25519 (consensus) signatures verified, alone or in batches.
    pub offchain: u64,
    /// How many of those were checked in batches of two or more.
    pub offchain_batched: u64,
    /// secp256k1 recoveries of report signatures.
    pub onchain: u64,
}

/// Counts one Ed25519 verification.
pub(crate) fn record_offchain() {
    PERFORMED.with(|p| {
        let mut v = p.get();
        v.offchain += 1;
        p.set(v);
    });
}

/// Counts a batch of `signatures` Ed25519 signatures checked together.
pub(crate) fn record_offchain_batch(signatures: usize) {
    PERFORMED.with(|p| {
        let mut v = p.get();
        v.offchain += signatures as u64;
        v.offchain_batched += signatures as u64;
        p.set(v);
    });
}

/// Counts one secp256k1 recovery.
pub(crate) fn record_onchain() {
    PERFORMED.with(|p| {
        let mut v = p.get();
        v.onchain += 1;
        p.set(v);
    });
}

/// Verifications performed on the calling thread so far. A single-threaded
/// simulation divides the difference of two readings by its rounds.
pub fn performed_on_this_thread() -> Verifications {
    PERFORMED.with(Cell::get)
}
