//! The plugin author's path, end to end, as a script (`cargo xtask plugin-e2e`):
//! `ocr-node plugin new` makes a crate; its own tests pass as generated
//! (unit tests and the test kit, natively); it builds to wasm32-wasip2; the
//! test kit passes on the built component, on the Python plugin
//! (`plugins/feed-py`, the same contract in another language) and on a
//! network mixing the two; then both are added to a running 4-node cluster,
//! a network config names each in turn, and every node commits outcomes
//! with it. Prints the figures: component sizes, per-call costs
//! (`ocr-node plugin bench`), switch times and outcomes per second.
//!
//! It runs outside `cargo test` because it drives cargo itself (a cargo
//! inside a cargo test would wait on the target directory's lock).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::node_process::NodeProcess as Node;
use crate::{cargo, run};

/// The componentize-py release the Python plugin is built and tested with.
const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

/// The data source `network init` gives every node.
const PLUGIN_CONFIG: &str = r#"{"source":"eth-usd"}"#;

/// Builds `plugins/feed-py` into `<target>/plugins/feed-py.wasm` with a
/// pinned componentize-py in a virtualenv under the target directory.
/// `--stub-wasi` leaves the component no WASI imports at all: the sandbox
/// refuses filesystem and sockets, which CPython's runtime would import.
pub fn python_plugin(root: &Path, target: &Path) -> Result<PathBuf> {
    let venv = target.join("python-venv");
    let tool = venv.join("bin/componentize-py");
    let pinned = COMPONENTIZE_PY.replace("==", " ");
    let installed =
        Command::new(&tool).arg("--version").output().is_ok_and(|o| o.stdout.trim_ascii() == pinned.as_bytes());
    if !installed {
        // `--clear` and `python -m pip`: a venv whose target directory was
        // moved or copied keeps scripts pointing at the old path, and would
        // otherwise fail here with a bare "No such file or directory".
        run(Command::new("python3").args(["-m", "venv", "--clear"]).arg(&venv))
            .context("python3 with venv is needed")?;
        run(Command::new(venv.join("bin/python")).args(["-m", "pip", "install", "--quiet", COMPONENTIZE_PY]))?;
    }
    let out = target.join("plugins/feed-py.wasm");
    std::fs::create_dir_all(target.join("plugins"))?;
    run(Command::new(&tool)
        .arg("-d")
        .arg(root.join("wit"))
        .args(["-w", "reporting-plugin-world", "componentize", "--stub-wasi", "feed_plugin", "-p"])
        .arg(root.join("plugins/feed-py"))
        .arg("-o")
        .arg(&out)
        .env("PYTHONDONTWRITEBYTECODE", "1"))?;
    eprintln!("xtask: {} ({} bytes)", out.display(), std::fs::metadata(&out)?.len());
    Ok(out)
}

