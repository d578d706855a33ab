//! Input: `[kind][n selector][body]`. The kind byte is the frame header's,
//! n is 4 + selector % 28 (4 to 31 oracles). Whatever decodes must re-encode
//! to the same bytes (the codec is canonical) and fit the size bound the
//! network checks before decoding.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ocr_core::messages::MessageLimits;
use ocr_core::wire::{self, MessageKind};

/// Small limits, so the fuzzer reaches them. The seed corpus test in
/// `tests/wire.rs` uses the same ones: keep the two in step.
fn limits(n: usize) -> MessageLimits {
    let f = (n - 1) / 3;
    MessageLimits {
        n,
        quorum: (n + f) / 2 + 1,
        max_query_length: 64,
        max_observation_length: 64,
        max_outcome_length: 256,
        max_report_count: 4,
        max_report_signature_length: 65,
    }
}

fuzz_target!(|data: &[u8]| {
    let [kind, n, body @ ..] = data else { return };
    let Some(kind) = MessageKind::from_u8(*kind) else { return };
    let limits = limits(4 + usize::from(*n) % 28);
    if let Ok(message) = wire::decode(kind, body, &limits) {
        assert_eq!(MessageKind::of(&message), kind);
        assert_eq!(wire::encode(&message), body, "non-canonical body accepted");
        assert!(body.len() <= wire::max_body_len(kind, &limits), "body above the size bound accepted");
    }
});
