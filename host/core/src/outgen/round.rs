//! One round (reference §5.3): the leader's query, observations signed over
//! it, the leader's proposal after the quorum and the grace period, then
//! prepare and commit certificates. A follower prepares only an outcome it
//! computed itself from observations signed over *its* copy of the query,
//! so a leader that equivocates cannot mix rounds.

use ocr_plugin_api::AttributedObservation;

use super::*;
use crate::certificate::CertifiedPrepare;
use crate::payload;
use crate::plugin_call::PluginRequest;

/// Pools accept messages for the current seq-nr and the next one only.
const POOL_LOOKAHEAD: u64 = 1;

impl OutcomeGeneration {
    /// Pools hold the current round and the next. Before the epoch start
    /// arrives the current round is not known yet: it is at least the one
    /// after the last commit (or the lock's, for a re-proposal), so messages
    /// that overtake the EpochStart are kept rather than lost.
    fn in_pool_window(&self, seq_nr: u64) -> bool {
        let base = match self.follower.phase {
            FollowerPhase::NewEpoch => self
                .committed_seq_nr()
                .unwrap_or_else(|| self.cert.timestamp().seq_nr.saturating_sub(1))
                .min(self.cert.timestamp().seq_nr),
            _ => self.follower.seq_nr,
        };
        seq_nr >= base && seq_nr <= base.saturating_add(POOL_LOOKAHEAD + 1)
    }

    pub(super) fn start_follower_round(&mut self, seq_nr: u64) -> Vec<OutgenAction> {
        let f = &mut self.follower;
        f.seq_nr = seq_nr;
        f.phase = FollowerPhase::NewRound;
        f.query = None;
        f.pending_inputs_digest = None;
        f.current = None;
        f.own_observation = None;
        f.round_starts.retain(|s, _| *s >= seq_nr);
        f.proposals.retain(|s, _| *s >= seq_nr);
        f.prepares.retain(|s, _| *s >= seq_nr);
        f.commits.retain(|s, _| *s >= seq_nr);
        self.try_round_start()
    }

    fn try_round_start(&mut self) -> Vec<OutgenAction> {
        let seq_nr = self.follower.seq_nr;
        if self.follower.phase != FollowerPhase::NewRound {
            return Vec::new();
        }
        let (Some(query), Some(ctx)) = (self.follower.round_starts.get(&seq_nr).cloned(), self.ctx(seq_nr)) else {
            return Vec::new();
        };
        self.follower.query = Some(query.clone());
        self.follower.phase = FollowerPhase::BackgroundObservation;
        vec![self.call(seq_nr, TAG_MAIN, PluginRequest::Observation { ctx, query })]
    }

    pub(super) fn on_round_start(&mut self, from: u8, seq_nr: u64, query: Vec<u8>) -> Vec<OutgenAction> {
        if from != self.leader || !self.in_pool_window(seq_nr) {
            return Vec::new();
        }
        self.follower.round_starts.entry(seq_nr).or_insert(query);
        self.try_round_start()
    }

    pub(super) fn on_observation_done(&mut self, id: CallId, observation: Option<Vec<u8>>) -> Vec<OutgenAction> {
        let f = &self.follower;
        if id.seq_nr != f.seq_nr || f.phase != FollowerPhase::BackgroundObservation {
            return Vec::new();
        }
        let mut actions = Vec::new();
        if let (Some(observation), Some(query)) = (observation, f.query.as_ref()) {
            let signature =
                self.cfg.key.sign(&payload::signed_observation(&self.ogid(), id.seq_nr, query, &observation));
            let signed = SignedObservation { observation, signature };
            self.follower.own_observation =
                Some(OwnObservation { seq_nr: id.seq_nr, query: query.clone(), signed: signed.clone() });
            actions.push(OutgenAction::Send {
                to: self.leader,
                message: Message::Observation { epoch: self.epoch, seq_nr: id.seq_nr, signed },
            });
        }
        // Without an observation of its own this oracle can still prepare.
        self.follower.phase = FollowerPhase::SentObservation;
        actions.extend(self.try_proposal());
        actions
    }

