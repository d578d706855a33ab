//! `cargo xtask bench`: the benchmark command set, as users run the system.
//! Each step is an `ocr-node` command (or, for the transport's unit cost, a
//! cargo bench) that ends with one JSON line; every line is printed and
//! appended to `<target>/bench/results.jsonl`, and at the end
//! `scripts/bench/plot.py` turns that file into the SVG charts of
//! `docs/performance.md` (written to `<target>/bench/charts`).
//!
//! 1. throughput and commit latency for n = 4, 7, 10, 16, 31 (loopback QUIC,
//!    the wasm median plugin): `ocr-node bench --nodes N`;
//! 2. the same with 5 ms and 50 ms one-way link delay, against the
//!    protocol's lower bound: `ocr-node bench --link-delay-ms D`;
//! 3. the wasm plugin's cost: `ocr-node bench --native` next to step 1;
//! 4. where the CPU goes, n = 4 and 31: `perf record` around `ocr-node
//!    bench`, categorized by `scripts/bench/profile-breakdown.py` (skipped
//!    with a note when perf is missing);
//! 5. the chain path: `ocr-node bench-chain` on the embedded EVM, and on
//!    anvil when the contracts' toolchain has installed it;
//! 6. the CPU of one consensus message on loopback QUIC, bare quinn and the
//!    node's transport, with one and eight pairs of endpoints:
//!    `cargo bench -p ocr-net --bench message_cost`.
//!
//! Memory over an hour is `cargo xtask soak` (its line goes to the same
//! file). `--quick` runs every step briefly, for a smoke test.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The well-known key of anvil's first development account.
const ANVIL_KEY_0: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/// Where results and charts go.
pub struct BenchPaths {
    /// The JSON lines, appended to.
    pub results: PathBuf,
    /// The charts.
    pub charts: PathBuf,
}

impl BenchPaths {
    /// Under `<target>/bench`.
    pub fn under(target: &Path) -> Self {
        let dir = target.join("bench");
        Self { results: dir.join("results.jsonl"), charts: dir.join("charts") }
    }
}

/// Runs `cmd`, whose stdout ends with a JSON line; appends that line to
/// `results` and returns it.
pub fn record(cmd: &mut Command, results: &Path) -> Result<serde_json::Value> {
    eprintln!("xtask: running {cmd:?}");
    let out = cmd.stderr(Stdio::inherit()).output().with_context(|| format!("cannot start {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed with {}", out.status);
    }
    let text = String::from_utf8(out.stdout).context("output is not UTF-8")?;
    let line = text.lines().rev().find(|l| l.starts_with('{')).context("no JSON line in the output")?;
    let value: serde_json::Value = serde_json::from_str(line).context("the last line is not JSON")?;
    append(results, line)?;
    println!("{line}");
    Ok(value)
}

/// Appends one line to the results file.
pub fn append(results: &Path, line: &str) -> Result<()> {
    if let Some(dir) = results.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = OpenOptions::new().create(true).append(true).open(results)?;
    writeln!(file, "{line}")?;
    Ok(())
}

