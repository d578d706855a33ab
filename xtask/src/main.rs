//! Build helper for the workspace (`cargo xtask <command>`):
//!
//! - `plugins`: installs the wasm32-wasip2 target if missing, builds every
//!   plugin under `plugins/` (and the host's test fixtures) as release
//!   components, and copies them to `<target>/plugins/<name>.wasm`
//!   (fixtures to `<target>/plugins/fixtures/<name>.wasm`);
//! - `test`: everything CI checks: plugins, every test, 510 simulated
//!   scenarios over every fault class, the planted bugs still compiling,
//!   clippy, the contracts' Foundry tests and artifact check, rustfmt;
//! - `python-plugin`: builds the Python plugin `plugins/feed-py` with a
//!   pinned componentize-py (PyPI) into `<target>/plugins/feed-py.wasm`;
//! - `plugin-e2e`: the plugin author's path end to end (template, build,
//!   test kit, the Python plugin, a live cluster), see `plugin_e2e.rs`;
//! - `demo`: the median feed demo;
//! - `bench [--quick] [--binary PATH]`: the benchmark command set, JSON
//!   lines and charts (see `bench.rs`); `bench-plot` redraws the charts;
//! - `soak [--minutes M] [--nodes N] [--binary PATH]`: node processes for M
//!   minutes, their memory sampled, a JSON line at the end (see `soak.rs`).

mod bench;
mod node_process;
mod plugin_e2e;
mod soak;
mod sweep;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

const WASM_TARGET: &str = "wasm32-wasip2";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = args.split_first().map(|(c, r)| (c.as_str(), r)).unwrap_or(("help", &[]));
    match command {
        "plugins" => build_plugins().map(|_| ()),
        "test" => test(),
        "python-plugin" => {
            let (root, target) = workspace_dirs()?;
            plugin_e2e::python_plugin(&root, &target).map(|_| ())
        }
        "plugin-e2e" => {
            build_plugins()?;
            let (root, target) = workspace_dirs()?;
            plugin_e2e::plugin_e2e(&root, &target)
        }
        "demo" => demo(rest),
        "bench" => {
            let binary = chosen_node_binary(rest)?;
            let (root, target) = workspace_dirs()?;
            bench::bench(&binary, &root, &bench::BenchPaths::under(&target), rest.iter().any(|a| a == "--quick"))
        }
        "bench-plot" => {
            let (root, target) = workspace_dirs()?;
            bench::plot(&root, &bench::BenchPaths::under(&target))
        }
        "soak" => {
            let options = soak::SoakOptions {
                nodes: flag(rest, "--nodes", 4)?,
                minutes: flag(rest, "--minutes", 60)?,
                warm_up_minutes: flag(rest, "--warm-up-minutes", 10)?,
                delta_round_ms: flag(rest, "--delta-round-ms", 50)?,
            };
            // `--binary` runs a copy, so that rebuilding meanwhile leaves
            // the soak alone.
            let binary = chosen_node_binary(rest)?;
            let line = soak::soak(&binary, &options)?;
            let (_, target) = workspace_dirs()?;
            bench::append(&bench::BenchPaths::under(&target).results, &line)?;
            println!("{line}");
            Ok(())
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <plugins|test|python-plugin|plugin-e2e|demo [demo args]|bench [--quick] [--binary PATH]|bench-plot|soak [--minutes M] [--nodes N]>"
            );
            if command == "help" { Ok(()) } else { bail!("unknown command {command:?}") }
        }
    }
}

/// The `ocr-node` binary given with `--binary PATH` (a given build, the
/// release one say, measured as it is), or else the profiling build, built
/// now.
fn chosen_node_binary(args: &[String]) -> Result<PathBuf> {
    match args.iter().position(|a| a == "--binary") {
        Some(i) => Ok(PathBuf::from(args.get(i + 1).context("--binary needs a path")?)),
        None => node_binary(),
    }
}

/// The value of `--name V` in `args`, or `default`.
fn flag<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => {
            let value = args.get(i + 1).with_context(|| format!("{name} needs a value"))?;
            value.parse().map_err(|_| anyhow::anyhow!("{name}: cannot parse {value:?}"))
        }
    }
}

