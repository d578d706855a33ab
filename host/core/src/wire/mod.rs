//! # The binary wire codec
//!
//! The bytes of every protocol [`Message`] between oracles, the per-kind size
//! bounds and rate limits the network enforces before it decodes anything,
//! and the durable encodings of what storage keeps (the pacemaker state and
//! the highest certificate).
//!
//! The network frames one message as `[WIRE_VERSION][kind][body length u32
//! BE][body]` ([`FRAME_HEADER_LEN`] bytes of header); this module defines the
//! kind numbers ([`MessageKind`]) and the body ([`encode`], [`decode`]).
//!
//! ## Layout
//! Big-endian and compact: `u64`s are 8 bytes, oracle ids 1 byte, booleans
//! one byte that is 0 or 1, signatures and digests their raw 64 or 32 bytes,
//! byte strings and vectors a `u32` length or count followed by the content.
//! A certificate is a tag byte (1 = prepare, 2 = commit) followed by its
//! fields. Fields follow the order of the Rust structs in
//! [`crate::messages`] and [`crate::certificate`].
//!
//! ## Guarantees
//! - Canonical: `decode(encode(m)) == m`, and every body `decode` accepts is
//!   exactly `encode` of what it returned. Non-0/1 booleans, unknown tags and
//!   trailing bytes are errors, so no two bodies mean the same message and a
//!   signature or digest over a re-encoded message sees the sender's bytes.
//! - Hostile input is harmless: [`decode`] never panics, and allocates at
//!   most a small constant times `body.len()` (about six, for a vector of
//!   empty byte strings), because every length or count is checked against
//!   the bytes that remain before anything is reserved.
//! - [`max_body_len`] bounds `encode(m).len()` for every `m` that passes
//!   [`Message::check_size`], and is reached by the largest such message, so
//!   the network can refuse a longer frame without reading it.
//!
//! Interoperation with libocr's protobuf encoding is not a goal (see
//! [`crate::payload`] for why this node does not interoperate anyway).

mod codec;
mod limits;
mod storage;

use crate::messages::{Message, MessageLimits, SizeError};

pub use limits::{RateLimits, largest_body_len, max_body_len, rate_limits};
pub use storage::{STORAGE_VERSION, decode_certificate, decode_pacemaker, encode_certificate, encode_pacemaker};

/// The version byte at the start of every frame. A change to any body
/// layout or kind number needs a new version.
pub const WIRE_VERSION: u8 = 1;

/// Length of the network's frame header: version (1), kind (1), body length
/// (4). Counted in the rate limits' byte figures.
pub const FRAME_HEADER_LEN: usize = 6;

/// The kind of a message, as the frame header's kind byte. The numbers are
/// part of the wire format and never reused.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageKind {
    /// [`Message::NewEpochWish`].
    NewEpochWish = 1,
    /// [`Message::EpochStartRequest`].
    EpochStartRequest = 2,
    /// [`Message::EpochStart`].
    EpochStart = 3,
    /// [`Message::RoundStart`].
    RoundStart = 4,
    /// [`Message::Observation`].
    Observation = 5,
    /// [`Message::Proposal`].
    Proposal = 6,
    /// [`Message::Prepare`].
    Prepare = 7,
    /// [`Message::Commit`].
    Commit = 8,
    /// [`Message::ReportSignatures`].
    ReportSignatures = 9,
    /// [`Message::CertifiedCommitRequest`].
    CertifiedCommitRequest = 10,
    /// [`Message::CertifiedCommit`].
    CertifiedCommit = 11,
}

impl MessageKind {
    /// Every kind, in the order of their numbers.
    pub const ALL: [MessageKind; 11] = [
        MessageKind::NewEpochWish,
        MessageKind::EpochStartRequest,
        MessageKind::EpochStart,
        MessageKind::RoundStart,
        MessageKind::Observation,
        MessageKind::Proposal,
        MessageKind::Prepare,
        MessageKind::Commit,
        MessageKind::ReportSignatures,
        MessageKind::CertifiedCommitRequest,
        MessageKind::CertifiedCommit,
    ];