    pub(super) fn on_proposal(
        &mut self,
        from: u8,
        seq_nr: u64,
        observations: Vec<AttributedSignedObservation>,
    ) -> Vec<OutgenAction> {
        if from != self.leader || !self.in_pool_window(seq_nr) {
            return Vec::new();
        }
        self.follower.proposals.entry(seq_nr).or_insert(observations);
        self.try_proposal()
    }

    fn try_proposal(&mut self) -> Vec<OutgenAction> {
        let seq_nr = self.follower.seq_nr;
        if self.follower.phase != FollowerPhase::SentObservation {
            return Vec::new();
        }
        let (Some(query), Some(ctx)) = (self.follower.query.clone(), self.ctx(seq_nr)) else {
            return Vec::new();
        };
        let Some(proposal) = self.follower.proposals.remove(&seq_nr) else {
            return Vec::new();
        };
        let ogid = self.ogid();
        let me = self.cfg.me;
        let mut seen = [false; 256];
        let mut payloads = Vec::with_capacity(proposal.len());
        for aso in &proposal {
            // A faulty leader's proposal (a repeated observer, an unknown
            // one, a bad signature): drop it silently.
            if std::mem::replace(&mut seen[usize::from(aso.observer)], true) {
                return Vec::new();
            }
            let own = aso.observer == me
                && self.follower.own_observation.as_ref().is_some_and(|o| o.is(seq_nr, &query, &aso.signed));
            if own {
                continue;
            }
            let Some(key) = self.key_of(aso.observer) else { return Vec::new() };
            let signed = payload::signed_observation(&ogid, seq_nr, &query, &aso.signed.observation);
            payloads.push((key, signed, &aso.signed.signature));
        }
        if !crate::signing::verify_all(&payloads) {
            return Vec::new();
        }
        let observations: Vec<AttributedObservation> = proposal
            .into_iter()
            .map(|aso| AttributedObservation { observation: aso.signed.observation, observer: aso.observer })
            .collect();
        let inputs_digest = payload::outcome_inputs_digest(&ogid, &ctx.previous_outcome, seq_nr, &query, &observations);
        self.follower.pending_inputs_digest = Some(inputs_digest);
        self.follower.phase = FollowerPhase::BackgroundProposalOutcome;
        vec![self.call(seq_nr, TAG_MAIN, PluginRequest::ProposalOutcome { ctx, query, observations })]
    }

    pub(super) fn on_proposal_outcome_done(&mut self, id: CallId, outcome: Option<Vec<u8>>) -> Vec<OutgenAction> {
        let f = &mut self.follower;
        if id.seq_nr != f.seq_nr || f.phase != FollowerPhase::BackgroundProposalOutcome {
            return Vec::new();
        }
        let (Some(outcome), Some(inputs_digest)) = (outcome, f.pending_inputs_digest.take()) else {
            // The plugin refused the proposal; wait for the epoch to change.
            f.phase = FollowerPhase::SentObservation;
            return Vec::new();
        };
        let outcome_digest = payload::outcome_digest(&outcome);
        f.current = Some(Current { inputs_digest, outcome, outcome_digest });
        f.phase = FollowerPhase::SentPrepare;
        let signature = self.cfg.key.sign(&payload::prepare(&self.ogid(), id.seq_nr, &inputs_digest, &outcome_digest));
        self.follower.prepares.entry(id.seq_nr).or_default().insert(self.cfg.me, (signature, Some(true)));
        let mut actions =
            vec![OutgenAction::Broadcast(Message::Prepare { epoch: self.epoch, seq_nr: id.seq_nr, signature })];
        actions.extend(self.try_prepare_quorum());
        actions.extend(self.try_commit_quorum());
        actions
    }

    pub(super) fn on_prepare(&mut self, from: u8, seq_nr: u64, signature: Signature) -> Vec<OutgenAction> {
        if !self.in_pool_window(seq_nr) {
            return Vec::new();
        }
        self.follower.prepares.entry(seq_nr).or_default().entry(from).or_insert((signature, None));
        self.try_prepare_quorum()
    }

    pub(super) fn on_commit(&mut self, from: u8, seq_nr: u64, signature: Signature) -> Vec<OutgenAction> {
        if !self.in_pool_window(seq_nr) {
            return Vec::new();
        }
        self.follower.commits.entry(seq_nr).or_default().entry(from).or_insert((signature, None));
        self.try_commit_quorum()
    }

