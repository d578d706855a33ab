//! `ocr-sim`: runs many seeded scenarios of the OCR3 core per fault class and
//! reports, per class, how many ran, failed and committed. Ends with one JSON
//! line; exits non-zero if any scenario failed, printing how to replay it.
//!
//! `cargo run --release -p ocr-sim -- --seeds 100 --nodes 4,7 --faults all`

use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use clap::Parser;
use ocr_sim::Simulation;
use ocr_sim::faults::FaultClass;

#[derive(Parser)]
#[command(about = "Deterministic simulation of the OCR3 core under faults")]
struct Args {
    /// Scenarios per fault class (seeds 0..N, or starting at --first-seed).
    #[arg(long, default_value_t = 10)]
    seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    first_seed: u64,
    /// Oracle counts, cycled over the seeds (e.g. "4,4,7,10").
    #[arg(long, default_value = "4", value_delimiter = ',')]
    nodes: Vec<u8>,
    /// Worker threads (scenarios are independent; results are reported in
    /// seed order whatever the count).
    #[arg(long, default_value_t = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))]
    jobs: usize,
    /// Fault classes: "all" or a comma-separated list of
    /// network, partition, crash, equivocation, signatures, replay,
    /// oversized, observers, twins, mixed.
    #[arg(long, default_value = "all", value_delimiter = ',')]
    faults: Vec<String>,
}

/// Runs the scenarios on `jobs` threads; results come back in input order.
fn run_all(class: FaultClass, runs: &[(u8, u64)], jobs: usize) -> Vec<(u64, ocr_sim::Outcome)> {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(runs.len()));
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(n, seed)) = runs.get(i) else { return };
                    let scenario = class.scenario(n, seed);
                    let duration = scenario.duration;
                    let outcome = Simulation::new(scenario).run();
                    if let Ok(mut r) = results.lock() {
                        r.push((i, duration, outcome));
                    }
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|(i, _, _)| *i);
    results.into_iter().map(|(_, d, o)| (d, o)).collect()
}

fn main() -> ExitCode {
    let args = Args::parse();
    let classes: Vec<FaultClass> = if args.faults.iter().any(|f| f == "all") {
        FaultClass::ALL.to_vec()
    } else {
        let mut classes = Vec::new();
        for name in &args.faults {
            match FaultClass::parse(name) {
                Some(c) => classes.push(c),
                None => {
                    eprintln!("error: unknown fault class {name:?}");
                    return ExitCode::from(2);
                }
            }
        }
        classes
    };
    if args.nodes.is_empty() || args.nodes.iter().any(|n| !(4..=31).contains(n)) {
        eprintln!("error: --nodes must list oracle counts between 4 and 31");
        return ExitCode::from(2);
    }
    let started = Instant::now();
    let (mut scenarios, mut failures, mut committed, mut simulated) = (0u64, 0u64, 0u64, 0u64);
    println!(
        "{:<13} {:>9} {:>8} {:>10} {:>10} {:>8}",
        "faults", "scenarios", "failures", "committed", "attested", "wall s"
    );
    for class in classes {
        let class_started = Instant::now();
        let (mut class_runs, mut class_failures, mut class_committed, mut class_attested) = (0u64, 0u64, 0u64, 0u64);
        let runs: Vec<(u8, u64)> =
            (0..args.seeds).map(|i| (args.nodes[(i as usize) % args.nodes.len()], args.first_seed + i)).collect();
        for ((n, seed), (duration, outcome)) in runs.iter().copied().zip(run_all(class, &runs, args.jobs.max(1))) {
            simulated += duration;
            class_runs += 1;
            class_committed += outcome.highest_seq_nr;
            class_attested += outcome.attested_reports;
            if !outcome.violations.is_empty() {
                class_failures += 1;
                eprintln!(
                    "FAILED {} n={n} seed={seed}: {:?}\n  replay: cargo run --release -p ocr-sim -- --faults {} --nodes {n} --seeds 1 --first-seed {seed}",
                    class.name(),
                    outcome.violations,
                    class.name()
                );
            }
        }
        println!(
            "{:<13} {:>9} {:>8} {:>10} {:>10} {:>8.1}",
            class.name(),
            class_runs,
            class_failures,
            class_committed,
            class_attested,
            class_started.elapsed().as_secs_f64()
        );
        scenarios += class_runs;
        failures += class_failures;
        committed += class_committed;
    }
    println!(
        "{}",
        serde_json::json!({
            "scenarios": scenarios,
            "failures": failures,
            "committed_outcomes": committed,
            "simulated_seconds": simulated / 1_000_000_000,
            "wall_seconds": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        })
    );
    if failures > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
