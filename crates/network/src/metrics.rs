//! The network's metrics: counters of its own under `tenge_network_`, beside libp2p's.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Why messages were dropped, for `tenge_network_dropped_messages_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct DropLabels {
    /// `peer_over_limit` (inbound, the peer's rate or pending-reply limits),
    /// `peer_not_keeping_up` (outbound, too many unacknowledged), `node_queue_full` (inbound).
    pub(crate) reason: &'static str,
}

/// Why a dial of a configured peer failed, for `tenge_network_dial_failures_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct DialFailureLabels {
    /// `unresolved` (its DNS name did not resolve) or `unreachable` (anything else).
    pub(crate) reason: &'static str,
}

/// The network's metrics, in the node's one registry beside libp2p's own. Counters only: they
/// never go down, so `rate()` works on all of them.
pub(crate) struct NetworkMetrics {
    pub(crate) libp2p: libp2p::metrics::Metrics,
    pub(crate) dropped: Family<DropLabels, Counter>,
    pub(crate) dial_failures: Family<DialFailureLabels, Counter>,
    pub(crate) penalties: Counter,
    pub(crate) bans: Counter,
}

impl NetworkMetrics {
    pub(crate) fn new(registry: &mut Registry) -> NetworkMetrics {
        let libp2p = libp2p::metrics::Metrics::new(registry);
        let ours = registry.sub_registry_with_prefix("tenge_network");
        let dropped = Family::default();
        ours.register(
            "dropped_messages",
            "Messages dropped by the network layer, by reason",
            dropped.clone(),
        );
        let dial_failures = Family::default();
        ours.register(
            "dial_failures",
            "Failed dials of configured peers, by reason",
            dial_failures.clone(),
        );
        let penalties = Counter::default();
        ours.register(
            "penalties",
            "Penalties charged to peers (bad or excessive messages)",
            penalties.clone(),
        );
        let bans = Counter::default();
        ours.register("bans", "Peers banned for repeated penalties", bans.clone());
        NetworkMetrics {
            libp2p,
            dropped,
            dial_failures,
            penalties,
            bans,
        }
    }

    pub(crate) fn drop_message(&self, reason: &'static str) {
        self.dropped.get_or_create(&DropLabels { reason }).inc();
    }
}