fn wait_for(what: &str, nodes: &[Node], timeout: Duration, mut done: impl FnMut() -> bool) -> Result<Duration> {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if done() {
            return Ok(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let logs: Vec<String> = nodes.iter().map(|n| format!("--- {}\n{}", n.config.display(), n.log_tail())).collect();
    bail!("timed out waiting for {what}\n{}", logs.join("\n"))
}

fn output(cmd: &mut Command) -> Result<String> {
    eprintln!("xtask: running {cmd:?}");
    let out = cmd.output().with_context(|| format!("cannot start {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The network config with its `[plugin]` table naming another plugin;
/// everything else as it was (re-serialised).
fn with_plugin(network: &str, name: &str, sha256: &str, config: &str) -> Result<String> {
    let mut table: toml::Table = network.parse().context("the network config is not TOML")?;
    let plugin = table.get_mut("plugin").and_then(toml::Value::as_table_mut).context("no [plugin] table")?;
    for (key, value) in [("name", name), ("sha256", sha256), ("config", config)] {
        plugin.insert(key.into(), toml::Value::String(value.into()));
    }
    Ok(toml::to_string(&table)?)
}

/// Adds `component` to every node, names it in the network config, and
/// waits for every node to commit in the new instance (`instance`-th).
fn switch_to(binary: &Path, nodes: &[Node], network: &Path, name: &str, component: &Path, instance: f64) -> Result<()> {
    let mut sha256 = String::new();
    for node in nodes {
        let added = output(
            Command::new(binary)
                .args(["plugin", "add"])
                .arg(component)
                .arg("--node")
                .arg(&node.config)
                .args(["--offchain-config", PLUGIN_CONFIG]),
        )?;
        let added: serde_json::Value = serde_json::from_str(&added)?;
        sha256 = added["sha256"].as_str().context("plugin add printed no sha256")?.to_owned();
    }
    let text = with_plugin(&std::fs::read_to_string(network)?, name, &sha256, PLUGIN_CONFIG)?;
    let tmp = network.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, network)?;
    // Each node's outcome count when it is seen in the new instance: the
    // old one has stopped by then, so what follows is the new plugin's (a
    // commit in the new instance before it is seen only makes this later).
    let mut started_at: Vec<Option<f64>> = vec![None; nodes.len()];
    let switched = wait_for(&format!("every node to commit with {name}"), nodes, Duration::from_secs(60), || {
        // Every node is polled each time (no short-circuit), so each
        // baseline is taken as soon as its node is seen in the new instance.
        let done: Vec<bool> = nodes
            .iter()
            .zip(started_at.iter_mut())
            .map(|(n, base)| match base {
                None => {
                    if n.metric("ocr_instances_started_total") >= instance {
                        *base = Some(n.metric("ocr_outcomes_total"));
                    }
                    false
                }
                Some(base) => n.metric("ocr_outcomes_total") >= *base + 10.0,
            })
            .collect();
        done.iter().all(|d| *d)
    })?;
    let from = nodes[0].metric("ocr_outcomes_total");
    std::thread::sleep(Duration::from_secs(5));
    let rate = (nodes[0].metric("ocr_outcomes_total") - from) / 5.0;
    for node in nodes {
        let listed = output(Command::new(binary).args(["plugin", "list", "--json", "--node"]).arg(&node.config))?;
        let listed: serde_json::Value = serde_json::from_str(&listed)?;
        let ours = listed.as_array().into_iter().flatten().find(|p| p["sha256"] == sha256.as_str());
        let outcome_calls = ours.and_then(|p| p["methods"]["outcome"]["calls"].as_u64()).unwrap_or(0);
        if outcome_calls == 0 {
            bail!("{}: {name} computed no outcome: {listed:#}", node.config.display());
        }
    }
    println!(
        "figure: {name} in a live 4-node cluster: every node committed 10 outcomes with it {:.1} s after the config named it; then {rate:.1} outcomes/s (DeltaRound 50 ms)",
        switched.as_secs_f64()
    );
    Ok(())
}

/// The whole path; `target` is the workspace's target directory, where the
/// node and plugins are built.
pub fn plugin_e2e(root: &Path, target: &Path) -> Result<()> {
    run(cargo().args(["build", "--release", "-p", "ocr-node"]))?;
    let binary = target.join("release/ocr-node");
    let work = target.join("plugin-e2e");
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    std::fs::create_dir_all(&work)?;

    // The template, its tests as generated, its component.
    let dir = work.join("e2e-feed");
    run(Command::new(&binary).args(["plugin", "new", "e2e-feed", "--path"]).arg(&dir).arg("--checkout").arg(root))?;
    let manifest = dir.join("Cargo.toml");
    // Its own target directory, kept across runs: cargo names artifacts of
    // a path dependency built from another workspace like the workspace's
    // own, with other flags, so a shared one would overwrite them.
    let crate_target = target.join("plugin-e2e-target");
    let in_crate = |args: &[&str]| {
        let mut cmd = cargo();
        cmd.args(&args[..1]).arg("--manifest-path").arg(&manifest).args(&args[1..]);
        cmd.env("CARGO_TARGET_DIR", &crate_target);
        cmd
    };
    run(&mut in_crate(&["test", "--release"]))?;
    run(&mut in_crate(&["build", "--profile", "plugin", "--target", crate::WASM_TARGET]))?;
    let rust = crate_target.join("wasm32-wasip2/plugin/e2e_feed.wasm");
    run(&mut in_crate(&["test", "--release", "--test", "kit", "--", "--ignored"]))?;

    // The same kit on the Python plugin, then on a network mixing both.
    let python = python_plugin(root, target)?;
    run(in_crate(&["test", "--release", "--test", "kit", "--", "--ignored"]).env("PLUGIN_WASM", &python))?;
    let both = format!("{},{}", rust.display(), python.display());
    run(in_crate(&["test", "--release", "--test", "kit", "--", "--ignored"]).env("PLUGIN_WASM", both))?;

    // Per-call costs, next to each other.
    for component in [&rust, &python] {
        let source = "--source=eth-usd=300000000000";
        run(Command::new(&binary).args(["plugin", "bench"]).arg(component).args([
            "--offchain-config",
            PLUGIN_CONFIG,
            source,
        ]))?;
    }

    // A running cluster (the median plugin), then each of them.
    let net = work.join("net");
    run(Command::new(&binary).args(["network", "init", "--delta-round-ms", "50", "--out"]).arg(&net))?;
    let mut nodes = Vec::new();
    for i in 0..4 {
        nodes.push(Node::start(&binary, net.join(format!("node-{i}/node.toml")))?);
    }
    wait_for("the cluster to commit with the median plugin", &nodes, Duration::from_secs(60), || {
        nodes.iter().all(|n| n.metric("ocr_outcomes_total") >= 10.0)
    })?;
    let network = net.join("network.toml");
    switch_to(&binary, &nodes, &network, "e2e-feed", &rust, 2.0)?;
    switch_to(&binary, &nodes, &network, "feed-py", &python, 3.0)?;
    println!(
        "figure: component size: e2e-feed (Rust) {} bytes, feed-py (Python) {} bytes",
        std::fs::metadata(&rust)?.len(),
        std::fs::metadata(&python)?.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plugin_table_is_replaced_and_nothing_else() {
        let network = "f = 1\n\n[timing]\nr_max = 20\n\n[plugin]\nname = \"median\"\nsha256 = \"ab\"\nconfig = '{}'\n\n[[oracles]]\npeer_id = \"x\"\n";
        let replaced: toml::Table = with_plugin(network, "feed", "cd", r#"{"source":"p'"}"#).unwrap().parse().unwrap();
        let original: toml::Table = network.parse().unwrap();
        assert_eq!(replaced["plugin"]["name"].as_str(), Some("feed"));
        assert_eq!(replaced["plugin"]["sha256"].as_str(), Some("cd"));
        assert_eq!(replaced["plugin"]["config"].as_str(), Some(r#"{"source":"p'"}"#));
        for key in ["f", "timing", "oracles"] {
            assert_eq!(replaced[key], original[key], "{key}");
        }
        assert!(with_plugin("f = 1\n", "feed", "cd", "{}").is_err());
        assert!(with_plugin("not toml [", "feed", "cd", "{}").is_err());
    }
}