    /// A quorum of valid signatures from a pool, if there is one. Each entry
    /// is verified at most once against `payload` (this round's own digests,
    /// fixed once the outcome is known), and a sender keeps its first entry,
    /// valid or not: garbage cannot make this oracle verify again and again.
    /// Verification stops as soon as a quorum is valid: signatures beyond it
    /// are never needed, and this oracle's own entry is valid from the start.
    fn quorum_from_pool(&mut self, commits: bool, payload: &[u8]) -> Option<Vec<(u8, Signature)>> {
        let seq_nr = self.follower.seq_nr;
        let quorum = self.quorum;
        let keys = &self.keys;
        let pools = if commits { &mut self.follower.commits } else { &mut self.follower.prepares };
        let pool = pools.get_mut(&seq_nr)?;
        if pool.values().filter(|(_, verdict)| *verdict != Some(false)).count() < quorum {
            return None;
        }
        // Check just enough unverified entries to complete a quorum, as one
        // batch; when the batch fails (a faulty sender's signature is in
        // it), learn each entry's verdict and try again with the rest.
        loop {
            let valid = pool.values().filter(|(_, verdict)| *verdict == Some(true)).count();
            let missing = quorum.saturating_sub(valid);
            let unverified: Vec<u8> =
                pool.iter().filter(|(_, (_, v))| v.is_none()).map(|(s, _)| *s).take(missing).collect();
            if missing == 0 || unverified.len() < missing {
                break;
            }
            let items: Vec<crate::signing::SignedPayload<'_>> = unverified
                .iter()
                .filter_map(|s| Some((keys.get(usize::from(*s))?, payload, &pool.get(s)?.0)))
                .collect();
            if items.len() == unverified.len() && crate::signing::verify_all(&items) {
                for signer in &unverified {
                    if let Some((_, verdict)) = pool.get_mut(signer) {
                        *verdict = Some(true);
                    }
                }
                continue;
            }
            for signer in &unverified {
                if let Some((signature, verdict)) = pool.get_mut(signer) {
                    let ok =
                        keys.get(usize::from(*signer)).is_some_and(|k| crate::signing::verify(k, payload, signature));
                    *verdict = Some(ok);
                }
            }
        }
        let valid: Vec<(u8, Signature)> =
            pool.iter().filter(|(_, (_, v))| *v == Some(true)).take(quorum).map(|(s, (sig, _))| (*s, *sig)).collect();
        (valid.len() >= quorum).then_some(valid)
    }

    pub(super) fn try_prepare_quorum(&mut self) -> Vec<OutgenAction> {
        let seq_nr = self.follower.seq_nr;
        if self.follower.phase != FollowerPhase::SentPrepare {
            return Vec::new();
        }
        let Some(current) = self.follower.current.clone() else { return Vec::new() };
        let ogid = self.ogid();
        let prepare_payload = payload::prepare(&ogid, seq_nr, &current.inputs_digest, &current.outcome_digest);
        let Some(signatures) = self.quorum_from_pool(false, &prepare_payload) else {
            return Vec::new();
        };
        let certificate = Certificate::Prepare(CertifiedPrepare {
            epoch: self.epoch,
            seq_nr,
            inputs_digest: current.inputs_digest,
            outcome: current.outcome.clone(),
            signatures,
        });
        let mut actions = Vec::new();
        if certificate.timestamp() > self.cert.timestamp() {
            // The lock first: no commit signature leaves before it is durable.
            actions.push(OutgenAction::Persist(certificate.clone()));
            self.cert = certificate;
        }
        self.follower.phase = FollowerPhase::SentCommit;
        let signature = self.cfg.key.sign(&payload::commit(&ogid, seq_nr, &current.outcome_digest));
        self.follower.commits.entry(seq_nr).or_default().insert(self.cfg.me, (signature, Some(true)));
        actions.push(OutgenAction::Broadcast(Message::Commit { epoch: self.epoch, seq_nr, signature }));
        actions.extend(self.try_commit_quorum());
        actions
    }

