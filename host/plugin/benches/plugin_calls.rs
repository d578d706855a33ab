//! Plugin call costs, through wasm and natively: instantiation, a no-op call,
//! an observation with a 1 KB payload, and the median outcome over 31
//! observations. Criterion measures each; a summary at the end prints the
//! wasm/native pairs side by side with the overhead and the ratio.
//!
//! Run: `cargo xtask plugins && cargo bench -p ocr-plugin-host`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use fixture_echo::Echo;
use median::{MedianObservation, MedianPlugin};
use ocr_plugin_api::{NativePlugin, Plugin};
use ocr_plugin_host::{EngineOptions, LoadedPlugin, PluginEngine};
use ocr_plugin_sdk::{AttributedObservation, ConfigDigest, DataSources, NoDataSources, OutcomeContext, PluginConfig};

const MEDIAN_CONFIG: &[u8] =
    br#"{"version":1,"value_source":"price","deviation_threshold_ppb":1000000,"heartbeat_seconds":30}"#;

fn plugin_path(relative: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("bench binary path");
    exe.ancestors().nth(3).expect("target directory").join("plugins").join(relative)
}

fn load(engine: &PluginEngine, relative: &str) -> Arc<LoadedPlugin> {
    engine.load_file(&plugin_path(relative)).unwrap_or_else(|e| panic!("{relative}: {e} (run `cargo xtask plugins`)"))
}

fn config(n: u8, f: u8, offchain: &[u8]) -> PluginConfig {
    let mut c = PluginConfig::for_tests(n, f, offchain.to_vec());
    c.config_digest = ConfigDigest([3; 32]);
    c
}

fn sources() -> Arc<dyn DataSources + Send + Sync> {
    Arc::new(NoDataSources)
}

fn observations() -> Vec<AttributedObservation> {
    (0..31u8)
        .map(|o| AttributedObservation {
            observer: o,
            observation: MedianObservation {
                timestamp: 1_700_000_000 + u32::from(o),
                value: 300_000_000_000 + i128::from(o) * 7_919 % 1000,
                juels_per_fee_coin: 1,
            }
            .encode(),
        })
        .collect()
}

/// The four measured operations, each as a closure per variant.
struct Cases {
    echo_wasm: Arc<LoadedPlugin>,
    median_wasm: Arc<LoadedPlugin>,
}

impl Cases {
    fn new() -> Self {
        let engine = PluginEngine::new(EngineOptions::default()).expect("engine");
        Self { echo_wasm: load(&engine, "fixtures/echo.wasm"), median_wasm: load(&engine, "median.wasm") }
    }
}

fn benches(c: &mut Criterion, cases: &Cases) {
    let echo_config = config(4, 1, b"");
    let payload = vec![0x5au8; 1024];
    let ctx = OutcomeContext { seq_nr: 1, ..Default::default() };

    let mut group = c.benchmark_group("instantiate");
    group.bench_function("wasm", |b| {
        b.iter(|| black_box(cases.echo_wasm.instantiate(&echo_config, sources()).unwrap()))
    });
    group.bench_function("native", |b| {
        b.iter(|| black_box(NativePlugin::<Echo>::create(&echo_config, sources()).unwrap()))
    });
    group.finish();

    let mut wasm = cases.echo_wasm.instantiate(&echo_config, sources()).unwrap();
    let mut native = NativePlugin::<Echo>::create(&echo_config, sources()).unwrap();
    let mut group = c.benchmark_group("noop_call");
    group.bench_function("wasm", |b| b.iter(|| black_box(wasm.query(&ctx).unwrap())));
    group.bench_function("native", |b| b.iter(|| black_box(native.query(&ctx).unwrap())));
    group.finish();

    let mut group = c.benchmark_group("observation_1kb");
    group.bench_function("wasm", |b| b.iter(|| black_box(wasm.observation(&ctx, &payload).unwrap())));
    group.bench_function("native", |b| b.iter(|| black_box(native.observation(&ctx, &payload).unwrap())));
    group.finish();

    let median_config = config(31, 10, MEDIAN_CONFIG);
    let aos = observations();
    let mut wasm_median = cases.median_wasm.instantiate(&median_config, sources()).unwrap();
    let mut native_median = NativePlugin::<MedianPlugin>::create(&median_config, sources()).unwrap();
    let mut group = c.benchmark_group("median_outcome_31");
    group.bench_function("wasm", |b| b.iter(|| black_box(wasm_median.outcome(&ctx, &[], &aos).unwrap())));
    group.bench_function("native", |b| b.iter(|| black_box(native_median.outcome(&ctx, &[], &aos).unwrap())));
    group.finish();
}

