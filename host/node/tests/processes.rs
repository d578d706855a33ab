#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Four separate `ocr-node` processes on loopback with the median wasm
//! plugin: outcomes commit and reports are attested; one process killed
//! with SIGKILL and restarted rejoins without signing anything that
//! conflicts with what it signed before (checked from its logs), while the
//! other three stay live; and a fifth process whose key is not in the config
//! cannot connect and disturbs no one.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use common::{Node, median_plugin, metric_sum, network, wait_for};
use ocr_node::config::node::NodeConfig;
use ocr_node::network_init::{self, InitOptions};

/// Every (kind, epoch, seq-nr) → signature prefix a node logged, across
/// all its incarnations; panics on two different signatures for one slot.
fn signed_slots(logs: &[PathBuf]) -> HashMap<(String, u64, u64), String> {
    let mut slots: HashMap<(String, u64, u64), String> = HashMap::new();
    for log in logs {
        for line in std::fs::read_to_string(log).unwrap().lines() {
            let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else { continue };
            if entry["target"] != "ocr_node::signed" {
                continue;
            }
            let fields = &entry["fields"];
            let key = (
                fields["kind"].as_str().unwrap().to_owned(),
                fields["epoch"].as_u64().unwrap(),
                fields["seq_nr"].as_u64().unwrap(),
            );
            let signature = fields["signature"].as_str().unwrap().to_owned();
            if let Some(previous) = slots.insert(key.clone(), signature.clone()) {
                assert_eq!(previous, signature, "conflicting signatures for {key:?} in {}", log.display());
            }
        }
    }
    slots
}

#[test]
fn four_processes_commit_survive_a_kill_and_refuse_a_stranger() {
    let dir = tempfile::tempdir().unwrap();
    let (layout, mut nodes) = network(dir.path());
    for node in nodes.iter_mut() {
        node.start();
    }
    let outcomes = |node: &Node| node.metric("ocr_outcomes_total").unwrap_or(0.0);
    wait_for("every node to commit 20 outcomes", &nodes, Duration::from_secs(90), || {
        nodes.iter().all(|n| outcomes(n) >= 20.0)
    });
    wait_for("attested reports", &nodes, Duration::from_secs(30), || {
        nodes.iter().all(|n| n.metric("ocr_attested_reports_total").unwrap_or(0.0) >= 1.0)
    });

    // SIGKILL node 2; the other three keep committing.
    nodes[2].kill();
    let before: Vec<f64> = nodes.iter().map(outcomes).collect();
    wait_for("the three survivors to commit 20 more", &nodes, Duration::from_secs(60), || {
        [0, 1, 3].iter().all(|&i| outcomes(&nodes[i]) >= before[i] + 20.0)
    });

    // Restart it: it resumes from its persisted state and catches up.
    nodes[2].start();
    let seq_nr = |node: &Node| node.metric("ocr_committed_seq_nr").unwrap_or(0.0);
    wait_for("the restarted node to catch up", &nodes, Duration::from_secs(60), || {
        let ours = seq_nr(&nodes[2]);
        ours > 0.0 && nodes.iter().all(|n| (seq_nr(n) - ours).abs() <= 10.0)
    });
    let first = std::fs::read_to_string(&nodes[2].logs[1]).unwrap();
    assert!(first.contains("resuming from persisted state"), "the restarted node resumed from storage");

    // A stranger: its own keys, posing as oracle 3 with its own key.
    let stranger_dir = dir.path().join("stranger");
    let stranger_layout = network_init::init(&InitOptions {
        nodes: 4,
        out: stranger_dir.clone(),
        plugin: median_plugin(),
        plugin_config: network_init::default_median_config(),
        base_port: 0,
        delta_round_ms: 50,
        r_max: 20,
        liar: false,
        durability: ocr_node::storage::Durability::Machine,
        chain: None,
        sources: None,
    })
    .unwrap();
    let genuine = std::fs::read_to_string(&layout.network_config).unwrap();
    let stranger_keys = &stranger_layout.public_keys[3];
    let genuine_keys = &layout.public_keys[3];
    let forged = genuine
        .replace(&hex::encode(genuine_keys.peer_id), &hex::encode(stranger_keys.peer_id))
        .replace(&hex::encode(genuine_keys.offchain_public_key), &hex::encode(stranger_keys.offchain_public_key));
    std::fs::write(&stranger_layout.network_config, forged).unwrap();
    let stranger_config = std::fs::read_to_string(&stranger_layout.node_configs[3]).unwrap();
    let mut peers = String::from("[peers]\n");
    for i in 0..3 {
        peers.push_str(&format!("\"{}\" = \"{}\"\n", hex::encode(layout.public_keys[i].peer_id), layout.addresses[i]));
    }
    let start = stranger_config.find("[peers]").unwrap();
    let end = stranger_config.find("[sources").unwrap();
    let stranger_config = format!("{}{}\n{}", &stranger_config[..start], peers, &stranger_config[end..]);
    std::fs::write(&stranger_layout.node_configs[3], stranger_config).unwrap();
    let metrics = NodeConfig::load(&stranger_layout.node_configs[3]).unwrap().metrics_listen.unwrap().to_string();
    let mut stranger = Node { config: stranger_layout.node_configs[3].clone(), metrics, child: None, logs: Vec::new() };
    stranger.start();
    let refused = |node: &Node| {
        let text = ureq::get(&format!("http://{}/metrics", node.metrics))
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_to_string().ok())
            .unwrap_or_default();
        metric_sum(&text, "ocr_net_handshakes_total", "refused")
            + metric_sum(&text, "ocr_net_handshakes_total", "failed")
    };
    let before: Vec<f64> = nodes.iter().map(outcomes).collect();
    wait_for("the stranger to be refused", &nodes, Duration::from_secs(30), || {
        refused(&stranger) + nodes.iter().map(refused).sum::<f64>() >= 3.0
    });
    wait_for("the network to stay live beside the stranger", &nodes, Duration::from_secs(60), || {
        nodes.iter().enumerate().all(|(i, n)| outcomes(n) >= before[i] + 20.0)
    });
    assert_eq!(stranger.metric("ocr_outcomes_total").unwrap_or(0.0), 0.0, "the stranger commits nothing");
    let stranger_log = std::fs::read_to_string(&stranger.logs[0]).unwrap();
    assert!(!stranger_log.contains("peer connected"), "no connection for the stranger:\n{}", stranger.tail());

    // Graceful shutdown on SIGTERM, then the equivocation check over every
    // incarnation's signatures.
    stranger.kill();
    for node in nodes.iter_mut() {
        let status = node.terminate().expect("stops within 15 s of SIGTERM");
        assert!(status.success(), "clean exit on SIGTERM: {status}");
    }
    let slots = signed_slots(&nodes[2].logs);
    assert!(slots.len() > 20, "node 2 signed {} slots", slots.len());
    for node in &nodes {
        signed_slots(&node.logs);
    }
}
