//! Epoch start (reference §5.2): every oracle sends its highest certificate
//! to the new leader; the leader proves, with byzQuorum signed claims, which
//! certificate is the highest, and the epoch continues from it: a commit is
//! adopted, a prepare is re-proposed so it commits in this epoch.

use super::*;
use crate::payload::{self, CertifiedTimestamp};

impl OutcomeGeneration {
    pub(super) fn on_epoch_start_request(
        &mut self,
        from: u8,
        certificate: Certificate,
        signed: SignedCertifiedTimestamp,
    ) -> Vec<OutgenAction> {
        // Cheap checks first: only the leader, in its first phase, and only
        // the first request per sender costs any signature verification.
        match self.leading.as_ref() {
            Some(l) if l.phase == LeaderPhase::NewEpoch && !l.requests.contains_key(&from) => {}
            _ => return Vec::new(),
        }
        let valid = signed.timestamp == certificate.timestamp()
            && self.key_of(from).is_some_and(|k| {
                crate::signing::verify(
                    k,
                    &payload::highest_certified_timestamp(&self.ogid(), &signed.timestamp),
                    &signed.signature,
                )
            })
            && certificate.verify(&self.verifier());
        let quorum = self.quorum;
        let Some(leader) = self.leading.as_mut() else {
            return Vec::new();
        };
        if leader.phase != LeaderPhase::NewEpoch || leader.requests.contains_key(&from) {
            return Vec::new();
        }
        // An invalid request is remembered (as None) so the sender cannot retry.
        leader.requests.insert(from, valid.then_some((certificate, signed)));
        let good: Vec<(u8, &Certificate, &SignedCertifiedTimestamp)> =
            leader.requests.iter().filter_map(|(s, r)| r.as_ref().map(|(c, t)| (*s, c, t))).collect();
        if good.len() < quorum {
            return Vec::new();
        }
        let Some(&(chosen_signer, chosen, _)) = good.iter().max_by_key(|(_, c, _)| c.timestamp()) else {
            return Vec::new();
        };
        let chosen = chosen.clone();
        let mut proof: Vec<(u8, SignedCertifiedTimestamp)> = good
            .iter()
            .filter(|(s, _, _)| *s == chosen_signer)
            .chain(good.iter().filter(|(s, _, _)| *s != chosen_signer))
            .take(quorum)
            .map(|(s, _, t)| (*s, (*t).clone()))
            .collect();
        proof.sort_by_key(|(s, _)| *s);
        leader.phase = LeaderPhase::SentEpochStart;
        let entries: Vec<(CertifiedTimestamp, u8)> = proof.iter().map(|(s, t)| (t.timestamp, *s)).collect();
        let signature = self.cfg.key.sign(&payload::epoch_start(&self.ogid(), &chosen.digest(), &entries));
        vec![OutgenAction::Broadcast(Message::EpochStart {
            epoch: self.epoch,
            highest_certified: chosen,
            proof,
            signature,
        })]
    }

    fn epoch_start_is_valid(
        &self,
        certificate: &Certificate,
        proof: &[(u8, SignedCertifiedTimestamp)],
        signature: &crate::signing::Signature,
    ) -> bool {
        if proof.len() != self.quorum {
            return false;
        }
        let ogid = self.ogid();
        let mut seen = [false; 256];
        let mut highest = None;
        let mut payloads = Vec::with_capacity(proof.len() + 1);
        for (signer, signed) in proof {
            if std::mem::replace(&mut seen[usize::from(*signer)], true) {
                return false;
            }
            let Some(key) = self.key_of(*signer) else { return false };
            payloads.push((key, payload::highest_certified_timestamp(&ogid, &signed.timestamp), &signed.signature));
            highest = highest.max(Some(signed.timestamp));
        }
        let entries: Vec<(CertifiedTimestamp, u8)> = proof.iter().map(|(s, t)| (t.timestamp, *s)).collect();
        let Some(leader_key) = self.key_of(self.leader) else { return false };
        payloads.push((leader_key, payload::epoch_start(&ogid, &certificate.digest(), &entries), signature));
        highest == Some(certificate.timestamp())
            && crate::signing::verify_all(&payloads)
            && certificate.verify(&self.verifier())
    }

    pub(super) fn on_epoch_start(
        &mut self,
        from: u8,
        certificate: Certificate,
        proof: Vec<(u8, SignedCertifiedTimestamp)>,
        signature: crate::signing::Signature,
    ) -> Vec<OutgenAction> {
        if from != self.leader
            || self.follower.phase != FollowerPhase::NewEpoch
            || !self.epoch_start_is_valid(&certificate, &proof, &signature)
        {
            return Vec::new();
        }
        let mut actions = vec![OutgenAction::CancelTimer(OutgenTimer::Initial)];
        match certificate {
            Certificate::Commit(commit) => {
                if self.committed_seq_nr().is_none_or(|c| commit.seq_nr > c) {
                    actions.extend(self.commit_certificate(commit));
                }
                let next = self.committed_seq_nr().unwrap_or(0) + 1;
                self.first_seq_nr = next;
                actions.extend(self.start_follower_round(next));
                if let Some(l) = self.leading.as_mut() {
                    l.ready = true;
                }
                actions.extend(self.try_start_leader_round());
            }
            Certificate::Prepare(prepare) => {
                // Re-propose the prepared outcome: it may have committed
                // somewhere, so it is the only outcome this seq-nr may get.
                self.first_seq_nr = prepare.seq_nr + 1;
                let outcome_digest = payload::outcome_digest(&prepare.outcome);
                let inputs_digest = [0u8; 32];
                self.follower.seq_nr = prepare.seq_nr;
                self.follower.current = Some(Current { inputs_digest, outcome: prepare.outcome, outcome_digest });
                self.follower.phase = FollowerPhase::SentPrepare;
                let signature =
                    self.cfg.key.sign(&payload::prepare(&self.ogid(), prepare.seq_nr, &inputs_digest, &outcome_digest));
                actions.push(OutgenAction::Broadcast(Message::Prepare {
                    epoch: self.epoch,
                    seq_nr: prepare.seq_nr,
                    signature,
                }));
                actions.extend(self.try_prepare_quorum());
            }
        }
        actions
    }
}
