//! The protocol's signature work, counted: on a reliable network an oracle
//! verifies only the signatures a quorum needs. Its own are never checked,
//! the prepare and commit pools stop at a quorum, and a report needs f
//! recoveries besides the oracle's own signature. The counts are exact
//! (one thread, virtual time), so a change that verifies more fails here
//! rather than showing up later as a slower benchmark. Most of them are
//! checked in batches (the proposal's observations, each pool's quorum),
//! which cost about half as much per signature.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ocr_core::verification_stats::performed_on_this_thread;
use ocr_sim::{NetworkModel, Scenario, Simulation};

const MS: u64 = 1_000_000;
const SECOND: u64 = 1_000_000_000;
/// Rounds per epoch in the simulator's config (`PublicConfig::development`).
const R_MAX: f64 = 20.0;

#[test]
fn an_oracle_verifies_only_what_a_quorum_needs() {
    for (n, f) in [(4u8, 1u8), (7, 2), (10, 3)] {
        let scenario = Scenario {
            n,
            f,
            seed: 7,
            duration: 20 * SECOND,
            network: NetworkModel::reliable(MS, 3 * MS),
            crashes: Vec::new(),
            mid_batch_crash_rate: 0.0,
            byzantine: Vec::new(),
            twin: None,
            record_trace: false,
        };
        let before = performed_on_this_thread();
        let outcome = Simulation::new(scenario).run();
        let after = performed_on_this_thread();
        assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
        assert!(outcome.highest_seq_nr > 50, "n={n}: only {} rounds", outcome.highest_seq_nr);
        assert!(outcome.attested_reports > 0, "n={n}: nothing attested");

        let (n_, f_) = (u64::from(n), u64::from(f));
        let quorum = (n_ + f_) / 2 + 1;
        let per_oracle_round = (after.offchain - before.offchain) as f64 / (outcome.highest_seq_nr * n_) as f64;
        // A follower checks the others' observations in the proposal (at
        // most n - 1) and quorum - 1 prepares and commits; the leader, one
        // oracle in n, also checks up to n - 1 observations as they arrive.
        let round = (n_ - 1) as f64 + 2.0 * (quorum - 1) as f64 + (n_ - 1) as f64 / n_ as f64;
        // An epoch (R_MAX rounds) starts with the leader checking up to
        // n - 1 signed requests, each with a certificate of a quorum, and a
        // follower checking the leader's signature, a quorum of signed
        // timestamps and the certificate chosen.
        let epoch_start = (2 * quorum + 1) as f64 + ((n_ - 1) * (quorum + 1)) as f64 / n_ as f64;
        let budget = round + epoch_start / R_MAX + 0.25;
        assert!(
            per_oracle_round <= budget,
            "n={n}: {per_oracle_round:.2} Ed25519 verifications per oracle per round, budget {budget:.2}"
        );
        // Everything but the leader's checks of observations as they arrive
        // and the epoch start's single requests goes through a batch.
        let batched = (after.offchain_batched - before.offchain_batched) as f64 / (outcome.highest_seq_nr * n_) as f64;
        let batched_share = batched / per_oracle_round;
        assert!(
            batched_share >= 0.8,
            "n={n}: only {:.0}% of Ed25519 verifications were batched",
            100.0 * batched_share
        );
        // Each attested report (counted at every oracle) needs f others'
        // signatures recovered; the simulator's own checker then recovers
        // all f + 1 of the report it is handed.
        let recoveries = after.onchain - before.onchain;
        assert!(
            recoveries <= outcome.attested_reports * (f_ + f_ + 1),
            "n={n}: {recoveries} recoveries for {} attested reports (f = {f})",
            outcome.attested_reports
        );
        eprintln!(
            "n={n}: {per_oracle_round:.2} verifications per oracle per round (budget {budget:.2}), \
             {:.0}% batched, {recoveries} recoveries for {} attested reports",
            100.0 * batched_share,
            outcome.attested_reports
        );
    }
}