/// Builds the plugins and `ocr-node` (profile `profiling`: release code with
/// line tables for `perf`) and returns the binary.
fn node_binary() -> Result<PathBuf> {
    build_plugins()?;
    run(cargo().args(["build", "--profile", "profiling", "-p", "ocr-node"]))?;
    let (_, target) = workspace_dirs()?;
    Ok(target.join("profiling").join("ocr-node"))
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd.status().with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn ensure_wasm_target() -> Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("rustup is needed to install the wasm32-wasip2 target")?;
    if String::from_utf8_lossy(&installed.stdout).lines().any(|l| l.trim() == WASM_TARGET) {
        return Ok(());
    }
    run(Command::new("rustup").args(["target", "add", WASM_TARGET]))
        .context("cannot install the wasm32-wasip2 target (rustup target add wasm32-wasip2)")
}

struct PluginCrate {
    package: String,
    lib_name: String,
    out_name: String,
    fixture: bool,
}

/// The workspace root and its target directory.
fn workspace_dirs() -> Result<(PathBuf, PathBuf)> {
    let meta = workspace_metadata()?;
    let root = meta["workspace_root"].as_str().context("no workspace root")?;
    let target = meta["target_directory"].as_str().context("no target directory")?;
    Ok((PathBuf::from(root), PathBuf::from(target)))
}

