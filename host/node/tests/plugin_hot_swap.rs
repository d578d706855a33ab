#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Operators managing plugins on four running `ocr-node` processes:
//! - broken components (not a component, a wrong world, over the size cap,
//!   a factory that traps) are refused with the reason, through the admin
//!   API and the watched directory, and the node keeps running its plugin;
//! - a plugin in use cannot be removed; a wrong token is refused;
//! - a new version of the median plugin is added to three nodes (re-adding
//!   restarts nothing) and a new network config names it: those three move
//!   to it at the instance boundary; the fourth, which lacks it, refuses to
//!   run the instance (`ocr_plugin_missing` = 1) and joins as soon as the
//!   plugin is dropped into its watched directory;
//! - nothing committed is lost: each node's persisted lock of the old
//!   instance covers the last seq-nr it committed there;
//! - a restarted node finds its plugins and compiled artifacts (no
//!   recompilation) and resumes.
//!
//! It prints the figures the issue asks for: the switch time and the rounds
//! lost, `plugin add` to ready (cold), and a restart's time to its first
//! round. Run with `--nocapture` to see them.

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
    let oversized = with_custom_section(&median, "padding", &vec![0; 17 << 20]);
    let hostile = median_plugin().with_file_name("fixtures").join("hostile.wasm");
    let hostile = std::fs::read(&hostile).unwrap_or_else(|e| panic!("{}: {e}", hostile.display()));
    // (what, component, smoke config, the reason the node gives)
    type Broken<'a> = (&'a str, &'a [u8], Option<&'a [u8]>, &'a str);
    let broken: [Broken; 4] = [
        ("not a component", b"not wasm at all", None, "not a WebAssembly component"),
        ("a wrong world", &wrong_world, None, "not a reporting plugin"),
        ("over the size cap", &oversized, None, "over the 16777216-byte cap"),
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

    // The new version on nodes 0..2, by the CLI over the admin API.
    let v2_bytes = with_custom_section(&median, "ocr-build", b"median 2");
    let v2 = sha256(&v2_bytes);
    let v2_file = dir.path().join("median-v2.wasm");
    std::fs::write(&v2_file, &v2_bytes).unwrap();
    for node in &nodes[..3] {
        let args = ["plugin", "add", v2_file.to_str().unwrap(), "--node", node.config.to_str().unwrap()];
        let report = ocr_node(&args);
        assert_eq!(report["added"], true, "{report:#}");
        assert_eq!(report["compile"], "compiled", "{report:#}");
        println!("figure: plugin add to ready, cold (compiled): {:.1} ms", report["ready_ms"].as_f64().unwrap());
        let again = ocr_node(&args);
        assert_eq!(again["added"], false, "re-adding is a no-op: {again:#}");
    }
    assert!(nodes.iter().all(|n| started(n) == 1.0), "adding a plugin restarts nothing");

    // A new network config naming it.
    let old_digest = NetworkConfig::load(&layout.network_config).unwrap().public.config_digest;
    let text = std::fs::read_to_string(&layout.network_config).unwrap();
    assert!(text.contains(&v1));
    let rate_from = (Instant::now(), outcomes(&nodes[0]));
    std::thread::sleep(Duration::from_secs(3));
    let rate = (outcomes(&nodes[0]) - rate_from.1) / rate_from.0.elapsed().as_secs_f64();
    let committed_before: Vec<f64> = nodes.iter().map(|n| n.metric("ocr_committed_seq_nr").unwrap()).collect();
    let switch_began = Instant::now();
    write_atomically(&layout.network_config, text.replace(&v1, &v2).as_bytes());
    let mut at_restart = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    let switch_time = loop {
        assert!(Instant::now() < deadline, "node 0 did not switch:\n{}", nodes[0].tail());
        match (started(&nodes[0]), at_restart) {
            (s, None) if s >= 2.0 => at_restart = Some(outcomes(&nodes[0])),
            (_, Some(base)) if outcomes(&nodes[0]) > base => break switch_began.elapsed(),
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    println!(
        "figure: switch to the new plugin on node 0: {:.0} ms from the config change to its first commit; \
         {rate:.1} outcomes/s before, so {:.1} rounds lost (the config file is polled every 250 ms)",
        switch_time.as_secs_f64() * 1e3,
        switch_time.as_secs_f64() * rate
    );
    wait_for("nodes 0..2 to commit in the new instance", &nodes, Duration::from_secs(60), || {
        nodes[..3].iter().all(|n| started(n) == 2.0 && n.metric("ocr_plugin_missing") == Some(0.0))
    });

    // Node 3 lacks v2: it refuses to run the instance until it has it.
    wait_for("node 3 to report the missing plugin", &nodes, Duration::from_secs(30), || {
        nodes[3].metric("ocr_plugin_missing") == Some(1.0)
    });
    let log = std::fs::read_to_string(nodes[3].logs.last().unwrap()).unwrap();
    assert!(log.contains("which this node does not have"), "{}", nodes[3].tail());
    assert_eq!(started(&nodes[3]), 1.0);
    std::fs::write(drop_dir(3).join("median-v2.wasm"), &v2_bytes).unwrap();
    let joined_from = outcomes(&nodes[3]);
    wait_for("node 3 to join the new instance", &nodes, Duration::from_secs(60), || {
        started(&nodes[3]) == 2.0 && outcomes(&nodes[3]) >= joined_from + 5.0
    });
    assert_eq!(nodes[3].metric("ocr_plugin_missing"), Some(0.0));

    // v1 is free now: removable, from the store and the watched directory.
    api[0].remove(&v1).unwrap();
    let listed = api[0].list().unwrap();
    let shas: Vec<&str> = listed.as_array().unwrap().iter().map(|p| p["sha256"].as_str().unwrap()).collect();
    assert_eq!(shas, [v2.as_str()]);
    assert!(!drop_dir(0).join("median.wasm").exists(), "removed from the watched directory too");
    assert!(api[0].remove(&v2).unwrap_err().to_string().contains("in use"));

    // A restart of node 1 (two plugins installed): no recompilation.
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
    let loaded = log.lines().find(|l| l.contains("plugin loaded from the store")).expect("a load line");
    assert!(loaded.contains("\"compile\":\"cached\""), "{loaded}");

    // Nothing committed in the old instance was lost.
    for node in nodes.iter_mut() {
        node.terminate().expect("stops on SIGTERM");
    }
    for (i, node) in nodes.iter().enumerate() {
        let data = NodeConfig::load(&node.config).unwrap().data_dir.join("state");
        let persisted = SledStorage::open(&data).unwrap().load(&old_digest).unwrap();
        let lock = persisted.certificate.expect("the old instance's lock").timestamp().seq_nr;
        assert!(lock as f64 >= committed_before[i], "node {i}: lock at {lock}, committed {}", committed_before[i]);
    }
}
