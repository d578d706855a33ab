//! The protocol's own CPU cost: committed rounds per wall second in the
//! simulator (virtual time, so wall time is all CPU: protocol logic,
//! Ed25519 and secp256k1 signatures, the native median plugin), for
//! n = 4, 7, 10, 16, 31 on a reliable network. One thread.
//!
//! `cargo bench -p ocr-sim --bench protocol_cost`

use std::time::Instant;

use ocr_sim::{NetworkModel, Scenario, Simulation};

fn main() {
    // `cargo test --all-targets` runs benches once as a smoke test: keep it short.
    let bench = std::env::args().any(|a| a == "--bench");
    let seconds: u64 = if bench { 60 } else { 2 };
    println!(
        "{:>3} {:>3} {:>10} {:>8} {:>14} {:>22}",
        "n", "f", "committed", "wall s", "rounds/wall s", "CPU per node per round"
    );
    for n in [4u8, 7, 10, 16, 31] {
        let f = (n - 1) / 3;
        let scenario = Scenario {
            n,
            f,
            seed: 1,
            duration: seconds * 1_000_000_000,
            network: NetworkModel::reliable(1_000_000, 2_000_000),
            crashes: Vec::new(),
            mid_batch_crash_rate: 0.0,
            byzantine: Vec::new(),
            twin: None,
            record_trace: false,
        };
        let started = Instant::now();
        let outcome = Simulation::new(scenario).run();
        let wall = started.elapsed().as_secs_f64();
        let rounds = outcome.highest_seq_nr.max(1) as f64;
        println!(
            "{n:>3} {f:>3} {:>10} {wall:>8.2} {:>14.0} {:>19.3} ms",
            outcome.highest_seq_nr,
            rounds / wall,
            wall / rounds / f64::from(n) * 1000.0
        );
        assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
    }
}
