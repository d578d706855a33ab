//! What the network enforces before decoding: the largest body of each kind
//! and the per-peer token-bucket rates (reference §11.7), derived from the
//! encoding in [`super::codec`] rather than from libocr's protobuf estimates.

use std::time::Duration;

use crate::PublicConfig;
use crate::messages::MessageLimits;

use super::codec::{HASH, LEN, MIN_PROPOSAL_ENTRY, PROOF_ENTRY, QUORUM_ENTRY, SIGNATURE, SIGNED_TIMESTAMP, TAG, U64};
use super::{FRAME_HEADER_LEN, MessageKind};

fn sum(terms: &[usize]) -> usize {
    terms.iter().fold(0, |total, term| total.saturating_add(*term))
}

/// The length of the longest body of kind `kind` that passes
/// [`crate::messages::Message::check_size`] under `limits`. The network
/// refuses (and disconnects) a frame whose body is longer, before decoding.
///
/// With O = max outcome, q = byzQuorum, n = oracles, Q = max query, B = max
/// observation, R = max report count, S = max report signature length, and
/// C = 57 + O + 65·q the largest certificate (a prepare: tag, epoch, seq-nr,
/// inputs digest, outcome, q × (signer, signature)):
///
/// | kind | bound |
/// |---|---|
/// | NewEpochWish, CertifiedCommitRequest | 8 |
/// | Prepare, Commit | 80 |
/// | EpochStartRequest | 8 + C + 81 |
/// | EpochStart | 8 + C + 4 + 82·q + 64 |
/// | RoundStart | 84 + Q |
/// | Observation | 84 + B |
/// | Proposal | 20 + n·(69 + B) |
/// | ReportSignatures | 12 + R·(4 + S) |
/// | CertifiedCommit | 24 + O + 65·q |
///
/// Each bound is reached by the largest message of its kind, so it is tight.
/// Arithmetic saturates: absurd limits give `usize::MAX`, never a wrap.
pub fn max_body_len(kind: MessageKind, limits: &MessageLimits) -> usize {
    let quorum = limits.quorum.saturating_mul(QUORUM_ENTRY);
    let certificate = sum(&[TAG, U64, U64, HASH, LEN, limits.max_outcome_length, LEN, quorum]);
    match kind {
        MessageKind::NewEpochWish | MessageKind::CertifiedCommitRequest => U64,
        MessageKind::Prepare | MessageKind::Commit => sum(&[U64, U64, SIGNATURE]),
        MessageKind::EpochStartRequest => sum(&[U64, certificate, SIGNED_TIMESTAMP]),
        MessageKind::EpochStart => sum(&[U64, certificate, LEN, limits.quorum.saturating_mul(PROOF_ENTRY), SIGNATURE]),
        MessageKind::RoundStart => sum(&[U64, U64, LEN, limits.max_query_length, SIGNATURE]),
        MessageKind::Observation => sum(&[U64, U64, LEN, limits.max_observation_length, SIGNATURE]),
        MessageKind::Proposal => {
            let entry = MIN_PROPOSAL_ENTRY.saturating_add(limits.max_observation_length);
            sum(&[U64, U64, LEN, limits.n.saturating_mul(entry)])
        }
        MessageKind::ReportSignatures => {
            let entry = LEN.saturating_add(limits.max_report_signature_length);
            sum(&[U64, LEN, limits.max_report_count.saturating_mul(entry)])
        }
        MessageKind::CertifiedCommit => sum(&[U64, U64, LEN, limits.max_outcome_length, LEN, quorum]),
    }
}

/// The largest [`max_body_len`] over all kinds: libocr's MaxMessageLength,
/// for buffers that take any kind.
pub fn largest_body_len(limits: &MessageLimits) -> usize {
    MessageKind::ALL.iter().map(|kind| max_body_len(*kind, limits)).max().unwrap_or(0)
}

