//! The transport's Prometheus metrics: messages in, out and dropped by kind,
//! peer and reason, bytes by peer, connection state and refused handshakes.
//! Peers are labelled by oracle id within an instance (what operators see in
//! configs), connections by the peer id's first bytes.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels of a message counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MessageLabels {
    /// The message kind.
    pub kind: &'static str,
    /// The remote oracle.
    pub peer: u8,
}

/// Labels of a dropped-message counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DropLabels {
    /// The message kind (`unknown` when the frame did not say).
    pub kind: &'static str,
    /// The remote oracle.
    pub peer: u8,
    /// Why it was dropped.
    pub reason: &'static str,
}

/// Labels naming a connection's peer.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeerLabels {
    /// The first 8 bytes of the peer id, in hex.
    pub peer_id: String,
}

/// Labels of a handshake outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HandshakeLabels {
    /// `inbound` or `outbound`.
    pub direction: &'static str,
    /// `ok` or why it failed.
    pub result: &'static str,
}

/// Every metric of the transport.
#[derive(Clone, Debug, Default)]
pub struct NetMetrics {
    /// Messages received and admitted.
    pub messages_in: Family<MessageLabels, Counter>,
    /// Messages handed to a connection.
    pub messages_out: Family<MessageLabels, Counter>,
    /// Messages dropped, in either direction.
    pub dropped: Family<DropLabels, Counter>,
    /// Frame bytes received.
    pub bytes_in: Family<MessageLabels, Counter>,
    /// Frame bytes sent.
    pub bytes_out: Family<MessageLabels, Counter>,
    /// 1 while a connection to the peer is up.
    pub connected: Family<PeerLabels, Gauge>,
    /// Handshakes by direction and result.
    pub handshakes: Family<HandshakeLabels, Counter>,
    /// Connections closed because the peer broke the framing rules.
    pub protocol_violations: Family<PeerLabels, Counter>,
}

impl NetMetrics {
    /// Registers every metric under `ocr_net_`.
    pub fn register(&self, registry: &mut Registry) {
        let net = registry.sub_registry_with_prefix("ocr_net");
        net.register("messages_in", "Messages received and admitted", self.messages_in.clone());
        net.register("messages_out", "Messages handed to a connection", self.messages_out.clone());
        net.register("messages_dropped", "Messages dropped, by reason", self.dropped.clone());
        net.register("bytes_in", "Frame bytes received", self.bytes_in.clone());
        net.register("bytes_out", "Frame bytes sent", self.bytes_out.clone());
        net.register("peer_connected", "1 while a connection to the peer is up", self.connected.clone());
        net.register("handshakes", "TLS handshakes by direction and result", self.handshakes.clone());
        net.register(
            "protocol_violations",
            "Connections closed for breaking the framing rules",
            self.protocol_violations.clone(),
        );
    }

    /// Counts a dropped message.
    pub fn drop(&self, kind: &'static str, peer: u8, reason: &'static str) {
        self.dropped.get_or_create(&DropLabels { kind, peer, reason }).inc();
    }

    /// The number of messages dropped for `reason` (all kinds and peers).
    pub fn dropped_for(&self, reason: &str) -> u64 {
        let mut total = 0;
        // Families have no iteration API; tests and summaries ask for the
        // handful of label sets that can exist.
        for kind in ocr_core::wire::MessageKind::ALL.iter().map(|k| k.name()).chain(["unknown"]) {
            for peer in 0..=u8::MAX {
                let labels = DropLabels { kind, peer, reason: static_reason(reason) };
                total += self.dropped.get(&labels).map(|c| c.get()).unwrap_or(0);
            }
        }
        total
    }
}

/// The static form of a drop reason (label values are `'static`).
fn static_reason(reason: &str) -> &'static str {
    DROP_REASONS.iter().copied().find(|r| *r == reason).unwrap_or("unknown")
}

/// Every drop reason the transport counts.
pub const DROP_REASONS: &[&str] = &[
    "rate_limited",
    "inbound_queue_full",
    "outbound_queue_full",
    "malformed",
    "oversized",
    "bad_version",
    "bad_magic",
    "unknown_kind",
    "send_failed",
    "unknown_instance",
];
