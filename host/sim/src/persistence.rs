//! The write-before-send rules of the protocol (reference §10), checked on
//! every action a node performs, in the order it performs them:
//! - the lock (a prepare certificate of this epoch, or higher) is durable
//!   before the Commit signature it backs leaves;
//! - a commit certificate (or higher) is durable before its outcome is
//!   delivered;
//! - the pacemaker's state is durable before a NewEpochWish or an
//!   EpochStartRequest for its epoch leaves.
//!
//! A crash between two actions of a batch therefore never loses what a sent
//! message promised. The simulator crashes nodes mid-batch too, but a broken
//! ordering only shows as a safety violation when the lost lock is also the
//! one a later epoch needed; this check sees every misordering at once.

use ocr_core::messages::Message;
use ocr_core::oracle::{Action, Persisted};
use ocr_core::payload::CertifiedTimestamp;

/// Why `action` must not happen with `storage` as it is, if it must not.
pub(crate) fn violation(storage: &Persisted, action: &Action) -> Option<String> {
    let lock = storage.certificate.as_ref().map(|c| c.timestamp());
    let (epoch, wish) = storage.pacemaker.map_or((0, 0), |p| (p.epoch, p.highest_sent_wish));
    match action {
        Action::Broadcast(Message::Commit { epoch, seq_nr, .. }) => {
            let needed = CertifiedTimestamp { seq_nr: *seq_nr, committed: false, epoch: *epoch };
            (lock < Some(needed))
                .then(|| format!("sent Commit ({epoch}, {seq_nr}) with its lock not persisted ({lock:?})"))
        }
        Action::Committed(commit) => {
            let needed = CertifiedTimestamp { seq_nr: commit.seq_nr, committed: true, epoch: 0 };
            (lock < Some(needed))
                .then(|| format!("delivered seq-nr {} with its commit not persisted ({lock:?})", commit.seq_nr))
        }
        Action::Broadcast(Message::NewEpochWish { epoch: wished }) if *wished > wish => {
            Some(format!("wished for epoch {wished} with {wish} persisted"))
        }
        Action::Send { message: Message::EpochStartRequest { epoch: requested, .. }, .. } if *requested > epoch => {
            Some(format!("requested to start epoch {requested} with epoch {epoch} persisted"))
        }
        _ => None,
    }
}
