//! The node's Prometheus metrics and the HTTP server that exposes them with
//! `/metrics` (OpenMetrics text) and `/health`. Protocol metrics are here;
//! the transport registers its own (`ocr_net_*`) into the same registry.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of plugin call metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    /// The plugin.
    pub plugin: String,
    /// The method (WIT name).
    pub method: &'static str,
}

/// Labels of plugin errors.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// The plugin.
    pub plugin: String,
    /// The method.
    pub method: &'static str,
    /// The error class (trap kind, limit, guest...).
    pub error: &'static str,
}

/// Labels of refused inbound messages.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusedLabels {
    /// The sender.
    pub peer: u8,
}

/// Labels of transmission outcomes.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransmitLabels {
    /// included, already_on_chain, stale, reverted, failed or invalid.
    pub result: &'static str,
}

/// Labels of plugin-store events.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginAddLabels {
    /// added, present (already in the store) or refused.
    pub result: &'static str,
}

/// Buckets for latencies in seconds: 0.5 ms to ~16 s.
fn latency_buckets() -> impl Iterator<Item = f64> {
    prometheus_client::metrics::histogram::exponential_buckets(0.000_5, 2.0, 16)
}

/// Every protocol metric of the node.
#[derive(Clone, Debug)]
pub struct NodeMetrics {
    /// The current epoch.
    pub epoch: Gauge,
    /// Epoch changes seen.
    pub leader_changes: Counter,
    /// The highest committed seq-nr.
    pub committed_seq_nr: Gauge,
    /// Outcomes committed.
    pub outcomes: Counter,
    /// From the round's start (RoundStart seen) to its commit here.
    pub round_latency: Histogram,
    /// Plugin call durations by method.
    pub plugin_call_seconds: Family<MethodLabels, Histogram>,
    /// Plugin call errors by method and kind.
    pub plugin_errors: Family<ErrorLabels, Counter>,
    /// Reports attested (f+1 signatures).
    pub attested_reports: Counter,
    /// Reports this node was asked to transmit.
    pub transmissions: Counter,
    /// Inbound messages the core refused before signature work.
    pub refused: Family<RefusedLabels, Counter>,
    /// Transmissions by outcome on chain.
    pub transmit_results: Family<TransmitLabels, Counter>,
    /// Signatures (offchain or onchain) that failed verification.
    pub invalid_signatures: Counter,
    /// 1 when the node is up and its protocol instance runs.
    pub up: Gauge,
    /// 1 while the config names a plugin this node lacks (or cannot run):
    /// the instance waits for it instead of running other code.
    pub plugin_missing: Gauge,
    /// Plugins added to the store, by result.
    pub plugin_adds: Family<PluginAddLabels, Counter>,
    /// Protocol instances started (the first, and one per config switch).
    pub instances_started: Counter,
}

impl Default for NodeMetrics {
    fn default() -> Self {
        Self {
            epoch: Gauge::default(),
            leader_changes: Counter::default(),
            committed_seq_nr: Gauge::default(),
            outcomes: Counter::default(),
            round_latency: Histogram::new(latency_buckets()),
            plugin_call_seconds: Family::new_with_constructor(|| Histogram::new(latency_buckets())),
            plugin_errors: Family::default(),
            attested_reports: Counter::default(),
            transmissions: Counter::default(),
            refused: Family::default(),
            invalid_signatures: Counter::default(),
            transmit_results: Family::default(),
            up: Gauge::default(),
            plugin_missing: Gauge::default(),
            plugin_adds: Family::default(),
            instances_started: Counter::default(),
        }
    }
}

impl NodeMetrics {
    /// Registers every metric under `ocr_`.
    pub fn register(&self, registry: &mut Registry) {
        let ocr = registry.sub_registry_with_prefix("ocr");
        ocr.register("epoch", "The current epoch", self.epoch.clone());
        ocr.register("leader_changes", "Epoch (and so leader) changes", self.leader_changes.clone());
        ocr.register("committed_seq_nr", "The highest committed seq-nr", self.committed_seq_nr.clone());
        ocr.register("outcomes", "Outcomes committed", self.outcomes.clone());
        ocr.register("round_latency_seconds", "Round start to commit", self.round_latency.clone());
        ocr.register("plugin_call_seconds", "Plugin call durations", self.plugin_call_seconds.clone());
        ocr.register("plugin_errors", "Plugin call errors", self.plugin_errors.clone());
        ocr.register("attested_reports", "Reports with f+1 signatures", self.attested_reports.clone());
        ocr.register("transmissions", "Reports this node transmitted", self.transmissions.clone());
        ocr.register("messages_refused", "Inbound messages refused before signature work", self.refused.clone());
        ocr.register("invalid_signatures", "Signatures that failed verification", self.invalid_signatures.clone());
        ocr.register("transmit_results", "Transmissions by outcome on chain", self.transmit_results.clone());
        ocr.register("up", "1 while the protocol instance runs", self.up.clone());
        ocr.register(
            "plugin_missing",
            "1 while the config names a plugin this node lacks",
            self.plugin_missing.clone(),
        );
        ocr.register("plugin_adds", "Plugins added to the store, by result", self.plugin_adds.clone());
        ocr.register("instances_started", "Protocol instances started", self.instances_started.clone());
    }
}

/// Shared state of the HTTP endpoint.
#[derive(Clone)]
struct Http {
    registry: Arc<Registry>,
    healthy: Arc<AtomicBool>,
}

/// Serves `/metrics` and `/health` on `address` until the task is dropped.
pub async fn serve(
    address: SocketAddr,
    registry: Arc<Registry>,
    healthy: Arc<AtomicBool>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .with_state(Http { registry, healthy });
    Ok(tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "metrics server stopped");
        }
    }))
}

async fn metrics(axum::extract::State(http): axum::extract::State<Http>) -> impl IntoResponse {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &http.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
            text,
        ),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "text/plain")], String::new()),
    }
}

async fn health(axum::extract::State(http): axum::extract::State<Http>) -> impl IntoResponse {
    if http.healthy.load(Ordering::Relaxed) {
        (StatusCode::OK, "ok\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting or stopping\n")
    }
}
