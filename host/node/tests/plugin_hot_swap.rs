#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Operators managing plugins on four running `ocr-node` processes:
//! - broken components (not a component, a wrong world, over the size cap,
//!   a factory that traps) are refused with the reason, through the admin
//!   API and the watched directory, and the node keeps running its plugin;
//! - a plugin in use cannot be removed; a wrong token is refused;
//! - a new version of the median plugin is added to every node (three by
//!   the CLI over the admin API, one through its watched directory;
//!   re-adding restarts nothing) and a new network config names it: every
//!   node moves to it at the instance boundary;
//! - a third version reaches only three nodes before the config naming it:
//!   the fourth refuses to run that instance (`ocr_plugin_missing` = 1)
//!   and joins as soon as the plugin is dropped into its watched directory;
//! - nothing committed is lost: each node's persisted lock of each old
//!   instance covers the last seq-nr it committed there before stopping it;
//! - a restarted node with six plugins installed loads only its instance's
//!   plugin, from the compiled artifact, and resumes.
//!
//! It prints the figures the issue asks for: per switch, the time to the
//! first commit in the new instance at each node and the rounds lost;
//! `plugin add` to ready (cold); a plugin ready from its cached artifact;
//! and a restart's time to its first commit. Run with `--nocapture`.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Node, binary, median_plugin, metric_sum, network, wait_for};
use ocr_core::storage::Storage;
use ocr_node::admin_client::AdminClient;
use ocr_node::config::network::NetworkConfig;
use ocr_node::config::node::NodeConfig;
use ocr_node::storage::SledStorage;

