//! What Byzantine oracles send instead of what the honest code they run
//! would: equivocation, corrupted signatures, forged certificates, oversized
//! payloads, wrong observer ids, replays into old epochs. Each rewrite is
//! one a real attacker could make with its own key and what it received.

use std::collections::BTreeMap;

use ocr_core::certificate::Certificate;
use ocr_core::messages::Message;
use ocr_core::payload::{self, Ogid};
use ocr_core::signing::OffchainKey;
use ocr_plugin_sdk::ConfigDigest;

use crate::world::Byzantine;

/// The queries an equivocating leader sent, by (leader, epoch, seq-nr): what
/// its own re-signed observation must be bound to.
pub(crate) type QueriesSent = BTreeMap<(u8, u64, u64), Vec<u8>>;

/// The Byzantine sender: its identity and key, and the instance.
pub(crate) struct Signer<'a> {
    pub(crate) from: u8,
    pub(crate) key: &'a OffchainKey,
    pub(crate) config_digest: ConfigDigest,
}

/// What a Byzantine sender makes of an honest message to `to` (`None`:
/// nothing is sent).
///
/// An equivocating leader alternates between two attacks. In even rounds it
/// sends the followers of odd id another query. In odd rounds it splits the
/// followers into two camps, those of its own id's parity and the others,
/// and shows the others a proposal in which its own observation is another
/// one, validly re-signed: both camps get valid proposals with different
/// outcomes, and only the quorum rules keep them from both committing.
pub(crate) fn tamper(
    behaviour: Byzantine,
    signer: &Signer<'_>,
    queries: &mut QueriesSent,
    to: u8,
    message: Message,
) -> Option<Message> {
    let corrupt = |mut s: [u8; 64]| {
        s[0] ^= 0x80;
        s
    };
    Some(match (behaviour, message) {
        (Byzantine::EquivocatingLeader, Message::RoundStart { epoch, seq_nr, mut query, signature }) => {
            if queries.len() > 1024 {
                queries.clear();
            }
            queries.insert((signer.from, epoch, seq_nr), query.clone());
            if seq_nr % 2 == 0 && to % 2 == 1 {
                query.push(to);
            }
            Message::RoundStart { epoch, seq_nr, query, signature }
        }
        (Byzantine::EquivocatingLeader, Message::Proposal { epoch, seq_nr, mut observations })
            if seq_nr % 2 == 1 && to % 2 != signer.from % 2 =>
        {
            let query = queries.get(&(signer.from, epoch, seq_nr));
            let own = observations.iter_mut().find(|o| o.observer == signer.from);
            if let (Some(query), Some(own)) = (query, own) {
                let observation = &mut own.signed.observation;
                let middle = observation.len() / 2;
                if let Some(byte) = observation.get_mut(middle) {
                    *byte ^= 1;
                }
                let ogid = Ogid { config_digest: signer.config_digest, epoch };
                own.signed.signature =
                    signer.key.sign(&payload::signed_observation(&ogid, seq_nr, query, &own.signed.observation));
            }
            Message::Proposal { epoch, seq_nr, observations }
        }
        (Byzantine::InvalidSignatures, Message::Prepare { epoch, seq_nr, signature }) => {
            Message::Prepare { epoch, seq_nr, signature: corrupt(signature) }
        }
        (Byzantine::InvalidSignatures, Message::Commit { epoch, seq_nr, signature }) => {
            Message::Commit { epoch, seq_nr, signature: corrupt(signature) }
        }
        (Byzantine::InvalidSignatures, Message::Observation { epoch, seq_nr, mut signed }) => {
            signed.signature = corrupt(signed.signature);
            Message::Observation { epoch, seq_nr, signed }
        }
        (Byzantine::InvalidSignatures, Message::ReportSignatures { seq_nr, mut signatures }) => {
            for signature in &mut signatures {
                if let Some(byte) = signature.get_mut(10) {
                    *byte ^= 0x80;
                }
            }
            Message::ReportSignatures { seq_nr, signatures }
        }
        // Forged certificates: another outcome under signatures that cannot
        // verify. Only a certificate check stands between them and a
        // lagging oracle (a fetched commit) or a new leader (a lock).
        (Byzantine::InvalidSignatures, Message::CertifiedCommit(mut commit)) if !commit.signatures.is_empty() => {
            forge(&mut commit.outcome, &mut commit.signatures);
            Message::CertifiedCommit(commit)
        }
        (
            Byzantine::InvalidSignatures,
            Message::EpochStartRequest { epoch, mut highest_certified, signed_timestamp },
        ) => {
            match &mut highest_certified {
                Certificate::Prepare(p) => forge(&mut p.outcome, &mut p.signatures),
                Certificate::Commit(c) if !c.signatures.is_empty() => forge(&mut c.outcome, &mut c.signatures),
                Certificate::Commit(_) => {}
            }
            Message::EpochStartRequest { epoch, highest_certified, signed_timestamp }
        }
        (Byzantine::Oversized, Message::Observation { epoch, seq_nr, mut signed }) => {
            signed.observation.resize(signed.observation.len() + (64 << 10), 0xee);
            Message::Observation { epoch, seq_nr, signed }
        }
        (Byzantine::Oversized, Message::RoundStart { epoch, seq_nr, mut query, signature }) => {
            query.resize(64 << 10, 0xee);
            Message::RoundStart { epoch, seq_nr, query, signature }
        }
        (Byzantine::WrongObserverIds, Message::Proposal { epoch, seq_nr, mut observations }) => {
            let n = observations.len() as u8;
            for o in &mut observations {
                o.observer = (o.observer + 1) % n.max(1);
            }
            Message::Proposal { epoch, seq_nr, observations }
        }
        (_, message) => message,
    })
}

/// Makes a certificate claim another outcome, its signatures corrupted.
fn forge(outcome: &mut Vec<u8>, signatures: &mut [(u8, [u8; 64])]) {
    outcome.push(0xee);
    for (_, signature) in signatures {
        signature[0] ^= 0x80;
    }
}

/// The same message one epoch earlier, as a replaying node would send it.
pub(crate) fn with_lower_epoch(message: &Message) -> Message {
    let mut m = message.clone();
    if let Some(epoch) = m.epoch_mut() {
        *epoch = epoch.saturating_sub(1);
    }
    m
}
