//! The corpus of the `decode_stream` fuzz target (`fuzz/corpus/decode_stream`)
//! as a regression suite: the hand-written seeds (streams of valid frames,
//! one per message kind and one with all of them) decode frame by frame, and
//! every file, seeds and what fuzz runs found, passes the target's checks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use ocr_core::messages::MessageLimits;
use ocr_core::wire::{self, MessageKind};
use ocr_net::frame::{self, STREAM_HEADER_LEN};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/decode_stream")
}

/// The frames a corpus file holds, checked as the target checks them, and
/// how many of them decoded; None when a header was refused.
fn replay(data: &[u8]) -> Option<(usize, usize)> {
    let [n, stream @ ..] = data else { return None };
    let limits = MessageLimits::for_fuzzing(4 + usize::from(*n) % 28);
    let (header, rest) = stream.split_first_chunk::<STREAM_HEADER_LEN>()?;
    frame::parse_stream_header(header).ok()?;
    let frames = frame::split_frames(rest, &limits).ok()?;
    let mut decoded = 0;
    for (kind, body) in &frames {
        assert!(body.len() <= wire::max_body_len(*kind, &limits));
        if let Ok(message) = wire::decode(*kind, body, &limits) {
            assert_eq!(MessageKind::of(&message), *kind);
            assert_eq!(wire::encode(&message), *body, "non-canonical body accepted");
            decoded += 1;
        }
    }
    Some((frames.len(), decoded))
}

#[test]
fn seed_streams_decode_frame_by_frame() {
    let all = std::fs::read(corpus().join("stream_all_kinds")).expect("seed stream_all_kinds");
    let (frames, decoded) = replay(&all).expect("the seed stream's headers pass");
    assert!(frames >= MessageKind::ALL.len(), "{frames} frames");
    assert_eq!(decoded, frames);
    for kind in MessageKind::ALL {
        let name = format!("stream_{}", kind.name());
        let data = std::fs::read(corpus().join(&name)).unwrap_or_else(|e| panic!("seed {name}: {e}"));
        assert_eq!(replay(&data), Some((1, 1)), "{name}");
    }
}

#[test]
fn every_corpus_file_passes_the_targets_checks() {
    let mut count = 0;
    for entry in std::fs::read_dir(corpus()).unwrap() {
        replay(&std::fs::read(entry.unwrap().path()).unwrap());
        count += 1;
    }
    assert!(count > MessageKind::ALL.len(), "the seeds are missing: {count} files");
}