fn workspace_metadata() -> Result<serde_json::Value> {
    let out = cargo().args(["metadata", "--format-version", "1", "--no-deps"]).output()?;
    if !out.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn plugin_crates(meta: &serde_json::Value, root: &Path) -> Result<Vec<PluginCrate>> {
    let mut crates = Vec::new();
    for package in meta["packages"].as_array().context("no packages in cargo metadata")? {
        let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap_or_default());
        let dir = manifest.parent().context("manifest without a directory")?;
        let rel = dir.strip_prefix(root).unwrap_or(dir);
        let fixture = rel.starts_with("host/plugin/fixtures");
        if !(rel.starts_with("plugins") || fixture) {
            continue;
        }
        let Some(lib) = package["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["crate_types"].as_array().is_some_and(|k| k.iter().any(|k| k == "cdylib")))
        else {
            continue;
        };
        crates.push(PluginCrate {
            package: package["name"].as_str().unwrap_or_default().to_owned(),
            lib_name: lib["name"].as_str().unwrap_or_default().replace('-', "_"),
            out_name: dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            fixture,
        });
    }
    Ok(crates)
}

/// Builds every plugin; returns the target directory.
fn build_plugins() -> Result<PathBuf> {
    ensure_wasm_target()?;
    let meta = workspace_metadata()?;
    let root = PathBuf::from(meta["workspace_root"].as_str().context("no workspace root")?);
    let target = PathBuf::from(meta["target_directory"].as_str().context("no target directory")?);
    let crates = plugin_crates(&meta, &root)?;
    let mut build = cargo();
    build.args(["build", "--profile", "plugin", "--target", WASM_TARGET]);
    for c in &crates {
        build.args(["-p", &c.package]);
    }
    run(&mut build)?;
    let out_dir = target.join("plugins");
    std::fs::create_dir_all(out_dir.join("fixtures"))?;
    for c in &crates {
        let built = target.join(WASM_TARGET).join("plugin").join(format!("{}.wasm", c.lib_name));
        let dest =
            if c.fixture { out_dir.join("fixtures") } else { out_dir.clone() }.join(format!("{}.wasm", c.out_name));
        std::fs::copy(&built, &dest).with_context(|| format!("copy {} to {}", built.display(), dest.display()))?;
        let size = std::fs::metadata(&dest)?.len();
        eprintln!("xtask: {} ({size} bytes)", dest.display());
    }
    Ok(target)
}

fn test() -> Result<()> {
    build_plugins()?;
    let meta = workspace_metadata()?;
    let root = PathBuf::from(meta["workspace_root"].as_str().context("no workspace root")?);
    // Solidity first: Foundry tests and the check that the committed
    // artifacts match the sources. It installs pinned solc-js, forge and
    // anvil from npm, and the Rust end-to-end test needs that anvil.
    run(Command::new("bash").arg(root.join("contracts/run-tests.sh")))?;
    let target = PathBuf::from(meta["target_directory"].as_str().context("no target directory")?);
    warn_if_disk_is_low(&target);
    let built = sweep::build_listing_artifacts(cargo().args([
        "test",
        "--release",
        "--workspace",
        "--all-targets",
        "--no-run",
    ]))?;
    let release = target.join("release");
    // Housekeeping: a sweep that cannot run is worth a line, not a failure.
    match sweep::sweep(&release, &[release.join("deps"), release.join("examples")], &built) {
        Ok(swept) => eprintln!(
            "xtask: swept {} stale test executables and rlibs ({:.1} GB), unread for {} days, from {}",
            swept.files,
            swept.bytes as f64 / 1e9,
            sweep::UNUSED_FOR.as_secs() / 86_400,
            release.display()
        ),
        Err(error) => eprintln!("xtask: warning: no sweep this time: {error:#}"),
    }
    run(cargo().args(["test", "--release", "--workspace", "--all-targets"]).env("OCR_REQUIRE_ANVIL", "1"))?;
    run(cargo().args(["test", "--release", "--workspace", "--doc"]))?;
    // Template → build → test kit → live cluster, with the Python plugin.
    plugin_e2e::plugin_e2e(&root, &target)?;
    // The simulator over every fault class: 510 seeded scenarios, mostly
    // n = 4 with some n = 7 and 10. Any violation fails the run.
    run(cargo().args([
        "run",
        "--release",
        "-p",
        "ocr-sim",
        "--",
        "--seeds",
        "51",
        "--nodes",
        "4,4,4,7,4,10",
        "--faults",
        "all",
    ]))?;
    netns_test(&meta, &root)?;
    // The planted bugs of scripts/inject-bugs.sh must keep applying and
    // compiling, or that evidence rots unnoticed (running them is longer:
    // `scripts/inject-bugs.sh`).
    if root.join(".git").exists() {
        run(Command::new("bash")
            .arg(root.join("scripts/inject-bugs.sh"))
            .env("BUILD_ONLY", "1")
            .env("CARGO_TARGET_DIR", &target))?;
    } else {
        eprintln!("xtask: skipping scripts/inject-bugs.sh (not a git checkout)");
    }
    // The benchmark scripts: charts from synthetic results of every kind,
    // and the profile categories from synthetic stacks.
    run(Command::new("python3").arg(root.join("scripts/bench/plot.py")).arg("--self-test"))?;
    run(Command::new("python3").arg(root.join("scripts/bench/profile-breakdown.py")).arg("--self-test"))?;
    run(cargo().args(["clippy", "--release", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
    // The guest glue only exists for wasm: lint it there too.
    let mut wasm_clippy = cargo();
    wasm_clippy.args(["clippy", "--profile", "plugin", "--target", WASM_TARGET, "-p", "ocr-plugin-sdk"]);
    for c in plugin_crates(&meta, &root)? {
        wasm_clippy.args(["-p", &c.package]);
    }
    run(wasm_clippy.args(["--", "-D", "warnings"]))?;
    run(cargo().args(["fmt", "--all", "--", "--check"]))
}

/// A cold `cargo xtask test` wrote 5.2 GB under the target directory
/// (measured at 0164db7); this leaves slack.
const COLD_BUILD_BYTES: u64 = 8_000_000_000;

/// Says so up front when the build may not fit: a full disk otherwise shows
/// up as a linker killed by SIGBUS, far from its cause.
fn warn_if_disk_is_low(target: &Path) {
    let probe = target.ancestors().find(|p| p.exists()).unwrap_or(target);
    if let Some(free) = sweep::free_bytes(probe).filter(|free| *free < COLD_BUILD_BYTES) {
        eprintln!(
            "xtask: warning: only {:.1} GB free under {}; a cold build needs about {:.0} GB. \
             If the linker dies with a bus error, the disk is full.",
            free as f64 / 1e9,
            probe.display(),
            COLD_BUILD_BYTES as f64 / 1e9
        );
    }
}

/// Four node processes, each in its own network namespace, with latency and
/// loss added in user space; needs root and iproute2, and says so when it
/// cannot run rather than failing.
fn netns_test(meta: &serde_json::Value, root: &std::path::Path) -> Result<()> {
    let is_root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let has_ip = Command::new("ip").arg("-V").output().is_ok_and(|o| o.status.success());
    if !(is_root && has_ip) {
        eprintln!("xtask: skipping scripts/netns-test.sh (needs root and iproute2)");
        return Ok(());
    }
    run(cargo().args(["build", "--release", "-p", "ocr-node", "-p", "netem-relay"]))?;
    let target = meta["target_directory"].as_str().context("no target directory")?;
    run(Command::new("bash").arg(root.join("scripts/netns-test.sh")).env("CARGO_TARGET_DIR", target))
}

fn demo(args: &[String]) -> Result<()> {
    // `cargo xtask demo -- --rounds 5` and `cargo xtask demo --rounds 5` alike.
    let args = args.strip_prefix(&["--".to_owned()]).unwrap_or(args);
    build_plugins()?;
    run(cargo().args(["run", "--release", "-p", "median-feed", "--"]).args(args))
}
