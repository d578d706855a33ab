#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Grafana dashboard only queries metrics the node exports, so it
//! cannot silently rot when a metric is renamed.

use std::collections::BTreeSet;

use ocr_net::NetMetrics;
use ocr_node::metrics::NodeMetrics;
use prometheus_client::registry::Registry;

#[test]
fn every_metric_the_dashboard_queries_is_exported() {
    let mut registry = Registry::default();
    let node = NodeMetrics::default();
    node.register(&mut registry);
    let net = NetMetrics::default();
    net.register(&mut registry);
    // Families export nothing until a series exists: make one of each.
    let method = ocr_node::metrics::MethodLabels { plugin: "p".into(), method: "outcome" };
    node.plugin_call_seconds.get_or_create(&method).observe(0.001);
    let error = ocr_node::metrics::ErrorLabels { plugin: "p".into(), method: "outcome", error: "trap" };
    node.plugin_errors.get_or_create(&error).inc();
    node.refused.get_or_create(&ocr_node::metrics::RefusedLabels { peer: 1 }).inc();
    let message = ocr_net::metrics::MessageLabels { kind: "commit", peer: 1 };
    for family in [&net.messages_in, &net.messages_out, &net.bytes_in, &net.bytes_out] {
        family.get_or_create(&message).inc();
    }
    net.drop("commit", 1, "rate_limited");
    let peer = ocr_net::metrics::PeerLabels { peer_id: "00".into() };
    net.connected.get_or_create(&peer).set(1);
    net.protocol_violations.get_or_create(&peer).inc();
    net.handshakes.get_or_create(&ocr_net::metrics::HandshakeLabels { direction: "inbound", result: "ok" }).inc();
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    let exported: BTreeSet<&str> =
        text.lines().filter_map(|l| l.strip_prefix("# TYPE ")).filter_map(|l| l.split(' ').next()).collect();

    let dashboard: serde_json::Value =
        serde_json::from_str(include_str!("../grafana/ocr-node.json")).expect("the dashboard is JSON");
    let mut queried = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("ocr_") {
                    queried.insert(word.to_owned());
                }
            }
        }
    }
    assert!(queried.len() >= 15, "the dashboard queries {} metrics", queried.len());
    for name in &queried {
        let base = name.strip_suffix("_bucket").or_else(|| name.strip_suffix("_total")).unwrap_or(name);
        assert!(exported.contains(base), "the dashboard queries {name}, which the node does not export: {exported:?}");
    }
}
