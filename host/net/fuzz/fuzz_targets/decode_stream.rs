//! Input: `[n selector][stream bytes]`, n = 4 + selector % 28 oracles. The
//! stream bytes go through the reader's checks in its order: stream header,
//! then frame headers against the size limits, then each body through the
//! message decoder. Whatever decodes must re-encode to the same bytes and
//! fit the bound its header was checked against.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ocr_core::messages::MessageLimits;
use ocr_core::wire::{self, MessageKind};
use ocr_net::frame::{self, STREAM_HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let [n, stream @ ..] = data else { return };
    let limits = MessageLimits::for_fuzzing(4 + usize::from(*n) % 28);
    let Some((header, rest)) = stream.split_first_chunk::<STREAM_HEADER_LEN>() else { return };
    if frame::parse_stream_header(header).is_err() {
        return;
    }
    let Ok(frames) = frame::split_frames(rest, &limits) else { return };
    for (kind, body) in frames {
        assert!(body.len() <= wire::max_body_len(kind, &limits), "frame above its kind's bound passed");
        if let Ok(message) = wire::decode(kind, body, &limits) {
            assert_eq!(MessageKind::of(&message), kind);
            assert_eq!(wire::encode(&message), body, "non-canonical body accepted");
        }
    }
});
