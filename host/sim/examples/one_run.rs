//! Runs one scenario and prints what happened: `cargo run --release -p ocr-sim --example one_run -- SEED`.

use ocr_sim::{Crash, NetworkModel, Scenario, Simulation};

fn main() {
    let seed = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    let second = 1_000_000_000;
    let scenario = Scenario {
        n: 4,
        f: 1,
        seed,
        duration: 60 * second,
        network: NetworkModel {
            drop_rate: 0.02,
            duplicate_rate: 0.02,
            faults_until: 25 * second,
            ..NetworkModel::reliable(1_000_000, 5_000_000)
        },
        crashes: vec![Crash { node: 1, at: 3 * second, down_for: Some(4 * second) }],
        mid_batch_crash_rate: 0.002,
        byzantine: vec![(2, ocr_sim::Byzantine::EquivocatingLeader)],
        twin: None,
        record_trace: true,
    };
    let started = std::time::Instant::now();
    let outcome = Simulation::new(scenario).run();
    println!(
        "seed {seed}: highest seq_nr {}, deliveries {}, attested {}, refused {}, events {}, last commit at {} ms, violations {:?}, trace {}, wall {:?}",
        outcome.highest_seq_nr,
        outcome.deliveries,
        outcome.attested_reports,
        outcome.refused_messages,
        outcome.events,
        outcome.last_commit_at / 1_000_000,
        outcome.violations,
        &outcome.trace_hash[..16],
        started.elapsed()
    );
}
