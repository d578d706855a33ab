//! The framing on a QUIC stream. Each protocol instance gets its own
//! unidirectional stream per direction, which opens with a stream header
//! naming the instance; messages follow as frames. Every header is checked
//! (version, kind, and length against the kind's maximum) before a body byte
//! is read, so an oversized or foreign frame costs nothing but its header.

use ocr_core::messages::MessageLimits;
use ocr_core::wire::{self, MessageKind, WIRE_VERSION};

/// The magic bytes a stream header starts with.
pub const STREAM_MAGIC: [u8; 4] = *b"OCR3";

/// Stream header: magic, version, config digest.
pub const STREAM_HEADER_LEN: usize = 4 + 1 + 32;

/// Frame header: version, kind, body length (u32, big-endian).
pub const FRAME_HEADER_LEN: usize = 1 + 1 + 4;

/// Why a header was refused. Each of these closes the connection: the
/// stream is no longer in sync, or the peer is not speaking our protocol.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Not an OCR3 stream.
    #[error("stream does not start with the OCR3 magic")]
    BadMagic,
    /// A version this node does not speak.
    #[error("wire version {0}, this node speaks {WIRE_VERSION}")]
    BadVersion(u8),
    /// A kind number no message has.
    #[error("unknown message kind {0}")]
    UnknownKind(u8),
    /// A body longer than its kind can be.
    #[error("{kind} frame of {len} bytes, the limit is {limit}")]
    Oversized {
        /// The kind.
        kind: &'static str,
        /// The declared length.
        len: usize,
        /// The kind's limit.
        limit: usize,
    },
}

impl FrameError {
    /// The metric label for this error.
    pub fn reason(&self) -> &'static str {
        match self {
            FrameError::BadMagic => "bad_magic",
            FrameError::BadVersion(_) => "bad_version",
            FrameError::UnknownKind(_) => "unknown_kind",
            FrameError::Oversized { .. } => "oversized",
        }
    }
}

/// The header that opens a stream for instance `digest`.
pub fn stream_header(digest: &[u8; 32]) -> [u8; STREAM_HEADER_LEN] {
    let mut header = [0u8; STREAM_HEADER_LEN];
    header[..4].copy_from_slice(&STREAM_MAGIC);
    header[4] = WIRE_VERSION;
    header[5..].copy_from_slice(digest);
    header
}

/// The instance a stream header names.
pub fn parse_stream_header(header: &[u8; STREAM_HEADER_LEN]) -> Result<[u8; 32], FrameError> {
    if header[..4] != STREAM_MAGIC {
        return Err(FrameError::BadMagic);
    }
    if header[4] != WIRE_VERSION {
        return Err(FrameError::BadVersion(header[4]));
    }
    let mut digest = [0u8; 32];
    digest.copy_from_slice(&header[5..]);
    Ok(digest)
}

/// A frame: header and body, ready to write.
pub fn frame(kind: MessageKind, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME_HEADER_LEN + body.len());
    out.push(WIRE_VERSION);
    out.push(kind as u8);
    // Bodies are bounded by max_body_len (far below 4 GiB); saturating keeps
    // an impossible body from wrapping into a small length.
    out.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// The kind and body length a frame header announces, checked against
/// `limits` before the body is read.
pub fn parse_frame_header(
    header: &[u8; FRAME_HEADER_LEN],
    limits: &MessageLimits,
) -> Result<(MessageKind, usize), FrameError> {
    if header[0] != WIRE_VERSION {
        return Err(FrameError::BadVersion(header[0]));
    }
    let kind = MessageKind::from_u8(header[1]).ok_or(FrameError::UnknownKind(header[1]))?;
    let len = u32::from_be_bytes([header[2], header[3], header[4], header[5]]) as usize;
    let limit = wire::max_body_len(kind, limits);
    if len > limit {
        return Err(FrameError::Oversized { kind: kind.name(), len, limit });
    }
    Ok((kind, len))
}

/// The frames of a recorded stream (what follows its stream header), each
/// header checked as the network's reader checks it, so a fuzzer or a test
/// drives the same checks without a socket. Stops at the first refused
/// header, as the reader closes the connection there; a trailing partial
/// frame is a stream cut short and is left out. Bodies are not decoded:
/// that is `wire::decode`'s job, after rate limiting.
pub fn split_frames<'a>(
    mut bytes: &'a [u8],
    limits: &MessageLimits,
) -> Result<Vec<(MessageKind, &'a [u8])>, FrameError> {
    let mut frames = Vec::new();
    while let Some((header, rest)) = bytes.split_first_chunk::<FRAME_HEADER_LEN>() {
        let (kind, len) = parse_frame_header(header, limits)?;
        let Some((body, rest)) = rest.split_at_checked(len) else { break };
        frames.push((kind, body));
        bytes = rest;
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn limits() -> MessageLimits {
        MessageLimits {
            n: 4,
            quorum: 3,
            max_query_length: 1024,
            max_observation_length: 1024,
            max_outcome_length: 4096,
            max_report_count: 1,
            max_report_signature_length: 65,
        }
    }

    #[test]
    fn headers_round_trip_and_refuse_what_is_not_ours() {
        let digest = [7u8; 32];
        assert_eq!(parse_stream_header(&stream_header(&digest)), Ok(digest));
        let mut bad = stream_header(&digest);
        bad[0] = b'X';
        assert_eq!(parse_stream_header(&bad), Err(FrameError::BadMagic));
        bad = stream_header(&digest);
        bad[4] = 9;
        assert_eq!(parse_stream_header(&bad), Err(FrameError::BadVersion(9)));

        let body = [1u8; 8];
        let framed = frame(MessageKind::NewEpochWish, &body);
        let header: [u8; FRAME_HEADER_LEN] = framed[..FRAME_HEADER_LEN].try_into().unwrap();
        assert_eq!(parse_frame_header(&header, &limits()), Ok((MessageKind::NewEpochWish, 8)));

        let mut wrong = header;
        wrong[0] = 2;
        assert_eq!(parse_frame_header(&wrong, &limits()), Err(FrameError::BadVersion(2)));
        wrong = header;
        wrong[1] = 250;
        assert_eq!(parse_frame_header(&wrong, &limits()), Err(FrameError::UnknownKind(250)));
        wrong = header;
        wrong[2..].copy_from_slice(&100_000u32.to_be_bytes());
        assert!(matches!(parse_frame_header(&wrong, &limits()), Err(FrameError::Oversized { .. })));
    }

    #[test]
    fn a_recorded_stream_splits_into_frames_until_a_bad_header() {
        let mut stream = frame(MessageKind::NewEpochWish, &[1; 8]);
        stream.extend(frame(MessageKind::Observation, &[2; 5]));
        let frames = split_frames(&stream, &limits()).unwrap();
        assert_eq!(frames, vec![(MessageKind::NewEpochWish, &[1u8; 8][..]), (MessageKind::Observation, &[2u8; 5][..])]);
        // A cut body is left out; a bad header after good frames refuses the stream.
        assert_eq!(split_frames(&stream[..stream.len() - 1], &limits()).unwrap().len(), 1);
        stream.extend([9, 1, 0, 0, 0, 0]);
        assert_eq!(split_frames(&stream, &limits()), Err(FrameError::BadVersion(9)));
    }
}