    pub(super) fn try_commit_quorum(&mut self) -> Vec<OutgenAction> {
        let seq_nr = self.follower.seq_nr;
        if !matches!(self.follower.phase, FollowerPhase::SentPrepare | FollowerPhase::SentCommit) {
            return Vec::new();
        }
        let Some(current) = self.follower.current.clone() else { return Vec::new() };
        let commit_payload = payload::commit(&self.ogid(), seq_nr, &current.outcome_digest);
        let Some(signatures) = self.quorum_from_pool(true, &commit_payload) else {
            return Vec::new();
        };
        let commit = CertifiedCommit { epoch: self.epoch, seq_nr, outcome: current.outcome, signatures };
        let mut actions = self.commit_certificate(commit);
        if seq_nr.saturating_sub(self.first_seq_nr) + 1 >= self.cfg.config.r_max {
            self.follower.phase = FollowerPhase::EpochEnded;
            actions.push(OutgenAction::NewEpochRequest);
            return actions;
        }
        actions.push(OutgenAction::Progress);
        actions.extend(self.start_follower_round(seq_nr + 1));
        if let Some(l) = self.leading.as_mut() {
            l.ready = true;
        }
        actions.extend(self.try_start_leader_round());
        actions
    }

    /// Adopts a commit certificate: durable first, then delivered. An
    /// outcome is delivered once: when a new leader re-proposes a prepared
    /// outcome that this oracle had already committed (the others missed the
    /// commits), this oracle signs along so they can finish, but does not
    /// deliver it again.
    pub(super) fn commit_certificate(&mut self, commit: CertifiedCommit) -> Vec<OutgenAction> {
        let mut actions = Vec::new();
        let certificate = Certificate::Commit(commit.clone());
        if certificate.timestamp() > self.cert.timestamp() {
            actions.push(OutgenAction::Persist(certificate.clone()));
            self.cert = certificate;
        }
        if self.committed_seq_nr().is_some_and(|c| c >= commit.seq_nr) {
            return actions;
        }
        self.committed = Some(commit.clone());
        actions.push(OutgenAction::Committed(commit));
        actions
    }

    // ---- leader ----

    pub(super) fn try_start_leader_round(&mut self) -> Vec<OutgenAction> {
        let next = self.committed_seq_nr().map(|c| c + 1);
        let ended = self.follower.phase == FollowerPhase::EpochEnded;
        let Some(l) = self.leading.as_ref() else { return Vec::new() };
        let startable = matches!(l.phase, LeaderPhase::SentEpochStart | LeaderPhase::SentProposal);
        if !(startable && l.ready && l.round_timer_expired && !l.query_in_flight) || ended {
            return Vec::new();
        }
        let Some(seq_nr) = next else { return Vec::new() };
        let Some(ctx) = self.ctx(seq_nr) else { return Vec::new() };
        let call = self.call(seq_nr, TAG_MAIN, PluginRequest::Query { ctx: ctx.clone() });
        if let Some(l) = self.leading.as_mut() {
            l.ready = false;
            l.round_timer_expired = false;
            l.query_in_flight = true;
            l.seq_nr = seq_nr;
            l.ctx = Some(ctx);
        }
        vec![call]
    }

    pub(super) fn on_query_done(&mut self, id: CallId, query: Option<Vec<u8>>) -> Vec<OutgenAction> {
        let ogid = self.ogid();
        let delta_round = self.cfg.config.delta_round;
        let Some(l) = self.leading.as_mut() else { return Vec::new() };
        if id.seq_nr != l.seq_nr || !l.query_in_flight {
            return Vec::new();
        }
        l.query_in_flight = false;
        // A failed query starts no round; the progress timer ends the epoch.
        let Some(query) = query else { return Vec::new() };
        let signature = self.cfg.key.sign(&payload::round_start(&ogid, id.seq_nr, &query));
        l.query = query.clone();
        l.observations.clear();
        l.quorum_in_flight = false;
        l.quorum_checked = 0;
        l.quorum_reached = false;
        l.phase = LeaderPhase::SentRoundStart;
        vec![
            OutgenAction::SetTimer(OutgenTimer::Round, delta_round),
            OutgenAction::Broadcast(Message::RoundStart { epoch: self.epoch, seq_nr: id.seq_nr, query, signature }),
        ]
    }