/// `component` with a custom section appended: the same code, new bytes,
/// so a new sha256 (a new build of the same plugin, as far as the node can
/// tell).
fn with_custom_section(component: &[u8], name: &str, payload: &[u8]) -> Vec<u8> {
    fn leb128(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut content = Vec::new();
    leb128(name.len(), &mut content);
    content.extend_from_slice(name.as_bytes());
    content.extend_from_slice(payload);
    let mut out = component.to_vec();
    out.push(0);
    leb128(content.len(), &mut out);
    out.extend(content);
    out
}

fn sha256(bytes: &[u8]) -> String {
    ocr_plugin_host::sha256_hex(bytes)
}

fn ocr_node(args: &[&str]) -> serde_json::Value {
    let output = Command::new(binary()).args(args).output().unwrap();
    assert!(output.status.success(), "ocr-node {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn write_atomically(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn operators_add_swap_and_remove_plugins_on_a_live_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let (layout, mut nodes) = network(dir.path());
    for node in nodes.iter_mut() {
        node.start();
    }
    let outcomes = |node: &Node| node.metric("ocr_outcomes_total").unwrap_or(0.0);
    let started = |node: &Node| node.metric("ocr_instances_started_total").unwrap_or(0.0);
    wait_for("every node to commit 10 outcomes", &nodes, Duration::from_secs(90), || {
        nodes.iter().all(|n| outcomes(n) >= 10.0)
    });
    let api: Vec<AdminClient> = nodes.iter().map(|n| AdminClient::for_node(&n.config).unwrap()).collect();
    let median = std::fs::read(median_plugin()).unwrap();
    let v1 = sha256(&median);

    // Broken components, through the API of node 0.
    let wrong_world = wat::parse_str(
        r#"(component (core module $m (func (export "f"))) (core instance $i (instantiate $m))
            (func (export "hello") (canon lift (core func $i "f"))))"#,
    )
    .unwrap();
    let oversized = with_custom_section(&median, "padding", &vec![0; 33 << 20]);
    let hostile = median_plugin().with_file_name("fixtures").join("hostile.wasm");
    let hostile = std::fs::read(&hostile).unwrap_or_else(|e| panic!("{}: {e}", hostile.display()));
    // (what, component, smoke config, the reason the node gives)
    type Broken<'a> = (&'a str, &'a [u8], Option<&'a [u8]>, &'a str);
    let broken: [Broken; 4] = [
        ("not a component", b"not wasm at all", None, "not a WebAssembly component"),
        ("a wrong world", &wrong_world, None, "not a reporting plugin"),
        ("over the size cap", &oversized, None, "over the 33554432-byte cap"),
        ("a factory that traps", &hostile, Some(b"trap-in-create"), "the factory failed"),
    ];
    let before = outcomes(&nodes[0]);
    for (what, bytes, config, expected) in broken {
        let error = api[0].add(bytes, config).expect_err(what).to_string();
        assert!(error.contains(expected) && error.contains("HTTP 422"), "{what}: {error}");
    }
    // And one dropped into node 1's watched directory.
    let drop_dir = |i: usize| NodeConfig::load(&nodes[i].config).unwrap().plugin_dir;
    std::fs::write(drop_dir(1).join("broken.wasm"), b"\0asm garbage").unwrap();
    let refused = |node: &Node| {
        let text = ureq::get(&format!("http://{}/metrics", node.metrics)).call().unwrap().body_mut().read_to_string();
        metric_sum(&text.unwrap(), "ocr_plugin_adds_total", "refused")
    };
    wait_for("the dropped file to be refused", &nodes, Duration::from_secs(10), || refused(&nodes[1]) >= 1.0);
    wait_for("node 0 to keep committing", &nodes, Duration::from_secs(30), || outcomes(&nodes[0]) >= before + 10.0);
    let listed = api[0].list().unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "nothing broken was stored: {listed:#}");

    // In use: not removable. A wrong token: refused.
    let error = api[0].remove(&v1).unwrap_err().to_string();
    assert!(error.contains("in use") && error.contains("HTTP 409"), "{error}");
    let admin = NodeConfig::load(&nodes[0].config).unwrap().admin_listen.unwrap();
    let error = AdminClient::new(&format!("http://{admin}"), "0".repeat(32)).list().unwrap_err().to_string();
    assert!(error.contains("HTTP 401"), "{error}");
    let shown = api[0].show(&v1).unwrap();
    assert_eq!(shown["instances"].as_array().unwrap().len(), 1, "{shown:#}");
    assert!(shown["methods"]["outcome"]["calls"].as_u64().unwrap() > 0, "{shown:#}");

    // The new version on every node: nodes 0..2 by the CLI over the admin
    // API, node 3 through its watched directory.
    let v2_bytes = with_custom_section(&median, "ocr-build", b"median 2");
    let v2 = add_everywhere(&nodes, &api, dir.path(), "median-v2.wasm", &v2_bytes, 4);
    assert!(nodes.iter().all(|n| started(n) == 1.0), "adding a plugin restarts nothing");

    // A new network config naming it: every node moves to it.
    let digests = [NetworkConfig::load(&layout.network_config).unwrap().public.config_digest];
    switch_config(&nodes, &layout.network_config, &v1, &v2, 2.0);

    // A third version on nodes 0..2 only: node 3 refuses to run that
    // instance until it has the plugin, then joins.
    let v3_bytes = with_custom_section(&median, "ocr-build", b"median 3");
    let v3 = add_everywhere(&nodes, &api, dir.path(), "median-v3.wasm", &v3_bytes, 3);
    let digests = [digests[0], NetworkConfig::load(&layout.network_config).unwrap().public.config_digest];
    switch_config(&nodes[..3], &layout.network_config, &v2, &v3, 3.0);
    wait_for("node 3 to report the missing plugin", &nodes, Duration::from_secs(30), || {
        nodes[3].metric("ocr_plugin_missing") == Some(1.0)
    });
    let log = std::fs::read_to_string(nodes[3].logs.last().unwrap()).unwrap();
    assert!(log.contains("which this node does not have"), "{}", nodes[3].tail());
    assert_eq!(started(&nodes[3]), 2.0, "node 3 runs no instance with other code");
    std::fs::write(drop_dir(3).join("median-v3.wasm"), &v3_bytes).unwrap();
    let joined_from = outcomes(&nodes[3]);
    wait_for("node 3 to join the new instance", &nodes, Duration::from_secs(60), || {
        started(&nodes[3]) == 3.0 && outcomes(&nodes[3]) >= joined_from + 5.0
    });
    assert_eq!(nodes[3].metric("ocr_plugin_missing"), Some(0.0));

    // v1 is free now: removable, from the store and the watched directory.
    api[0].remove(&v1).unwrap();
    let listed = api[0].list().unwrap();
    let mut shas: Vec<&str> = listed.as_array().unwrap().iter().map(|p| p["sha256"].as_str().unwrap()).collect();
    shas.sort_unstable();
    let mut expected = [v2.as_str(), v3.as_str()];
    expected.sort_unstable();
    assert_eq!(shas, expected);
    assert!(!drop_dir(0).join("median.wasm").exists(), "removed from the watched directory too");
    assert!(api[0].remove(&v3).unwrap_err().to_string().contains("in use"));

    // A restart of node 1 with more plugins installed: it compiles nothing.
    for k in 0..3 {
        api[1].add(&with_custom_section(&median, "ocr-build", format!("extra {k}").as_bytes()), None).unwrap();
    }
    let installed = api[1].list().unwrap().as_array().unwrap().len();
    nodes[1].terminate().expect("stops on SIGTERM");
    let restarted = Instant::now();
    nodes[1].start();
    wait_for("node 1 to commit after its restart", &nodes, Duration::from_secs(60), || outcomes(&nodes[1]) >= 1.0);
    println!(
        "figure: node restart with {installed} plugins installed: first commit {:.0} ms after the process started",
        restarted.elapsed().as_secs_f64() * 1e3
    );
    let log = std::fs::read_to_string(nodes[1].logs.last().unwrap()).unwrap();
    let loads: Vec<&str> = log.lines().filter(|l| l.contains("plugin loaded from the store")).collect();
    assert_eq!(loads.len(), 1, "only the instance's plugin is loaded: {loads:#?}");
    assert!(loads[0].contains("\"compile\":\"cached\""), "{}", loads[0]);
    let load_ms = serde_json::from_str::<serde_json::Value>(loads[0]).unwrap()["fields"]["load_ms"].as_f64().unwrap();
    println!("figure: plugin ready from its cached artifact (restart): {load_ms:.1} ms");

    // Nothing committed in the old instances was lost: each node's persisted
    // lock covers the last seq-nr it committed there before stopping it.
    for node in nodes.iter_mut() {
        node.terminate().expect("stops on SIGTERM");
    }
    for (i, node) in nodes.iter().enumerate() {
        let data = NodeConfig::load(&node.config).unwrap().data_dir.join("state");
        let storage = SledStorage::open(&data).unwrap();
        for digest in &digests {
            let committed = last_committed(&node.logs, &hex::encode(digest.0));
            let lock = storage.load(digest).unwrap().certificate.map_or(0, |c| c.timestamp().seq_nr);
            assert!(committed > 0 && lock >= committed, "node {i}: lock at {lock}, committed {committed}");
        }
    }
}

