//! The pacemaker (reference §4): decides when the network moves to a new
//! epoch and who leads it. Sans-IO: each input returns an ordered list of
//! [`PacemakerAction`]s, and the driver performs them in order. A
//! [`PacemakerAction::Persist`] must be durable before any later action of
//! the same list is performed: it records the epoch this oracle entered and
//! the highest epoch it wished for. A restarted oracle must never re-enter an
//! older epoch or withdraw a wish, or it could act twice in one epoch.
//!
//! Rules, with `wishes[j]` the highest epoch oracle j wished for:
//! - echo: when more than f oracles wish for epochs above our own wish, raise
//!   our wish to the (f+1)-th largest of those (at least one honest oracle
//!   wants it) and broadcast it;
//! - switch: when more than 2f oracles wish for epochs above the current one,
//!   move to the (2f+1)-th largest of those (honest oracles can follow);
//! - no progress for DeltaProgress, or a request from outcome generation:
//!   wish for the next epoch;
//! - resend the newest wish every DeltaResend, so oracles that were down or
//!   partitioned catch up.

use std::time::Duration;

use crate::permutation::PermutationKeys;

/// What the pacemaker persists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacemakerState {
    /// The epoch this oracle is in.
    pub epoch: u64,
    /// The highest epoch this oracle has wished for (never below `epoch`).
    pub highest_sent_wish: u64,
}

/// The pacemaker's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacemakerTimer {
    /// Fires when no progress happened for DeltaProgress.
    Progress,
    /// Fires every DeltaResend.
    Resend,
}

/// What the driver must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PacemakerAction {
    /// Make this state durable before performing any later action.
    Persist(PacemakerState),
    /// Send `NewEpochWish { epoch }` to every oracle, this one included.
    BroadcastWish {
        /// The epoch wished for.
        epoch: u64,
    },
    /// (Re)arm a timer to fire after the given time; replaces a pending one.
    SetTimer(PacemakerTimer, Duration),
    /// Disarm a timer.
    CancelTimer(PacemakerTimer),
    /// Enter a new epoch: outcome generation starts it.
    StartEpoch {
        /// The epoch.
        epoch: u64,
        /// Its leader.
        leader: u8,
    },
}

/// Pacemaker parameters.
#[derive(Clone, Debug)]
pub struct PacemakerConfig {
    /// Number of oracles.
    pub n: usize,
    /// Maximum faulty oracles.
    pub f: usize,
    /// DeltaProgress.
    pub delta_progress: Duration,
    /// DeltaResend.
    pub delta_resend: Duration,
    /// Leader selection.
    pub keys: PermutationKeys,
}

/// The pacemaker of one oracle.
#[derive(Debug)]
pub struct Pacemaker {
    config: PacemakerConfig,
    epoch: u64,
    highest_sent_wish: u64,
    leader: u8,
    wishes: Vec<u64>,
}

