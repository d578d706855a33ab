//! The wire codec against hostile and extreme input: canonical round trips
//! of every kind, the size bound reached exactly by the largest messages,
//! truncated, padded, mutated and random bodies refused without a panic,
//! storage records, rate limits, and the fuzzers' seed corpus.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use ocr_core::certificate::{Certificate, CertifiedCommit, CertifiedPrepare};
use ocr_core::messages::{
    AttributedSignedObservation, Message, MessageLimits, SignedCertifiedTimestamp, SignedObservation, SizeError,
};
use ocr_core::pacemaker::PacemakerState;
use ocr_core::payload::CertifiedTimestamp;
use ocr_core::wire::{self, DecodeError, MessageKind};
use ocr_core::{OracleIdentity, PublicConfig};
use ocr_plugin_sdk::ConfigDigest;
use proptest::prelude::*;

/// Small limits, so generated messages reach them often.
fn small_limits(n: usize) -> MessageLimits {
    let f = (n - 1) / 3;
    MessageLimits {
        n,
        quorum: ocr_plugin_sdk::byzantine_quorum(n, f),
        max_query_length: 48,
        max_observation_length: 40,
        max_outcome_length: 200,
        max_report_count: 3,
        max_report_signature_length: 65,
    }
}

/// The reference's worked example (§11.7).
fn example_limits() -> MessageLimits {
    MessageLimits {
        n: 4,
        quorum: 3,
        max_query_length: 0,
        max_observation_length: 1024,
        max_outcome_length: 10 * 1024,
        max_report_count: 1,
        max_report_signature_length: 65,
    }
}

fn signature() -> impl Strategy<Value = [u8; 64]> {
    prop::array::uniform(any::<u8>())
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..=max)
}

fn oracle(l: &MessageLimits) -> impl Strategy<Value = u8> + use<> {
    0..u8::try_from(l.n).unwrap()
}

fn quorum(l: &MessageLimits) -> impl Strategy<Value = Vec<(u8, [u8; 64])>> + use<> {
    prop::collection::vec((oracle(l), signature()), l.quorum)
}

fn certificate(l: &MessageLimits) -> BoxedStrategy<Certificate> {
    let prepare = (any::<u64>(), any::<u64>(), any::<[u8; 32]>(), bytes(l.max_outcome_length), quorum(l)).prop_map(
        |(epoch, seq_nr, inputs_digest, outcome, signatures)| {
            Certificate::Prepare(CertifiedPrepare { epoch, seq_nr, inputs_digest, outcome, signatures })
        },
    );
    let commit = (any::<u64>(), any::<u64>(), bytes(l.max_outcome_length), quorum(l))
        .prop_map(|(epoch, seq_nr, outcome, signatures)| CertifiedCommit { epoch, seq_nr, outcome, signatures });
    prop_oneof![prepare, commit.prop_map(Certificate::Commit), Just(Certificate::Commit(CertifiedCommit::genesis()))]
        .boxed()
}

fn signed_timestamp() -> impl Strategy<Value = SignedCertifiedTimestamp> {
    (any::<u64>(), any::<bool>(), any::<u64>(), signature()).prop_map(|(seq_nr, committed, epoch, signature)| {
        SignedCertifiedTimestamp { timestamp: CertifiedTimestamp { seq_nr, committed, epoch }, signature }
    })
}