    pub(super) fn on_observation(&mut self, from: u8, seq_nr: u64, signed: SignedObservation) -> Vec<OutgenAction> {
        let ogid = self.ogid();
        let key = self.key_of(from).copied();
        let Some(l) = self.leading.as_mut() else { return Vec::new() };
        if !matches!(l.phase, LeaderPhase::SentRoundStart | LeaderPhase::Grace)
            || seq_nr != l.seq_nr
            || l.observations.contains_key(&from)
        {
            return Vec::new();
        }
        let own = from == self.cfg.me
            && self.follower.own_observation.as_ref().is_some_and(|o| o.is(seq_nr, &l.query, &signed));
        let valid_signature = own || {
            let payload = payload::signed_observation(&ogid, seq_nr, &l.query, &signed.observation);
            key.is_some_and(|k| crate::signing::verify(&k, &payload, &signed.signature))
        };
        let observation = AttributedObservation { observation: signed.observation.clone(), observer: from };
        l.observations.insert(from, LeaderObservation { signed, valid: (!valid_signature).then_some(false) });
        let (Some(ctx), true) = (l.ctx.clone(), valid_signature) else { return Vec::new() };
        let query = l.query.clone();
        vec![self.call(seq_nr, u32::from(from) + 1, PluginRequest::ValidateObservation { ctx, query, observation })]
    }

    pub(super) fn on_validation_done(&mut self, id: CallId, valid: bool) -> Vec<OutgenAction> {
        let Some(l) = self.leading.as_mut() else { return Vec::new() };
        let Some(observer) = id.tag.checked_sub(1).and_then(|t| u8::try_from(t).ok()) else { return Vec::new() };
        if id.seq_nr != l.seq_nr {
            return Vec::new();
        }
        if let Some(o) = l.observations.get_mut(&observer) {
            o.valid = Some(valid);
        }
        self.maybe_check_quorum()
    }

    fn valid_observations(l: &LeaderState) -> Vec<(u8, &SignedObservation)> {
        l.observations.iter().filter(|(_, o)| o.valid == Some(true)).map(|(s, o)| (*s, &o.signed)).collect()
    }

    fn maybe_check_quorum(&mut self) -> Vec<OutgenAction> {
        let Some(l) = self.leading.as_ref() else { return Vec::new() };
        let valid = Self::valid_observations(l);
        if l.quorum_reached
            || l.quorum_in_flight
            || valid.len() <= l.quorum_checked
            || l.phase != LeaderPhase::SentRoundStart
        {
            return Vec::new();
        }
        let Some(ctx) = l.ctx.clone() else { return Vec::new() };
        let observations: Vec<AttributedObservation> = valid
            .iter()
            .map(|(s, o)| AttributedObservation { observation: o.observation.clone(), observer: *s })
            .collect();
        let (seq_nr, query, count) = (l.seq_nr, l.query.clone(), observations.len());
        if let Some(l) = self.leading.as_mut() {
            l.quorum_in_flight = true;
            l.quorum_checked = count;
        }
        vec![self.call(seq_nr, TAG_QUORUM, PluginRequest::ObservationQuorum { ctx, query, observations })]
    }

    pub(super) fn on_quorum_done(&mut self, id: CallId, quorum: bool) -> Vec<OutgenAction> {
        let delta_grace = self.cfg.config.delta_grace;
        let Some(l) = self.leading.as_mut() else { return Vec::new() };
        if id.seq_nr != l.seq_nr || !l.quorum_in_flight {
            return Vec::new();
        }
        l.quorum_in_flight = false;
        if quorum && l.phase == LeaderPhase::SentRoundStart {
            l.quorum_reached = true;
            l.phase = LeaderPhase::Grace;
            return vec![OutgenAction::SetTimer(OutgenTimer::Grace, delta_grace)];
        }
        self.maybe_check_quorum()
    }

    pub(super) fn on_grace_expired(&mut self) -> Vec<OutgenAction> {
        let epoch = self.epoch;
        let Some(l) = self.leading.as_mut() else { return Vec::new() };
        if l.phase != LeaderPhase::Grace {
            return Vec::new();
        }
        l.phase = LeaderPhase::SentProposal;
        let observations = Self::valid_observations(l)
            .into_iter()
            .map(|(observer, signed)| AttributedSignedObservation { signed: signed.clone(), observer })
            .collect();
        vec![OutgenAction::Broadcast(Message::Proposal { epoch, seq_nr: l.seq_nr, observations })]
    }
}
