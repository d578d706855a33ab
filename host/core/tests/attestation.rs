//! Report attestation's hard sequences: an oracle that missed a commit
//! fetches the certified commit once f+1 oracles signed its reports; f+1
//! valid signatures attest a report; bad and expired signatures do not count.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use ocr_core::attestation::{AttestationAction, ReportAttestation};
use ocr_core::certificate::CertifiedCommit;
use ocr_core::messages::Message;
use ocr_core::onchain::OnchainKey;
use ocr_core::payload::{self, Ogid};
use ocr_core::signing::OffchainKey;
use ocr_core::{OracleIdentity, PublicConfig};
use ocr_plugin_api::ReportPlus;
use ocr_plugin_sdk::ConfigDigest;

struct Net {
    config: Arc<PublicConfig>,
    offchain: Vec<OffchainKey>,
    onchain: Vec<Arc<OnchainKey>>,
}

fn net() -> Net {
    let offchain: Vec<OffchainKey> = (0..4u8).map(|i| OffchainKey::from_seed([i + 1; 32])).collect();
    let onchain: Vec<Arc<OnchainKey>> =
        (0..4u8).map(|i| Arc::new(OnchainKey::from_bytes(&[i + 1; 32]).unwrap())).collect();
    let config = PublicConfig {
        delta_round: Duration::from_millis(500),
        delta_grace: Duration::from_millis(100),
        r_max: 10,
        ..PublicConfig::development(
            ConfigDigest([3; 32]),
            (0..4usize)
                .map(|i| OracleIdentity {
                    offchain_public_key: offchain[i].public_key(),
                    onchain_signer: onchain[i].address(),
                    peer_id: [i as u8; 32],
                    transmit_account: [i as u8 + 10; 20],
                })
                .collect(),
            1,
        )
    };
    Net { config: Arc::new(config), offchain, onchain }
}

impl Net {
    fn commit(&self, seq_nr: u64, outcome: &[u8]) -> CertifiedCommit {
        let ogid = Ogid { config_digest: self.config.config_digest, epoch: 2 };
        let payload = payload::commit(&ogid, seq_nr, &payload::outcome_digest(outcome));
        let signatures = (0..3u8).map(|i| (i, self.offchain[usize::from(i)].sign(&payload))).collect();
        CertifiedCommit { epoch: 2, seq_nr, outcome: outcome.to_vec(), signatures }
    }

    fn report_signatures(&self, oracle: usize, seq_nr: u64, report: &[u8]) -> Vec<Vec<u8>> {
        vec![self.onchain[oracle].sign(&self.config.config_digest, seq_nr, report).to_vec()]
    }
}

#[test]
fn a_follower_that_missed_a_commit_fetches_the_certified_commit() {
    let net = net();
    let mut me = ReportAttestation::new(net.config.clone(), net.onchain[3].clone());
    let (seq_nr, report) = (7, b"report-7".to_vec());
    // One oracle signing is not enough to go fetching (it might be lying).
    assert!(me.on_report_signatures(0, seq_nr, net.report_signatures(0, seq_nr, &report)).is_empty());
    let actions = me.on_report_signatures(1, seq_nr, net.report_signatures(1, seq_nr, &report));
    assert_eq!(actions, vec![AttestationAction::SetFetchTimer(seq_nr, Duration::from_millis(200))]);
    // The timer asks one of the signers.
    let actions = me.on_fetch_timer(seq_nr);
    let asked = match &actions[0] {
        AttestationAction::Send { to, message: Message::CertifiedCommitRequest { seq_nr: 7 } } => *to,
        other => panic!("expected a certified commit request, got {other:?}"),
    };
    assert!(asked <= 1);
    // An answer from someone not asked, or a forged certificate, is ignored.
    let commit = net.commit(seq_nr, b"outcome-7");
    assert!(me.on_certified_commit(2, commit.clone()).is_empty());
    let mut forged = commit.clone();
    forged.outcome = b"another outcome".to_vec();
    assert!(me.on_certified_commit(asked, forged).is_empty());
    // The real certificate leads to computing the reports.
    let actions = me.on_certified_commit(asked, commit);
    assert!(matches!(&actions[0], AttestationAction::CallPlugin(_)), "{actions:?}");
    // With the reports computed, this oracle signs and the report is attested
    // with f+1 = 2 valid signatures: its own and the first other that
    // verifies (no more are recovered than needed).
    let actions = me.on_reports(seq_nr, Some(vec![ReportPlus::new(report.clone())]));
    assert!(matches!(&actions[0], AttestationAction::Broadcast(Message::ReportSignatures { .. })));
    let attested = actions.iter().find_map(|a| match a {
        AttestationAction::Attested(r) => Some(r.clone()),
        _ => None,
    });
    let attested = attested.expect("attested with the two valid signatures");
    assert_eq!(attested.signatures.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![0, 3]);
    assert_eq!(attested.report.report, report);
}

#[test]
fn invalid_signatures_do_not_count_and_serving_is_once_per_requester() {
    let net = net();
    let mut me = ReportAttestation::new(net.config.clone(), net.onchain[0].clone());
    let (seq_nr, report) = (3, b"r".to_vec());
    me.on_committed(net.commit(seq_nr, b"o"));
    me.on_reports(seq_nr, Some(vec![ReportPlus::new(report.clone())]));
    // Oracle 2 signs the wrong report; oracle 1 uses oracle 3's key. Both
    // are dropped and counted (the counter is process-wide, so other tests
    // may add to it, never subtract).
    let invalid_before = ocr_core::verification_stats::invalid_signatures();
    let wrong = net.report_signatures(2, seq_nr, b"other");
    assert!(me.on_report_signatures(2, seq_nr, wrong).is_empty());
    let stolen = net.report_signatures(3, seq_nr, &report);
    assert!(me.on_report_signatures(1, seq_nr, stolen).is_empty());
    assert!(ocr_core::verification_stats::invalid_signatures() >= invalid_before + 2);
    // Our own signature arrives by loopback: still only one valid signer.
    assert!(me.on_report_signatures(0, seq_nr, net.report_signatures(0, seq_nr, &report)).is_empty());
    let attested = me.on_report_signatures(3, seq_nr, net.report_signatures(3, seq_nr, &report));
    assert!(matches!(&attested[..], [AttestationAction::Attested(r)] if r.signatures.len() == 2));
    // Serving a certified commit: once per requester.
    assert_eq!(me.on_certified_commit_request(2, seq_nr).len(), 1);
    assert!(me.on_certified_commit_request(2, seq_nr).is_empty());
}

#[test]
fn memory_is_bounded_by_the_high_water_mark() {
    let net = net();
    let mut me = ReportAttestation::new(net.config.clone(), net.onchain[0].clone());
    for seq_nr in 1..=2000u64 {
        for oracle in 1..4u8 {
            me.on_report_signatures(oracle, seq_nr, net.report_signatures(usize::from(oracle), seq_nr, b"x"));
        }
    }
    assert!(me.tracked_rounds() < 100, "tracked {} rounds", me.tracked_rounds());
    // Far ahead of the mark: refused.
    assert!(me.on_report_signatures(1, 1_000_000, vec![vec![0; 65]]).is_empty());
}