/// Any message of `kind` that passes `check_size(l)`.
fn message(kind: MessageKind, l: &MessageLimits) -> BoxedStrategy<Message> {
    let u = any::<u64>;
    match kind {
        MessageKind::NewEpochWish => u().prop_map(|epoch| Message::NewEpochWish { epoch }).boxed(),
        MessageKind::EpochStartRequest => (u(), certificate(l), signed_timestamp())
            .prop_map(|(epoch, highest_certified, signed_timestamp)| Message::EpochStartRequest {
                epoch,
                highest_certified,
                signed_timestamp,
            })
            .boxed(),
        MessageKind::EpochStart => {
            let proof = prop::collection::vec((oracle(l), signed_timestamp()), l.quorum);
            (u(), certificate(l), proof, signature())
                .prop_map(|(epoch, highest_certified, proof, signature)| Message::EpochStart {
                    epoch,
                    highest_certified,
                    proof,
                    signature,
                })
                .boxed()
        }
        MessageKind::RoundStart => (u(), u(), bytes(l.max_query_length), signature())
            .prop_map(|(epoch, seq_nr, query, signature)| Message::RoundStart { epoch, seq_nr, query, signature })
            .boxed(),
        MessageKind::Observation => (u(), u(), bytes(l.max_observation_length), signature())
            .prop_map(|(epoch, seq_nr, observation, signature)| Message::Observation {
                epoch,
                seq_nr,
                signed: SignedObservation { observation, signature },
            })
            .boxed(),
        MessageKind::Proposal => {
            // Any observer byte: check_size leaves attribution to outcome generation.
            let entry = (bytes(l.max_observation_length), signature(), any::<u8>()).prop_map(
                |(observation, signature, observer)| AttributedSignedObservation {
                    signed: SignedObservation { observation, signature },
                    observer,
                },
            );
            (u(), u(), prop::collection::vec(entry, 0..=l.n))
                .prop_map(|(epoch, seq_nr, observations)| Message::Proposal { epoch, seq_nr, observations })
                .boxed()
        }
        MessageKind::Prepare => (u(), u(), signature())
            .prop_map(|(epoch, seq_nr, signature)| Message::Prepare { epoch, seq_nr, signature })
            .boxed(),
        MessageKind::Commit => (u(), u(), signature())
            .prop_map(|(epoch, seq_nr, signature)| Message::Commit { epoch, seq_nr, signature })
            .boxed(),
        MessageKind::ReportSignatures => {
            let signatures = prop::collection::vec(bytes(l.max_report_signature_length), 0..=l.max_report_count);
            (u(), signatures).prop_map(|(seq_nr, signatures)| Message::ReportSignatures { seq_nr, signatures }).boxed()
        }
        MessageKind::CertifiedCommitRequest => {
            u().prop_map(|seq_nr| Message::CertifiedCommitRequest { seq_nr }).boxed()
        }
        MessageKind::CertifiedCommit => certificate(l)
            .prop_map(|c| match c {
                Certificate::Commit(c) => Message::CertifiedCommit(c),
                Certificate::Prepare(p) => Message::CertifiedCommit(CertifiedCommit {
                    epoch: p.epoch,
                    seq_nr: p.seq_nr,
                    outcome: p.outcome,
                    signatures: p.signatures,
                }),
            })
            .boxed(),
    }
}

/// Limits for 4 to 31 oracles, a kind, and a valid message of that kind.
fn limits_and_message() -> impl Strategy<Value = (MessageLimits, MessageKind, Message)> {
    (4..=31usize, prop::sample::select(MessageKind::ALL.to_vec())).prop_flat_map(|(n, kind)| {
        let l = small_limits(n);
        message(kind, &l).prop_map(move |m| (l, kind, m))
    })
}

