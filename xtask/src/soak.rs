//! `cargo xtask soak`: memory over time, as operators run the node. N node
//! processes (`ocr-node run`, the wasm median plugin, reporting every round)
//! run for the given minutes; every 15 s each one's resident memory is
//! sampled from /proc. Ends with one JSON line: the samples, each node's peak
//! RSS (VmHWM), and for the part after the warm-up each node's RSS trend
//! (least-squares slope, MiB per hour) and spread (max − min). A flat curve
//! has a slope near zero and a spread of a few MiB (allocator noise).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::node_process::NodeProcess;

/// Time between memory samples.
const SAMPLE_EVERY: Duration = Duration::from_secs(15);

/// The median config for the soak: a report every round, so attestation and
/// transmission decisions run every round too.
const PLUGIN_CONFIG: &str = r#"{"version":1,"value_source":"eth-usd","juels_per_fee_coin_source":"link-eth","deviation_threshold_ppb":0,"heartbeat_seconds":60}"#;

/// What to run.
pub struct SoakOptions {
    /// Node processes.
    pub nodes: u8,
    /// Length of the run.
    pub minutes: u64,
    /// Minutes at the start left out of the trend (caches, connections and
    /// the allocator's arenas settle first).
    pub warm_up_minutes: u64,
    /// DeltaRound.
    pub delta_round_ms: u64,
}

struct Sample {
    seconds: f64,
    rss_mb: Vec<f64>,
}

/// Least-squares slope of `y` over `x`.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let (sx, sy) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + (x - mx) * (y - my), b + (x - mx).powi(2)));
    if den == 0.0 { 0.0 } else { num / den }
}

/// MiB to two decimals, for the JSON line and the progress lines.
fn rounded(values: &[f64]) -> Vec<f64> {
    values.iter().map(|v| (v * 100.0).round() / 100.0).collect()
}

/// Runs the soak with the built `ocr-node` at `binary`; returns its JSON
/// line.
pub fn soak(binary: &Path, options: &SoakOptions) -> Result<String> {
    if options.warm_up_minutes >= options.minutes {
        bail!("the warm-up ({} min) must be shorter than the run ({} min)", options.warm_up_minutes, options.minutes);
    }
    let dir = std::env::temp_dir().join(format!("ocr-soak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    crate::run(
        std::process::Command::new(binary)
            .args(["network", "init", "--nodes", &options.nodes.to_string(), "--out"])
            .arg(&dir)
            .args(["--delta-round-ms", &options.delta_round_ms.to_string(), "--r-max", "1000"])
            .args(["--plugin-config", PLUGIN_CONFIG]),
    )?;
    let mut nodes = Vec::new();
    for i in 0..options.nodes {
        nodes.push(NodeProcess::start(binary, dir.join(format!("node-{i}")).join("node.toml"))?);
    }
    let started = Instant::now();
    let length = Duration::from_secs(options.minutes * 60);
    let mut samples: Vec<Sample> = Vec::new();
    let mut first_seq_nr = None;
    while started.elapsed() < length {
        std::thread::sleep(SAMPLE_EVERY.min(length.saturating_sub(started.elapsed())));
        let mut rss_mb = Vec::new();
        for node in &mut nodes {
            if !node.running() {
                bail!("{} exited during the soak:\n{}", node.config.display(), node.log_tail());
            }
            rss_mb.push(node.rss_mb().map(|(now, _)| now).context("reading a node's /proc status")?);
        }
        let seconds = started.elapsed().as_secs_f64();
        let seq_nr = nodes[0].metric("ocr_committed_seq_nr");
        first_seq_nr.get_or_insert(seq_nr);
        eprintln!("soak: {seconds:>6.0} s  committed seq-nr {seq_nr:>8.0}  RSS MiB {:?}", rounded(&rss_mb));
        samples.push(Sample { seconds, rss_mb });
    }
    let peaks: Vec<f64> = nodes.iter().map(|n| n.rss_mb().map_or(0.0, |(_, peak)| peak)).collect();
    let last_seq_nr = nodes[0].metric("ocr_committed_seq_nr");
    let outcomes = last_seq_nr - first_seq_nr.unwrap_or(0.0);
    drop(nodes);
    let _ = std::fs::remove_dir_all(&dir);

    let warm = (options.warm_up_minutes * 60) as f64;
    let settled: Vec<&Sample> = samples.iter().filter(|s| s.seconds >= warm).collect();
    let mut slopes = Vec::new();
    let mut spreads = Vec::new();
    for i in 0..usize::from(options.nodes) {
        let points: Vec<(f64, f64)> = settled.iter().map(|s| (s.seconds / 3600.0, s.rss_mb[i])).collect();
        slopes.push(slope(&points));
        let (lo, hi) =
            points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (_, y)| (lo.min(*y), hi.max(*y)));
        spreads.push(if points.is_empty() { 0.0 } else { hi - lo });
    }
    let series: Vec<serde_json::Value> =
        samples.iter().map(|s| serde_json::json!([s.seconds.round(), rounded(&s.rss_mb)])).collect();
    let line = serde_json::json!({
        "bench": "soak",
        "nodes": options.nodes,
        "minutes": options.minutes,
        "warm_up_minutes": options.warm_up_minutes,
        "delta_round_ms": options.delta_round_ms,
        "outcomes": outcomes.round(),
        "peak_rss_mb": rounded(&peaks),
        "rss_slope_mb_per_hour_after_warm_up": rounded(&slopes),
        "rss_spread_mb_after_warm_up": rounded(&spreads),
        "samples": series,
    });
    Ok(line.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slope_of_a_line_is_its_gradient_and_of_a_flat_series_zero() {
        let line: Vec<(f64, f64)> = (0..10).map(|x| (f64::from(x), 3.0 * f64::from(x) + 1.0)).collect();
        assert!((slope(&line) - 3.0).abs() < 1e-9);
        let flat: Vec<(f64, f64)> = (0..10).map(|x| (f64::from(x), 40.0)).collect();
        assert_eq!(slope(&flat), 0.0);
        assert_eq!(slope(&[(1.0, 2.0)]), 0.0);
    }
}