fn tool_exists(name: &str) -> bool {
    Command::new(name).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// `perf record` around a cluster benchmark, then the breakdown script.
fn profile(node: &Path, root: &Path, results: &Path, nodes: u8, seconds: u64) -> Result<()> {
    let dir = tempfile_dir("ocr-bench-perf")?;
    let data = dir.join("perf.data");
    // Sampling starts once the nodes run: key decryption and plugin
    // compilation at startup (about 0.4 s a node here) are not the steady
    // state.
    let frequency = if nodes > 10 { "99" } else { "499" };
    let delay_ms = (4000 + 400 * u32::from(nodes)).to_string();
    let out = Command::new("perf")
        .args(["record", "-q", "-F", frequency, "--call-graph", "dwarf,32768", "-D", &delay_ms, "-o"])
        .arg(&data)
        .arg(node)
        .args(["bench", "--nodes", &nodes.to_string(), "--duration", &seconds.to_string()])
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        bail!("perf record failed with {}", out.status);
    }
    let bench: serde_json::Value = String::from_utf8_lossy(&out.stdout)
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .context("no JSON line from the profiled bench")?;
    let script = Command::new("perf").args(["script", "-i"]).arg(&data).stderr(Stdio::null()).output()?;
    let cpu = bench["cpu_ms_per_node_round"].as_f64().unwrap_or(0.0);
    let mut breakdown = Command::new("python3");
    breakdown
        .arg(root.join("scripts/bench/profile-breakdown.py"))
        .arg(format!("nodes={nodes}"))
        .arg(format!("cpu_ms_per_node_round={cpu:.3}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = breakdown.spawn()?;
    child.stdin.take().context("no stdin")?.write_all(&script.stdout)?;
    let output = child.wait_with_output()?;
    let _ = std::fs::remove_dir_all(&dir);
    if !output.status.success() {
        bail!("profile-breakdown.py failed");
    }
    let line = String::from_utf8(output.stdout)?;
    let line = line.trim();
    append(results, line)?;
    println!("{line}");
    Ok(())
}

fn tempfile_dir(prefix: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// An anvil process, killed when dropped.
struct Anvil(Child);

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts anvil on a free port and waits until it answers.
fn start_anvil(binary: &Path) -> Result<(Anvil, String)> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = Command::new(binary)
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--chain-id", "31337", "--silent"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let anvil = Anvil(child);
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(20) {
            bail!("anvil did not listen on port {port}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((anvil, format!("http://127.0.0.1:{port}")))
}

/// Runs the command set with the built `node` binary.
pub fn bench(node: &Path, root: &Path, paths: &BenchPaths, quick: bool) -> Result<()> {
    let results = &paths.results;
    let cluster = |args: &[&str], seconds: u64| -> Result<serde_json::Value> {
        record(Command::new(node).arg("bench").args(args).args(["--duration", &seconds.to_string()]), results)
    };
    let sizes: &[u8] = if quick { &[4, 7] } else { &[4, 7, 10, 16, 31] };
    let seconds = if quick { 3 } else { 15 };
    for n in sizes {
        cluster(&["--nodes", &n.to_string()], seconds)?;
        cluster(&["--nodes", &n.to_string(), "--native"], seconds)?;
    }
    // The unit the clusters' transport cost is made of: one message, both
    // ends, through bare quinn and through the node's transport.
    let window_ms = if quick { "500" } else { "4000" };
    for pairs in if quick { &["8"][..] } else { &["1", "8"] } {
        for case in ["quinn", "network"] {
            record(
                crate::cargo()
                    .args(["bench", "--quiet", "-p", "ocr-net", "--bench", "message_cost"])
                    .env("MESSAGE_COST_PAIRS", pairs)
                    .env("MESSAGE_COST_CASES", case)
                    .env("MESSAGE_COST_WINDOW_MS", window_ms),
                results,
            )?;
        }
    }
    for delay in ["5", "50"] {
        cluster(&["--nodes", "4", "--link-delay-ms", delay], if quick { 5 } else { 30 })?;
    }
    if tool_exists("perf") {
        profile(node, root, results, 4, if quick { 6 } else { 10 })?;
        if !quick {
            profile(node, root, results, 31, 20)?;
        }
    } else {
        eprintln!("xtask: perf is not installed; the CPU profile is skipped");
    }
    let reports = if quick { "50" } else { "1000" };
    record(Command::new(node).args(["bench-chain", "--reports", reports]), results)?;
    let anvil = root.join("contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    if anvil.exists() {
        let (_anvil, url) = start_anvil(&anvil)?;
        record(
            Command::new(node).args(["bench-chain", "--reports", reports, "--rpc-url", &url, "--rpc-key", ANVIL_KEY_0]),
            results,
        )?;
    } else {
        eprintln!("xtask: no anvil at {} (contracts/run-tests.sh installs it); skipped", anvil.display());
    }
    plot(root, paths)
}

/// Turns the results file into charts.
pub fn plot(root: &Path, paths: &BenchPaths) -> Result<()> {
    crate::run(Command::new("python3").arg(root.join("scripts/bench/plot.py")).arg(&paths.results).arg(&paths.charts))
}
