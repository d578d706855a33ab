//! Input: `[kind][n selector][body]`. The kind byte is the frame header's,
//! n is 4 + selector % 28 (4 to 31 oracles). Whatever decodes must re-encode
//! to the same bytes (the codec is canonical) and fit the size bound the
//! network checks before decoding.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ocr_core::messages::MessageLimits;
use ocr_core::wire::{self, MessageKind};

fuzz_target!(|data: &[u8]| {
    let [kind, n, body @ ..] = data else { return };
    let Some(kind) = MessageKind::from_u8(*kind) else { return };
    let limits = MessageLimits::for_fuzzing(4 + usize::from(*n) % 28);
    if let Ok(message) = wire::decode(kind, body, &limits) {
        assert_eq!(MessageKind::of(&message), kind);
        assert_eq!(wire::encode(&message), body, "non-canonical body accepted");
        assert!(body.len() <= wire::max_body_len(kind, &limits), "body above the size bound accepted");
    }
});