/// Token-bucket parameters for the messages received from one remote oracle
/// (reference §11.7, §14.4). An honest oracle stays within them; frames
/// beyond them are dropped.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimits {
    /// Refill rate of the message bucket.
    pub messages_per_second: f64,
    /// Size of the message bucket (it starts full).
    pub message_capacity: u32,
    /// Refill rate of the byte bucket, frame headers included.
    pub bytes_per_second: f64,
    /// Size of the byte bucket (it starts full).
    pub byte_capacity: u64,
}

/// libocr's 12 × 3: three bursts of one message of each kind plus a resent wish.
const MESSAGE_CAPACITY: u32 = 36;

/// libocr's margin on the message rate. libocr adds none to the byte rate
/// because its per-message sizes carry 256 bytes of slack each; these sizes
/// are exact, so the byte rate gets the same margin as the message rate.
const SAFETY_MARGIN: f64 = 1.2;

/// The shortest interval a rate is computed from. A zero DeltaRound (used in
/// benchmarks) means "start rounds as fast as possible", not "infinitely
/// many messages per second": a round needs several network hops and
/// signature checks, so more than 1000 rounds a second from one peer is not
/// an honest pattern, and a finite rate keeps the buckets meaningful. It also
/// keeps every division finite.
const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// The per-peer rates for this instance: libocr's formulas over this
/// encoding's sizes.
///
/// - minEpochInterval = min(DeltaProgress, DeltaInitial, RMax·DeltaRound);
/// - each kind is expected at most at a frequency: NewEpochWish
///   1/DeltaResend + 1/minEpochInterval, EpochStartRequest and EpochStart
///   1/minEpochInterval, the eight per-round kinds 1/DeltaRound;
/// - messages/s = 1.2 × the sum of the frequencies
///   (= 1.2 × (1/DeltaResend + 3/minEpochInterval + 8/DeltaRound)),
///   capacity 36;
/// - bytes/s = 1.2 × Σ frequency × ([`max_body_len`] + [`FRAME_HEADER_LEN`]);
/// - byte capacity = 3 × Σ (max body + header), NewEpochWish counted twice.
///
/// Every interval is taken as at least 1 ms (see `MIN_INTERVAL`), and sums
/// saturate, so no configuration divides by zero or overflows.
pub fn rate_limits(config: &PublicConfig, limits: &MessageLimits) -> RateLimits {
    let seconds = |d: Duration| d.max(MIN_INTERVAL).as_secs_f64();
    let resend = seconds(config.delta_resend);
    let round = seconds(config.delta_round);
    // RMax·DeltaRound in f64: Duration multiplication could overflow.
    let all_rounds = (config.r_max as f64 * config.delta_round.as_secs_f64()).max(MIN_INTERVAL.as_secs_f64());
    let epoch = seconds(config.delta_progress).min(seconds(config.delta_initial)).min(all_rounds);
    let frequency = |kind: MessageKind| match kind {
        MessageKind::NewEpochWish => 1.0 / resend + 1.0 / epoch,
        MessageKind::EpochStartRequest | MessageKind::EpochStart => 1.0 / epoch,
        MessageKind::RoundStart
        | MessageKind::Observation
        | MessageKind::Proposal
        | MessageKind::Prepare
        | MessageKind::Commit
        | MessageKind::ReportSignatures
        | MessageKind::CertifiedCommitRequest
        | MessageKind::CertifiedCommit => 1.0 / round,
    };
    let frame = |kind: MessageKind| max_body_len(kind, limits).saturating_add(FRAME_HEADER_LEN);
    let frequencies: f64 = MessageKind::ALL.iter().map(|kind| frequency(*kind)).sum();
    let bytes: f64 = MessageKind::ALL.iter().map(|kind| frequency(*kind) * frame(*kind) as f64).sum();
    let burst = MessageKind::ALL
        .iter()
        .fold(frame(MessageKind::NewEpochWish), |total, kind| total.saturating_add(frame(*kind)));
    RateLimits {
        messages_per_second: SAFETY_MARGIN * frequencies,
        message_capacity: MESSAGE_CAPACITY,
        bytes_per_second: SAFETY_MARGIN * bytes,
        byte_capacity: u64::try_from(burst).unwrap_or(u64::MAX).saturating_mul(3),
    }
}
