//! Simulated runs of the real core: outcomes commit, runs replay exactly
//! from their seed, and crashes with restarts keep safety and liveness.

use ocr_sim::{Byzantine, Crash, NetworkModel, Partition, Scenario, Simulation, Twin};

const MS: u64 = 1_000_000;
const SECOND: u64 = 1_000_000_000;

fn scenario(n: u8, f: u8, seed: u64) -> Scenario {
    Scenario {
        n,
        f,
        seed,
        duration: 30 * SECOND,
        network: NetworkModel::reliable(MS, 5 * MS),
        crashes: Vec::new(),
        mid_batch_crash_rate: 0.0,
        byzantine: Vec::new(),
        twin: None,
        record_trace: true,
    }
}

fn assert_clean(outcome: &ocr_sim::Outcome) {
    assert!(outcome.violations.is_empty(), "violations: {:#?}", outcome.violations);
}

#[test]
fn outcomes_commit_on_a_reliable_network() {
    for (n, f) in [(4, 1), (7, 2)] {
        let outcome = Simulation::new(scenario(n, f, 1)).run();
        assert_clean(&outcome);
        // DeltaRound is 100 ms: about ten rounds a second, less epoch changes.
        assert!(outcome.highest_seq_nr > 100, "n={n}: only {} outcomes committed", outcome.highest_seq_nr);
        // The median reports on heartbeat (10 s) and deviation: some reports,
        // each attested at every oracle and transmitted.
        assert!(outcome.attested_reports >= u64::from(n) * 3, "n={n}: {} attested", outcome.attested_reports);
        assert!(outcome.transmissions >= 3, "n={n}: {} transmitted", outcome.transmissions);
        // An oracle transmits only what it attested, at most once. (With no
        // chain in the simulation, should-transmit cannot see that an earlier
        // stage already transmitted, so later stages transmit too.)
        assert!(outcome.transmissions <= outcome.attested_reports);
    }
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    let mut s = scenario(4, 1, 42);
    s.network = NetworkModel { drop_rate: 0.05, duplicate_rate: 0.05, faults_until: 10 * SECOND, ..s.network };
    let a = Simulation::new(s.clone()).run();
    let b = Simulation::new(s.clone()).run();
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.highest_seq_nr, b.highest_seq_nr);
    s.seed = 43;
    assert_ne!(Simulation::new(s).run().trace_hash, a.trace_hash, "different seeds, different traces");
}

#[test]
fn crashes_and_restarts_keep_safety_and_liveness() {
    for seed in 0..8 {
        let mut s = scenario(4, 1, seed);
        s.duration = 60 * SECOND;
        s.network = NetworkModel { drop_rate: 0.02, duplicate_rate: 0.02, faults_until: 25 * SECOND, ..s.network };
        s.crashes = vec![
            Crash { node: (seed % 4) as u8, at: 3 * SECOND, down_for: Some(4 * SECOND) },
            Crash { node: (seed % 4) as u8, at: 12 * SECOND + seed * 100 * MS, down_for: Some(2 * SECOND) },
        ];
        s.mid_batch_crash_rate = 0.002;
        let outcome = Simulation::new(s).run();
        assert_clean(&outcome);
        assert!(outcome.highest_seq_nr > 50, "seed {seed}: {}", outcome.highest_seq_nr);
    }
}

#[test]
fn a_healed_partition_resumes_commits() {
    let mut s = scenario(4, 1, 9);
    s.duration = 60 * SECOND;
    // Two against two: no quorum on either side until it heals.
    s.network.partitions = vec![Partition { from: 5 * SECOND, until: 20 * SECOND, side: 0b0011 }];
    s.network.faults_until = 20 * SECOND;
    let outcome = Simulation::new(s).run();
    assert_clean(&outcome);
    assert!(outcome.last_commit_at > 30 * SECOND);
}

#[test]
fn byzantine_oracles_cannot_break_safety_or_stop_progress() {
    for behaviour in [
        Byzantine::EquivocatingLeader,
        Byzantine::InvalidSignatures,
        Byzantine::ReplaysOldEpochs,
        Byzantine::Oversized,
        Byzantine::WrongObserverIds,
    ] {
        for (n, f) in [(4u8, 1u8), (7, 2)] {
            for seed in 0..2u64 {
                let mut s = scenario(n, f, seed);
                s.duration = 30 * SECOND;
                s.byzantine = (0..f).map(|b| ((b + seed as u8) % n, behaviour)).collect();
                let outcome = Simulation::new(s).run();
                assert_clean(&outcome);
                assert!(outcome.highest_seq_nr > 20, "{behaviour:?} n={n} seed={seed}: {}", outcome.highest_seq_nr);
                if behaviour == Byzantine::Oversized {
                    assert!(outcome.refused_messages > 0, "oversized messages are refused by the size checks");
                }
            }
        }
    }
}

#[test]
fn twins_cannot_make_honest_oracles_disagree() {
    // Oracle `of` runs twice with the same keys; each twin talks to a
    // different half of the network, in every split of the others.
    for (n, f) in [(4u8, 1u8), (7, 2)] {
        for seed in 0..4u64 {
            let of = (seed % u64::from(n)) as u8;
            let side = (seed * 0x2b + 0x15) & ((1 << n) - 1) & !(1 << of);
            let mut s = scenario(n, f, seed);
            s.twin = Some(Twin { of, side });
            let outcome = Simulation::new(s).run();
            assert_clean(&outcome);
            assert!(outcome.highest_seq_nr > 20, "n={n} seed={seed}: {}", outcome.highest_seq_nr);
        }
    }
}