impl Pacemaker {
    /// Starts from the persisted state (`None` on first start: epoch 1).
    ///
    /// A restarted oracle never takes part in an epoch it may already have
    /// acted in: nothing records what it signed there, so re-entering could
    /// make it sign a second outcome for one seq-nr. It wishes for the next
    /// epoch instead (persisted first) and stays out until the network
    /// switches. On a first start the state is persisted before anything
    /// else, so a crash in epoch 1 is a restart too.
    pub fn start(config: PacemakerConfig, restored: Option<PacemakerState>) -> (Self, Vec<PacemakerAction>) {
        let wishes = vec![0; config.n];
        match restored {
            None => {
                let leader = config.keys.leader(1, config.n);
                let pacemaker = Self { epoch: 1, highest_sent_wish: 1, leader, wishes, config };
                let actions = vec![
                    PacemakerAction::Persist(PacemakerState { epoch: 1, highest_sent_wish: 1 }),
                    PacemakerAction::SetTimer(PacemakerTimer::Progress, pacemaker.config.delta_progress),
                    PacemakerAction::BroadcastWish { epoch: 1 },
                    PacemakerAction::SetTimer(PacemakerTimer::Resend, pacemaker.config.delta_resend),
                    PacemakerAction::StartEpoch { epoch: 1, leader },
                ];
                (pacemaker, actions)
            }
            Some(state) => {
                let epoch = state.epoch.max(1);
                let wish = state.highest_sent_wish.max(epoch.saturating_add(1));
                let leader = config.keys.leader(epoch, config.n);
                let pacemaker = Self { epoch, highest_sent_wish: wish, leader, wishes, config };
                let actions = vec![
                    PacemakerAction::Persist(PacemakerState { epoch, highest_sent_wish: wish }),
                    PacemakerAction::BroadcastWish { epoch: wish },
                    PacemakerAction::SetTimer(PacemakerTimer::Resend, pacemaker.config.delta_resend),
                ];
                (pacemaker, actions)
            }
        }
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The current leader.
    pub fn leader(&self) -> u8 {
        self.leader
    }

    /// The highest epoch this oracle wished for.
    pub fn highest_sent_wish(&self) -> u64 {
        self.highest_sent_wish
    }

    /// A timer fired.
    pub fn on_timer(&mut self, timer: PacemakerTimer) -> Vec<PacemakerAction> {
        match timer {
            PacemakerTimer::Resend => vec![
                PacemakerAction::BroadcastWish { epoch: self.highest_sent_wish },
                PacemakerAction::SetTimer(PacemakerTimer::Resend, self.config.delta_resend),
            ],
            PacemakerTimer::Progress => self.wish_for_next_epoch(),
        }
    }

    /// Outcome generation committed an outcome.
    pub fn on_progress(&mut self) -> Vec<PacemakerAction> {
        vec![PacemakerAction::SetTimer(PacemakerTimer::Progress, self.config.delta_progress)]
    }

    /// Outcome generation wants a new epoch (no valid epoch start in time,
    /// or RMax rounds done).
    pub fn on_new_epoch_request(&mut self) -> Vec<PacemakerAction> {
        self.wish_for_next_epoch()
    }

    fn wish_for_next_epoch(&mut self) -> Vec<PacemakerAction> {
        let mut actions = vec![PacemakerAction::CancelTimer(PacemakerTimer::Progress)];
        let Some(next) = self.epoch.checked_add(1) else {
            // 2^64 epochs: unreachable in practice; never wrap around.
            return actions;
        };
        if self.highest_sent_wish < next {
            actions.push(PacemakerAction::Persist(PacemakerState { epoch: self.epoch, highest_sent_wish: next }));
            self.highest_sent_wish = next;
        }
        actions.push(PacemakerAction::BroadcastWish { epoch: self.highest_sent_wish });
        actions
    }

    /// The `k`-th largest of the wishes above `floor` (1-based), if at least
    /// `k` oracles wish above it.
    fn kth_largest_above(&self, floor: u64, k: usize) -> Option<u64> {
        let mut above: Vec<u64> = self.wishes.iter().copied().filter(|w| *w > floor).collect();
        if above.len() < k {
            return None;
        }
        above.sort_unstable_by(|a, b| b.cmp(a));
        above.get(k - 1).copied()
    }

    /// Oracle `from` wishes for `epoch`. `from` comes from the authenticated
    /// transport; out-of-range senders are ignored.
    pub fn on_wish(&mut self, from: u8, epoch: u64) -> Vec<PacemakerAction> {
        let Some(slot) = self.wishes.get_mut(usize::from(from)) else {
            return Vec::new();
        };
        *slot = (*slot).max(epoch);
        let f = self.config.f;
        let wish_for = self.kth_largest_above(self.highest_sent_wish, f + 1);
        let switch_to = self.kth_largest_above(self.epoch, 2 * f + 1);
        if wish_for.is_none() && switch_to.is_none() {
            return Vec::new();
        }
        let epoch = switch_to.unwrap_or(self.epoch);
        let highest_sent_wish = wish_for.unwrap_or(self.highest_sent_wish).max(epoch);
        let mut actions = vec![PacemakerAction::Persist(PacemakerState { epoch, highest_sent_wish })];
        if highest_sent_wish > self.highest_sent_wish {
            self.highest_sent_wish = highest_sent_wish;
            actions.push(PacemakerAction::BroadcastWish { epoch: highest_sent_wish });
        }
        if let Some(new_epoch) = switch_to {
            self.epoch = new_epoch;
            self.leader = self.config.keys.leader(new_epoch, self.config.n);
            actions.push(PacemakerAction::SetTimer(PacemakerTimer::Progress, self.config.delta_progress));
            actions.push(PacemakerAction::StartEpoch { epoch: new_epoch, leader: self.leader });
        }
        actions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PacemakerAction::*;
    use ocr_plugin_sdk::ConfigDigest;

    fn config(n: usize, f: usize) -> PacemakerConfig {
        PacemakerConfig {
            n,
            f,
            delta_progress: Duration::from_secs(2),
            delta_resend: Duration::from_secs(5),
            keys: PermutationKeys::new(&[1; 16], &ConfigDigest([2; 32])),
        }
    }

    fn persisted_before_broadcast(actions: &[PacemakerAction], wish: u64) {
        let persist = actions.iter().position(|a| matches!(a, Persist(s) if s.highest_sent_wish >= wish));
        let broadcast = actions.iter().position(|a| *a == BroadcastWish { epoch: wish });
        match (persist, broadcast) {
            (Some(p), Some(b)) => assert!(p < b, "persist must precede the broadcast: {actions:?}"),
            _ => panic!("expected a persist and a broadcast of {wish}: {actions:?}"),
        }
    }

    #[test]
    fn a_first_start_enters_epoch_one_and_announces_it() {
        let (p, actions) = Pacemaker::start(config(4, 1), None);
        assert_eq!(p.epoch(), 1);
        assert!(actions.contains(&BroadcastWish { epoch: 1 }));
        assert!(actions.contains(&StartEpoch { epoch: 1, leader: p.leader() }));
        assert!(actions.contains(&SetTimer(PacemakerTimer::Progress, Duration::from_secs(2))));
    }

    #[test]
    fn no_progress_wishes_for_the_next_epoch_after_persisting_it() {
        let (mut p, _) = Pacemaker::start(config(4, 1), None);
        let actions = p.on_timer(PacemakerTimer::Progress);
        persisted_before_broadcast(&actions, 2);
        assert_eq!(p.epoch(), 1, "a wish alone does not switch");
        // Asking again does not persist again.
        let again = p.on_new_epoch_request();
        assert!(!again.iter().any(|a| matches!(a, Persist(_))));
        assert!(again.contains(&BroadcastWish { epoch: 2 }));
    }

    #[test]
    fn f_plus_one_wishes_are_echoed_and_two_f_plus_one_switch() {
        let (mut p, _) = Pacemaker::start(config(4, 1), None);
        assert!(p.on_wish(1, 5).is_empty(), "one (possibly faulty) oracle is not enough");
        let echo = p.on_wish(2, 5);
        persisted_before_broadcast(&echo, 5);
        assert_eq!(p.epoch(), 1, "f+1 wishes echo but do not switch");
        let switch = p.on_wish(3, 7);
        // Wishes above epoch 1: 5, 5, 7 -> the third largest is 5.
        let persist = switch.iter().position(|a| matches!(a, Persist(PacemakerState { epoch: 5, .. })));
        let start = switch.iter().position(|a| matches!(a, StartEpoch { epoch: 5, .. }));
        assert!(persist.is_some() && start.is_some() && persist < start, "{switch:?}");
        assert_eq!(p.epoch(), 5);
        assert_eq!(p.leader(), config(4, 1).keys.leader(5, 4));
    }

    #[test]
    fn stale_and_out_of_range_wishes_change_nothing() {
        let (mut p, _) = Pacemaker::start(config(4, 1), Some(PacemakerState { epoch: 9, highest_sent_wish: 9 }));
        for from in 0..4 {
            assert!(p.on_wish(from, 3).is_empty());
        }
        assert!(p.on_wish(200, 100).is_empty());
        assert_eq!(p.epoch(), 9);
    }

    #[test]
    fn a_restart_never_re_enters_its_epoch() {
        let (p, actions) = Pacemaker::start(config(7, 2), Some(PacemakerState { epoch: 4, highest_sent_wish: 6 }));
        assert_eq!((p.epoch(), p.highest_sent_wish()), (4, 6));
        assert!(actions.contains(&BroadcastWish { epoch: 6 }), "it keeps wishing what it wished before");
        assert!(!actions.iter().any(|a| matches!(a, StartEpoch { .. })), "it stays out of epoch 4: {actions:?}");
        // Without a higher wish, it wishes for the next epoch, persisted first.
        let (mut p, actions) = Pacemaker::start(config(4, 1), Some(PacemakerState { epoch: 4, highest_sent_wish: 4 }));
        persisted_before_broadcast(&actions, 5);
        assert!(!actions.iter().any(|a| matches!(a, StartEpoch { .. })));
        // It joins once the others move on.
        p.on_wish(1, 5);
        p.on_wish(2, 5);
        let joined = p.on_wish(3, 5);
        assert!(joined.iter().any(|a| matches!(a, StartEpoch { epoch: 5, .. })), "{joined:?}");
    }

    #[test]
    fn a_first_start_persists_before_acting() {
        let (_, actions) = Pacemaker::start(config(4, 1), None);
        assert_eq!(actions[0], Persist(PacemakerState { epoch: 1, highest_sent_wish: 1 }));
    }

    #[test]
    fn resend_repeats_the_newest_wish() {
        let (mut p, _) = Pacemaker::start(config(4, 1), None);
        p.on_timer(PacemakerTimer::Progress);
        let actions = p.on_timer(PacemakerTimer::Resend);
        assert_eq!(actions[0], BroadcastWish { epoch: 2 });
        assert_eq!(actions[1], SetTimer(PacemakerTimer::Resend, Duration::from_secs(5)));
    }
}