/// The largest message of `kind` under `l`, built by hand.
fn maximal(kind: MessageKind, l: &MessageLimits) -> Message {
    let sig = [0xab; 64];
    let quorum: Vec<(u8, [u8; 64])> = (0..l.quorum).map(|i| (u8::try_from(i % l.n).unwrap(), sig)).collect();
    let prepare = Certificate::Prepare(CertifiedPrepare {
        epoch: u64::MAX,
        seq_nr: u64::MAX,
        inputs_digest: [7; 32],
        outcome: vec![1; l.max_outcome_length],
        signatures: quorum.clone(),
    });
    let st = SignedCertifiedTimestamp {
        timestamp: CertifiedTimestamp { seq_nr: 9, committed: true, epoch: 8 },
        signature: sig,
    };
    match kind {
        MessageKind::NewEpochWish => Message::NewEpochWish { epoch: u64::MAX },
        MessageKind::EpochStartRequest => {
            Message::EpochStartRequest { epoch: 1, highest_certified: prepare, signed_timestamp: st }
        }
        MessageKind::EpochStart => Message::EpochStart {
            epoch: 1,
            highest_certified: prepare,
            proof: (0..l.quorum).map(|i| (u8::try_from(i % l.n).unwrap(), st.clone())).collect(),
            signature: sig,
        },
        MessageKind::RoundStart => {
            Message::RoundStart { epoch: 1, seq_nr: 2, query: vec![3; l.max_query_length], signature: sig }
        }
        MessageKind::Observation => Message::Observation {
            epoch: 1,
            seq_nr: 2,
            signed: SignedObservation { observation: vec![4; l.max_observation_length], signature: sig },
        },
        MessageKind::Proposal => Message::Proposal {
            epoch: 1,
            seq_nr: 2,
            observations: (0..l.n)
                .map(|i| AttributedSignedObservation {
                    signed: SignedObservation { observation: vec![5; l.max_observation_length], signature: sig },
                    observer: u8::try_from(i).unwrap(),
                })
                .collect(),
        },
        MessageKind::Prepare => Message::Prepare { epoch: 1, seq_nr: 2, signature: sig },
        MessageKind::Commit => Message::Commit { epoch: 1, seq_nr: 2, signature: sig },
        MessageKind::ReportSignatures => Message::ReportSignatures {
            seq_nr: 2,
            signatures: vec![vec![6; l.max_report_signature_length]; l.max_report_count],
        },
        MessageKind::CertifiedCommitRequest => Message::CertifiedCommitRequest { seq_nr: u64::MAX },
        MessageKind::CertifiedCommit => Message::CertifiedCommit(CertifiedCommit {
            epoch: 1,
            seq_nr: 2,
            outcome: vec![1; l.max_outcome_length],
            signatures: quorum,
        }),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_kind_round_trips_canonically_within_its_bound((l, kind, m) in limits_and_message()) {
        prop_assert_eq!(MessageKind::of(&m), kind);
        let body = wire::encode(&m);
        prop_assert!(body.len() <= wire::max_body_len(kind, &l), "{} > bound", body.len());
        let decoded = wire::decode(kind, &body, &l).unwrap();
        prop_assert_eq!(&decoded, &m);
        prop_assert_eq!(wire::encode(&decoded), body);
    }

    #[test]
    fn every_strict_prefix_is_refused_and_a_trailing_byte_too((l, kind, m) in limits_and_message()) {
        let body = wire::encode(&m);
        for end in 0..body.len() {
            prop_assert!(wire::decode(kind, &body[..end], &l).is_err(), "prefix of {end} accepted");
        }
        let mut padded = body.clone();
        padded.push(0);
        prop_assert_eq!(wire::decode(kind, &padded, &l), Err(DecodeError::TrailingBytes { count: 1 }));
    }

    #[test]
    fn mutated_bodies_never_panic_and_what_decodes_is_canonical(
        (l, kind, m) in limits_and_message(),
        at in any::<prop::sample::Index>(),
        value in any::<u8>(),
    ) {
        let mut body = wire::encode(&m);
        if !body.is_empty() {
            let i = at.index(body.len());
            body[i] = value;
        }
        if let Ok(decoded) = wire::decode(kind, &body, &l) {
            prop_assert_eq!(wire::encode(&decoded), body);
        }
    }

    #[test]
    fn random_bodies_never_panic_and_what_decodes_is_canonical(
        n in 4..=31usize,
        kind in prop::sample::select(MessageKind::ALL.to_vec()),
        body in bytes(600),
    ) {
        let l = small_limits(n);
        if let Ok(decoded) = wire::decode(kind, &body, &l) {
            prop_assert_eq!(wire::encode(&decoded), body);
        }
    }

    #[test]
    fn storage_records_round_trip(certificate in certificate(&small_limits(31)), epoch in any::<u64>(), wish in any::<u64>()) {
        let record = wire::encode_certificate(&certificate);
        prop_assert_eq!(wire::decode_certificate(&record).unwrap(), certificate);
        for end in 0..record.len() {
            prop_assert!(wire::decode_certificate(&record[..end]).is_err());
        }
        let state = PacemakerState { epoch, highest_sent_wish: wish };
        prop_assert_eq!(wire::decode_pacemaker(&wire::encode_pacemaker(&state)).unwrap(), state);
    }

    #[test]
    fn random_storage_records_never_panic(record in bytes(400)) {
        if let Ok(c) = wire::decode_certificate(&record) {
            prop_assert_eq!(wire::encode_certificate(&c), record.clone());
        }
        if let Ok(p) = wire::decode_pacemaker(&record) {
            prop_assert_eq!(wire::encode_pacemaker(&p), record);
        }
    }
}

#[test]
fn the_largest_message_of_every_kind_reaches_its_bound_exactly() {
    let mut all = vec![example_limits()];
    all.extend([4, 7, 16, 31].map(small_limits));
    for l in all {
        for kind in MessageKind::ALL {
            let m = maximal(kind, &l);
            m.check_size(&l).unwrap();
            let body = wire::encode(&m);
            assert_eq!(body.len(), wire::max_body_len(kind, &l), "{} with n = {}", kind.name(), l.n);
            assert_eq!(wire::decode(kind, &body, &l).unwrap(), m);
        }
        assert_eq!(
            wire::largest_body_len(&l),
            MessageKind::ALL.iter().map(|k| wire::encode(&maximal(*k, &l)).len()).max().unwrap()
        );
    }
}

#[test]
fn the_bound_formulas_match_the_documentation() {
    let l = example_limits();
    let (o, q, n, b) = (10 * 1024, 3, 4, 1024);
    let c = 57 + o + 65 * q;
    let expected = [
        (MessageKind::NewEpochWish, 8),
        (MessageKind::EpochStartRequest, 8 + c + 81),
        (MessageKind::EpochStart, 8 + c + 4 + 82 * q + 64),
        (MessageKind::RoundStart, 84),
        (MessageKind::Observation, 84 + b),
        (MessageKind::Proposal, 20 + n * (69 + b)),
        (MessageKind::Prepare, 80),
        (MessageKind::Commit, 80),
        (MessageKind::ReportSignatures, 12 + (4 + 65)),
        (MessageKind::CertifiedCommitRequest, 8),
        (MessageKind::CertifiedCommit, 24 + o + 65 * q),
    ];
    for (kind, bound) in expected {
        assert_eq!(wire::max_body_len(kind, &l), bound, "{}", kind.name());
    }
    // libocr's estimate for the same limits is about 11.4 KB.
    assert_eq!(wire::largest_body_len(&l), 10_814);
}

#[test]
fn absurd_limits_saturate_instead_of_wrapping() {
    let l = MessageLimits {
        n: usize::MAX,
        quorum: usize::MAX,
        max_query_length: usize::MAX,
        max_observation_length: usize::MAX,
        max_outcome_length: usize::MAX,
        max_report_count: usize::MAX,
        max_report_signature_length: usize::MAX,
    };
    for kind in MessageKind::ALL {
        assert!(wire::max_body_len(kind, &l) >= 8);
    }
    assert_eq!(wire::max_body_len(MessageKind::Proposal, &l), usize::MAX);
}

/// `[epoch][seq_nr]` followed by a u32 count or length.
fn round_then(count: u32) -> Vec<u8> {
    let mut body = vec![0; 16];
    body.extend_from_slice(&count.to_be_bytes());
    body
}

#[test]
fn a_huge_declared_count_in_a_tiny_body_is_refused_before_reserving_anything() {
    let l = small_limits(4);
    // The count check runs before `Vec::with_capacity`: reaching it with
    // u32::MAX elements would try to reserve hundreds of gigabytes.
    let refused = |kind, body: &[u8]| match wire::decode(kind, body, &l) {
        Err(DecodeError::CountTooLarge { count, .. }) => assert_eq!(count, u32::MAX as usize),
        other => panic!("{}: {other:?}", kind.name()),
    };
    refused(MessageKind::Proposal, &round_then(u32::MAX));
    let mut report_signatures = vec![0; 8];
    report_signatures.extend_from_slice(&u32::MAX.to_be_bytes());
    refused(MessageKind::ReportSignatures, &report_signatures);
    let mut commit = round_then(0);
    commit.extend_from_slice(&u32::MAX.to_be_bytes());
    refused(MessageKind::CertifiedCommit, &commit);
    let mut epoch_start = wire::encode(&maximal(MessageKind::EpochStart, &l));
    let proof_at = epoch_start.len() - 64 - 4 - 3 * 82;
    epoch_start[proof_at..proof_at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    refused(MessageKind::EpochStart, &epoch_start);

    // A byte string's length is checked the same way.
    match wire::decode(MessageKind::RoundStart, &round_then(u32::MAX), &l) {
        Err(DecodeError::Truncated { field: "query", needed, remaining: 0 }) => assert_eq!(needed, u32::MAX as usize),
        other => panic!("{other:?}"),
    }
    // Just enough bytes for the count, not for the elements.
    let mut five = round_then(5);
    five.extend_from_slice(&[0; 4 * 69]);
    assert!(matches!(wire::decode(MessageKind::Proposal, &five, &l), Err(DecodeError::CountTooLarge { .. })));
}

#[test]
fn messages_over_a_limit_decode_but_are_refused() {
    let l = small_limits(4);
    let mut big = maximal(MessageKind::Observation, &l);
    if let Message::Observation { signed, .. } = &mut big {
        signed.observation.push(0);
    }
    let err = wire::decode(MessageKind::Observation, &wire::encode(&big), &l).unwrap_err();
    assert!(matches!(err, DecodeError::Size(SizeError::TooLarge { what: "observation", .. })), "{err}");
    assert!(err.to_string().contains("the limit is 40"), "{err}");

    let mut crowded = maximal(MessageKind::Proposal, &l);
    if let Message::Proposal { observations, .. } = &mut crowded {
        observations.push(observations[0].clone());
    }
    let err = wire::decode(MessageKind::Proposal, &wire::encode(&crowded), &l).unwrap_err();
    assert!(matches!(err, DecodeError::Size(SizeError::TooLarge { what: "observation count", .. })));

    let mut short = maximal(MessageKind::CertifiedCommit, &l);
    if let Message::CertifiedCommit(c) = &mut short {
        c.signatures.pop();
    }
    let err = wire::decode(MessageKind::CertifiedCommit, &wire::encode(&short), &l).unwrap_err();
    assert!(matches!(err, DecodeError::Size(SizeError::Malformed { .. })));

    let mut many = maximal(MessageKind::ReportSignatures, &l);
    if let Message::ReportSignatures { signatures, .. } = &mut many {
        signatures.push(Vec::new());
    }
    assert!(wire::decode(MessageKind::ReportSignatures, &wire::encode(&many), &l).is_err());
}

#[test]
fn non_canonical_booleans_and_unknown_tags_are_refused() {
    let l = small_limits(4);
    let request = Message::EpochStartRequest {
        epoch: 3,
        highest_certified: Certificate::Commit(CertifiedCommit::genesis()),
        signed_timestamp: SignedCertifiedTimestamp { timestamp: CertifiedTimestamp::default(), signature: [1; 64] },
    };
    let body = wire::encode(&request);
    assert_eq!(wire::decode(MessageKind::EpochStartRequest, &body, &l).unwrap(), request);
    // epoch (8), then the certificate tag.
    let mut bad_tag = body.clone();
    bad_tag[8] = 3;
    assert_eq!(
        wire::decode(MessageKind::EpochStartRequest, &bad_tag, &l),
        Err(DecodeError::BadTag { field: "certificate tag", value: 3 })
    );
    // The genesis commit takes 1 + 8 + 8 + 4 + 4 bytes; the flag follows the seq-nr.
    let mut bad_bool = body;
    bad_bool[8 + 25 + 8] = 2;
    assert_eq!(
        wire::decode(MessageKind::EpochStartRequest, &bad_bool, &l),
        Err(DecodeError::BadBool { field: "timestamp committed", value: 2 })
    );
}

#[test]
fn kind_numbers_and_names_are_stable() {
    for (i, kind) in MessageKind::ALL.into_iter().enumerate() {
        assert_eq!(u8::from(kind), u8::try_from(i + 1).unwrap());
        assert_eq!(MessageKind::from_u8(kind as u8), Some(kind));
        let m = maximal(kind, &small_limits(4));
        assert_eq!(MessageKind::of(&m), kind);
        assert_eq!(kind.name(), m.kind());
    }
    assert_eq!(MessageKind::from_u8(0), None);
    assert_eq!(MessageKind::from_u8(12), None);
    assert_eq!(wire::WIRE_VERSION, 1);
}

#[test]
fn corrupt_storage_records_are_errors() {
    let genesis = Certificate::Commit(CertifiedCommit::genesis());
    let record = wire::encode_certificate(&genesis);
    assert_eq!(record, [1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let mut other_version = record.clone();
    other_version[0] = 2;
    assert_eq!(
        wire::decode_certificate(&other_version),
        Err(DecodeError::UnknownVersion { found: 2, expected: wire::STORAGE_VERSION })
    );
    let mut padded = record;
    padded.push(0);
    assert_eq!(wire::decode_certificate(&padded), Err(DecodeError::TrailingBytes { count: 1 }));
    assert!(matches!(wire::decode_certificate(&[]), Err(DecodeError::Truncated { field: "storage version", .. })));

    let state = PacemakerState { epoch: 5, highest_sent_wish: 6 };
    let record = wire::encode_pacemaker(&state);
    assert_eq!(record.len(), 17);
    for end in 0..record.len() {
        assert!(wire::decode_pacemaker(&record[..end]).is_err());
    }
    let mut padded = record;
    padded.push(9);
    assert_eq!(wire::decode_pacemaker(&padded), Err(DecodeError::TrailingBytes { count: 1 }));
}

fn example_config() -> PublicConfig {
    let identity = |i: u8| OracleIdentity {
        offchain_public_key: [i; 32],
        onchain_signer: [i; 20],
        peer_id: [i + 100; 32],
        transmit_account: [i + 200; 20],
    };
    let mut config = PublicConfig::development(ConfigDigest([1; 32]), (0..4).map(identity).collect(), 1);
    config.delta_progress = Duration::from_secs(2);
    config.delta_resend = Duration::from_secs(20);
    config.delta_initial = Duration::from_millis(400);
    config.delta_round = Duration::from_millis(500);
    config.r_max = 100;
    config
}

#[test]
fn rate_limits_for_the_reference_worked_example() {
    let r = wire::rate_limits(&example_config(), &example_limits());
    // 1.2 × (1/20 + 3/0.4 + 8/0.5) = 28.26, as libocr.
    assert!((r.messages_per_second - 28.26).abs() < 1e-9, "{r:?}");
    assert_eq!(r.message_capacity, 36);
    // Frames (body + 6): wish 14, epoch start request 10 587, epoch start
    // 10 820, the per-round kinds 16 340 together. 1.2 × (14/20 + 14/0.4 +
    // 16 340/0.5 + 21 407/0.4) = 1.2 × 86 233.2 = 103 479.84 B/s. libocr
    // gets ≈ 92.6 KB/s from sizes padded by 256 B each and no margin: exact
    // sizes plus the 1.2 margin land about 12 % above it.
    assert!((r.bytes_per_second - 103_479.84).abs() < 1e-6, "{r:?}");
    assert!((80_000.0..=120_000.0).contains(&r.bytes_per_second));
    // 3 × (37 775): below libocr's ≈ 122 KB, which pads every size by 256 B.
    assert_eq!(r.byte_capacity, 113_325);
}

#[test]
fn zero_and_extreme_intervals_give_finite_rates() {
    let mut config = example_config();
    config.delta_round = Duration::ZERO;
    config.delta_grace = Duration::ZERO;
    let r = wire::rate_limits(&config, &example_limits());
    // DeltaRound and minEpochInterval both count as 1 ms: 1.2 × (0.05 + 3000 + 8000).
    assert!((r.messages_per_second - 13_200.06).abs() < 1e-6, "{r:?}");
    assert!(r.bytes_per_second.is_finite() && r.bytes_per_second > 1e7, "{r:?}");

    config.delta_resend = Duration::ZERO;
    config.delta_progress = Duration::ZERO;
    config.delta_initial = Duration::ZERO;
    config.r_max = u64::MAX;
    let r = wire::rate_limits(&config, &example_limits());
    assert!(r.messages_per_second.is_finite() && r.bytes_per_second.is_finite(), "{r:?}");

    config.delta_round = Duration::MAX;
    config.delta_progress = Duration::MAX;
    config.delta_initial = Duration::MAX;
    config.delta_resend = Duration::MAX;
    let r = wire::rate_limits(&config, &example_limits());
    assert!(r.messages_per_second > 0.0 && r.messages_per_second.is_finite(), "{r:?}");

    let huge = MessageLimits {
        n: usize::MAX,
        quorum: usize::MAX,
        max_query_length: usize::MAX,
        max_observation_length: usize::MAX,
        max_outcome_length: usize::MAX,
        max_report_count: usize::MAX,
        max_report_signature_length: usize::MAX,
    };
    assert_eq!(wire::rate_limits(&example_config(), &huge).byte_capacity, u64::MAX);
}

/// A few small valid messages of every kind, with names for their corpus files.
fn seeds(l: &MessageLimits) -> Vec<(String, Message)> {
    let mut out: Vec<(String, Message)> = MessageKind::ALL
        .into_iter()
        .map(|kind| {
            let mut small = *l;
            small.max_query_length = 3;
            small.max_observation_length = 3;
            small.max_outcome_length = 5;
            small.max_report_count = 1;
            (kind.name().to_owned(), maximal(kind, &small))
        })
        .collect();
    let genesis = SignedCertifiedTimestamp { timestamp: CertifiedTimestamp::default(), signature: [2; 64] };
    out.push((
        "epoch_start_request_genesis".to_owned(),
        Message::EpochStartRequest {
            epoch: 2,
            highest_certified: Certificate::Commit(CertifiedCommit::genesis()),
            signed_timestamp: genesis,
        },
    ));
    out.push(("proposal_empty".to_owned(), Message::Proposal { epoch: 2, seq_nr: 1, observations: Vec::new() }));
    out
}

/// The corpus of `fuzz/corpus/decode_message` holds the named seeds below,
/// valid inputs of the fuzz target (`[kind][n selector][body]`), plus the
/// inputs a fuzz run found and `scripts/fuzz.sh` merged in (mostly invalid
/// ones, each reaching some error path). With `OCR_WRITE_FUZZ_CORPUS=1`
/// this test (re)writes the seeds first; always, it checks every seed still
/// decodes, so a format change cannot leave stale seeds behind, and runs the
/// fuzz target's checks on every file, so the corpus doubles as a
/// regression suite.
#[test]
fn fuzz_seed_corpus_is_valid() {
    let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let messages = fuzz.join("decode_message");
    let storage = fuzz.join("decode_storage");
    let seeds = seeds(&MessageLimits::for_fuzzing(4));
    if std::env::var_os("OCR_WRITE_FUZZ_CORPUS").is_some() {
        std::fs::create_dir_all(&messages).unwrap();
        std::fs::create_dir_all(&storage).unwrap();
        for (name, m) in &seeds {
            let mut input = vec![u8::from(MessageKind::of(m)), 0];
            input.extend(wire::encode(m));
            std::fs::write(messages.join(name), input).unwrap();
        }
        let mut certificate = vec![0];
        certificate.extend(wire::encode_certificate(&Certificate::Commit(CertifiedCommit::genesis())));
        std::fs::write(storage.join("certificate_genesis"), certificate).unwrap();
        let mut pacemaker = vec![1];
        pacemaker.extend(wire::encode_pacemaker(&PacemakerState { epoch: 3, highest_sent_wish: 4 }));
        std::fs::write(storage.join("pacemaker"), pacemaker).unwrap();
    }
    for (name, _) in &seeds {
        let input = std::fs::read(messages.join(name)).unwrap_or_else(|e| panic!("seed {name}: {e}"));
        let [kind, n, body @ ..] = input.as_slice() else { panic!("short seed {name}") };
        let kind = MessageKind::from_u8(*kind).unwrap();
        let l = MessageLimits::for_fuzzing(4 + usize::from(*n) % 28);
        let m = wire::decode(kind, body, &l).unwrap_or_else(|e| panic!("seed {name}: {e}"));
        assert_eq!(wire::encode(&m), body);
        assert!(input.len() <= 1024, "keep seeds small");
    }
    // Every corpus file, as the fuzz target treats it.
    for entry in std::fs::read_dir(&messages).unwrap() {
        let input = std::fs::read(entry.unwrap().path()).unwrap();
        let [kind, n, body @ ..] = input.as_slice() else { continue };
        let Some(kind) = MessageKind::from_u8(*kind) else { continue };
        let l = MessageLimits::for_fuzzing(4 + usize::from(*n) % 28);
        if let Ok(m) = wire::decode(kind, body, &l) {
            assert_eq!(MessageKind::of(&m), kind);
            assert_eq!(wire::encode(&m), body, "non-canonical body accepted");
            assert!(body.len() <= wire::max_body_len(kind, &l), "body above the size bound accepted");
        }
    }
    for entry in std::fs::read_dir(&storage).unwrap() {
        let input = std::fs::read(entry.unwrap().path()).unwrap();
        let [selector, record @ ..] = input.as_slice() else { continue };
        if selector % 2 == 0 {
            if let Ok(certificate) = wire::decode_certificate(record) {
                assert_eq!(wire::encode_certificate(&certificate), record);
            }
        } else if let Ok(state) = wire::decode_pacemaker(record) {
            assert_eq!(wire::encode_pacemaker(&state), record);
        }
    }
    assert!(seeds.len() >= MessageKind::ALL.len());
}