/// Best mean time per call over several batches: robust to a noisy machine.
fn best_of(mut f: impl FnMut()) -> Duration {
    let mut iterations = 1u32;
    loop {
        let started = Instant::now();
        for _ in 0..iterations {
            f();
        }
        if started.elapsed() > Duration::from_millis(50) {
            break;
        }
        iterations *= 2;
    }
    (0..7)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..iterations {
                f();
            }
            started.elapsed() / iterations
        })
        .min()
        .unwrap_or_default()
}

fn summary(cases: &Cases) {
    let echo_config = config(4, 1, b"");
    let payload = vec![0x5au8; 1024];
    let ctx = OutcomeContext { seq_nr: 1, ..Default::default() };
    let mut wasm = cases.echo_wasm.instantiate(&echo_config, sources()).unwrap();
    let mut native = NativePlugin::<Echo>::create(&echo_config, sources()).unwrap();
    let median_config = config(31, 10, MEDIAN_CONFIG);
    let aos = observations();
    let mut wasm_median = cases.median_wasm.instantiate(&median_config, sources()).unwrap();
    let mut native_median = NativePlugin::<MedianPlugin>::create(&median_config, sources()).unwrap();

    let rows = [
        (
            "instantiate",
            best_of(|| drop(black_box(cases.echo_wasm.instantiate(&echo_config, sources()).unwrap()))),
            best_of(|| drop(black_box(NativePlugin::<Echo>::create(&echo_config, sources()).unwrap()))),
        ),
        ("noop_call", best_of(|| drop(black_box(wasm.query(&ctx)))), best_of(|| drop(black_box(native.query(&ctx))))),
        (
            "observation_1kb",
            best_of(|| drop(black_box(wasm.observation(&ctx, &payload)))),
            best_of(|| drop(black_box(native.observation(&ctx, &payload)))),
        ),
        (
            "quorum_31_obs",
            best_of(|| drop(black_box(wasm_median.observation_quorum(&ctx, &[], &aos)))),
            best_of(|| drop(black_box(native_median.observation_quorum(&ctx, &[], &aos)))),
        ),
        (
            "median_outcome_31",
            best_of(|| drop(black_box(wasm_median.outcome(&ctx, &[], &aos)))),
            best_of(|| drop(black_box(native_median.outcome(&ctx, &[], &aos)))),
        ),
    ];
    println!("\n{:<20} {:>12} {:>12} {:>14} {:>8}", "operation", "wasm", "native", "wasm overhead", "ratio");
    for (name, w, n) in rows {
        println!(
            "{name:<20} {:>10.2}µs {:>10.2}µs {:>12.2}µs {:>7.1}x",
            w.as_secs_f64() * 1e6,
            n.as_secs_f64() * 1e6,
            w.saturating_sub(n).as_secs_f64() * 1e6,
            w.as_secs_f64() / n.as_secs_f64().max(1e-12)
        );
    }
}

fn main() {
    let cases = Cases::new();
    let mut criterion = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    benches(&mut criterion, &cases);
    criterion.final_summary();
    // `cargo test --all-targets` runs benches once as a smoke test; the
    // summary's timing loops are for real runs only.
    if std::env::args().any(|a| a == "--bench") {
        summary(&cases);
    }
}