/// The highest `committed_seq_nr` a node logged when stopping `instance`.
fn last_committed(logs: &[std::path::PathBuf], instance: &str) -> u64 {
    logs.iter()
        .flat_map(|log| std::fs::read_to_string(log).unwrap().lines().map(str::to_owned).collect::<Vec<_>>())
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(&line).ok())
        .filter(|e| e["fields"]["message"] == "instance stopped" && e["fields"]["instance"] == instance)
        .filter_map(|e| e["fields"]["committed_seq_nr"].as_u64())
        .max()
        .unwrap_or(0)
}

/// Adds `bytes` to the first `count` nodes (the last of them through its
/// watched directory), printing the cold add figures; returns the sha256.
fn add_everywhere(nodes: &[Node], api: &[AdminClient], dir: &Path, name: &str, bytes: &[u8], count: usize) -> String {
    let sha = sha256(bytes);
    let file = dir.join(name);
    std::fs::write(&file, bytes).unwrap();
    for node in &nodes[..count - 1] {
        let args = ["plugin", "add", file.to_str().unwrap(), "--node", node.config.to_str().unwrap()];
        let report = ocr_node(&args);
        assert_eq!(report["added"], true, "{report:#}");
        assert_eq!(report["compile"], "compiled", "{report:#}");
        println!("figure: plugin add to ready, cold (compiled): {:.1} ms", report["ready_ms"].as_f64().unwrap());
        let again = ocr_node(&args);
        assert_eq!(again["added"], false, "re-adding is a no-op: {again:#}");
    }
    let last = count - 1;
    let drop_dir = NodeConfig::load(&nodes[last].config).unwrap().plugin_dir;
    std::fs::write(drop_dir.join(name), bytes).unwrap();
    wait_for("the dropped plugin to be added", nodes, Duration::from_secs(30), || api[last].show(&sha).is_ok());
    sha
}

/// Replaces plugin `from` by `to` in the network config and waits for
/// `nodes` to start instance number `instance` and commit in it; prints the
/// switch time and the rounds lost, as seen from each node.
fn switch_config(nodes: &[Node], network_config: &Path, from: &str, to: &str, instance: f64) {
    let outcomes = |node: &Node| node.metric("ocr_outcomes_total").unwrap_or(0.0);
    let rate_from = (Instant::now(), outcomes(&nodes[0]));
    std::thread::sleep(Duration::from_secs(3));
    let rate = (outcomes(&nodes[0]) - rate_from.1) / rate_from.0.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(network_config).unwrap();
    assert!(text.contains(from));
    let began = Instant::now();
    write_atomically(network_config, text.replace(from, to).as_bytes());
    let mut restarted_at: Vec<Option<f64>> = vec![None; nodes.len()];
    let mut switched: Vec<Option<Duration>> = vec![None; nodes.len()];
    while switched.iter().any(Option::is_none) {
        assert!(began.elapsed() < Duration::from_secs(60), "no switch:\n{}", nodes[0].tail());
        for (i, node) in nodes.iter().enumerate() {
            match (restarted_at[i], switched[i]) {
                (None, _) if node.metric("ocr_instances_started_total") == Some(instance) => {
                    restarted_at[i] = Some(outcomes(node));
                }
                (Some(base), None) if outcomes(node) > base => switched[i] = Some(began.elapsed()),
                _ => {}
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let slowest = switched.iter().flatten().max().unwrap().as_secs_f64();
    let each: Vec<String> = switched.iter().flatten().map(|d| format!("{:.0}", d.as_secs_f64() * 1e3)).collect();
    println!(
        "figure: switch to {}: first commit in the new instance after [{}] ms per node; {rate:.1} outcomes/s before, \
         so {:.1} rounds lost at the slowest node",
        &to[..12],
        each.join(", "),
        slowest * rate
    );
}
