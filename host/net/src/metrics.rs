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

/// One peer's message and byte counters, by kind, looked up in their
/// families once per connection stream rather than once per message (a
/// family lookup takes a lock and hashes the labels: 1.5 % of a 31-node
/// cluster's CPU).
#[derive(Debug)]
pub struct PeerCounters {
    peer: u8,
    messages: Family<MessageLabels, Counter>,
    bytes: Family<MessageLabels, Counter>,
    by_kind: [Option<(Counter, Counter)>; KIND_SLOTS],
}

/// One slot per message kind, in the order of `MessageKind::ALL`.
const KIND_SLOTS: usize = ocr_core::wire::MessageKind::ALL.len();

impl PeerCounters {
    /// The counters of `peer` in the `messages` and `bytes` families.
    pub fn new(peer: u8, messages: &Family<MessageLabels, Counter>, bytes: &Family<MessageLabels, Counter>) -> Self {
        Self { peer, messages: messages.clone(), bytes: bytes.clone(), by_kind: Default::default() }
    }

    /// Counts one message of `kind`.
    pub fn message(&mut self, kind: ocr_core::wire::MessageKind) {
        self.counters(kind).0.inc();
    }

    /// Counts `len` bytes of a frame of `kind`.
    pub fn bytes(&mut self, kind: ocr_core::wire::MessageKind, len: usize) {
        self.counters(kind).1.inc_by(len as u64);
    }

    fn counters(&mut self, kind: ocr_core::wire::MessageKind) -> &(Counter, Counter) {
        let labels = MessageLabels { kind: kind.name(), peer: self.peer };
        let (messages, bytes) = (&self.messages, &self.bytes);
        let position = ocr_core::wire::MessageKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        let slot = &mut self.by_kind[position];
        slot.get_or_insert_with(|| (messages.get_or_create(&labels).clone(), bytes.get_or_create(&labels).clone()))
    }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use ocr_core::wire::MessageKind;

    use super::*;

    #[test]
    fn peer_counters_count_into_their_families_by_kind() {
        let metrics = NetMetrics::default();
        let mut counters = PeerCounters::new(3, &metrics.messages_in, &metrics.bytes_in);
        for kind in MessageKind::ALL {
            counters.message(kind);
            counters.bytes(kind, 10);
        }
        counters.message(MessageKind::ALL[0]);
        counters.bytes(MessageKind::ALL[0], 5);
        let get = |family: &Family<MessageLabels, Counter>, kind: MessageKind, peer| {
            family.get(&MessageLabels { kind: kind.name(), peer }).map(|c| c.get())
        };
        assert_eq!(get(&metrics.messages_in, MessageKind::ALL[0], 3), Some(2));
        assert_eq!(get(&metrics.bytes_in, MessageKind::ALL[0], 3), Some(15));
        for kind in &MessageKind::ALL[1..] {
            assert_eq!(get(&metrics.messages_in, *kind, 3), Some(1), "{kind:?}");
            assert_eq!(get(&metrics.bytes_in, *kind, 3), Some(10), "{kind:?}");
        }
        assert_eq!(get(&metrics.messages_in, MessageKind::ALL[0], 4), None, "another peer's counter is untouched");
        assert_eq!(get(&metrics.messages_out, MessageKind::ALL[0], 3), None);
    }
}