    /// The kind with this number, if any.
    pub fn from_u8(value: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| *kind as u8 == value)
    }

    /// The kind of `message`.
    pub fn of(message: &Message) -> Self {
        match message {
            Message::NewEpochWish { .. } => MessageKind::NewEpochWish,
            Message::EpochStartRequest { .. } => MessageKind::EpochStartRequest,
            Message::EpochStart { .. } => MessageKind::EpochStart,
            Message::RoundStart { .. } => MessageKind::RoundStart,
            Message::Observation { .. } => MessageKind::Observation,
            Message::Proposal { .. } => MessageKind::Proposal,
            Message::Prepare { .. } => MessageKind::Prepare,
            Message::Commit { .. } => MessageKind::Commit,
            Message::ReportSignatures { .. } => MessageKind::ReportSignatures,
            Message::CertifiedCommitRequest { .. } => MessageKind::CertifiedCommitRequest,
            Message::CertifiedCommit(_) => MessageKind::CertifiedCommit,
        }
    }

    /// The short name [`Message::kind`] gives, for logs and metrics about
    /// frames that were never decoded.
    pub fn name(self) -> &'static str {
        match self {
            MessageKind::NewEpochWish => "new_epoch_wish",
            MessageKind::EpochStartRequest => "epoch_start_request",
            MessageKind::EpochStart => "epoch_start",
            MessageKind::RoundStart => "round_start",
            MessageKind::Observation => "observation",
            MessageKind::Proposal => "proposal",
            MessageKind::Prepare => "prepare",
            MessageKind::Commit => "commit",
            MessageKind::ReportSignatures => "report_signatures",
            MessageKind::CertifiedCommitRequest => "certified_commit_request",
            MessageKind::CertifiedCommit => "certified_commit",
        }
    }
}

impl From<MessageKind> for u8 {
    fn from(kind: MessageKind) -> u8 {
        kind as u8
    }
}

/// Why bytes from the network or from storage were refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes end inside a field.
    #[error("truncated at {field}: {needed} bytes needed, {remaining} left")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes it needs.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// A vector declares more elements than the remaining bytes could hold.
    #[error("{field}: {count} elements of at least {min_element_len} bytes declared, only {remaining} bytes left")]
    CountTooLarge {
        /// The vector.
        field: &'static str,
        /// The declared count.
        count: usize,
        /// The smallest encoding of one element.
        min_element_len: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// A boolean byte that is neither 0 nor 1.
    #[error("{field}: {value} is not a boolean (0 or 1)")]
    BadBool {
        /// The field.
        field: &'static str,
        /// The byte found.
        value: u8,
    },
    /// An unknown variant tag.
    #[error("{field}: unknown tag {value}")]
    BadTag {
        /// The field.
        field: &'static str,
        /// The tag found.
        value: u8,
    },
    /// Bytes left over after the last field.
    #[error("{count} trailing bytes after the last field")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// A stored record written by a different format version.
    #[error("storage format version {found} is not the supported version {expected}")]
    UnknownVersion {
        /// The version byte found.
        found: u8,
        /// The version this code reads.
        expected: u8,
    },
    /// The message decoded, but a field exceeds its limit or a certificate
    /// or proof has the wrong shape.
    #[error("too large or malformed: {0}")]
    Size(#[from] SizeError),
}

/// The body of `message`: what follows the frame header.
///
/// A byte string or vector longer than `u32::MAX` cannot be represented; its
/// length is written as `u32::MAX` and the result does not decode. No such
/// message passes [`Message::check_size`] with limits the OCR3 maxima allow,
/// and the sending path checks sizes before it encodes.
pub fn encode(message: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    codec::put_message(&mut out, message);
    out
}

/// Decodes the body of a message of kind `kind` and checks it against
/// `limits` ([`Message::check_size`]). Never panics; see the module
/// documentation for the allocation bound.
pub fn decode(kind: MessageKind, body: &[u8], limits: &MessageLimits) -> Result<Message, DecodeError> {
    let mut reader = codec::Reader::new(body);
    let message = reader.message(kind)?;
    reader.finish()?;
    message.check_size(limits)?;
    Ok(message)
}
