//! A process-wide count of signatures that failed verification, offchain and
//! onchain. Invalid signatures are dropped silently by the protocol (they
//! come from faulty peers and change nothing), so this counter is how an
//! operator sees them. It is global rather than per oracle because the
//! verification functions are free functions called deep inside the state
//! machines; a node runs one oracle per instance, and the count is a metric,
//! never an input to the protocol.

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
