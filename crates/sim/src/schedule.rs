//! Simulated time's queue: the events of a run, and the order they happen in.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use tenge_types::{PublicKey, Round};

/// What a message between validators carries.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    Consensus,
    /// A batch of client transactions (the network's transactions channel).
    Gossip,
}

pub enum Event {
    Deliver {
        to: usize,
        /// The sending node, and the key it speaks with.
        from_node: usize,
        from_key: PublicKey,
        wire: Wire,
        bytes: Vec<u8>,
    },
    Timer {
        node: usize,
        incarnation: u64,
        round: Round,
    },
    Crash {
        node: usize,
    },
    Restart {
        node: usize,
    },
    Client,
    /// An observer's poll: it asks a validator for blocks if it is not waiting for an answer.
    ObserverTick {
        observer: usize,
    },
    SyncRequest {
        to: usize,
        observer: usize,
        incarnation: u64,
        bytes: Vec<u8>,
    },
    SyncResponse {
        observer: usize,
        incarnation: u64,
        bytes: Vec<u8>,
    },
    ObserverCrash {
        observer: usize,
    },
    /// A `sync-flood` validator's next burst of range requests.
    FloodTick {
        node: usize,
    },
    /// One of its requests reaches validator node `to`.
    FloodRequest {
        to: usize,
        from_node: usize,
        bytes: Vec<u8>,
    },
    ObserverRestart {
        observer: usize,
    },
    /// A validator node's range-sync poll (the engine's periodic tick): it asks a peer for
    /// blocks if it is behind and not waiting for an answer.
    NodeSyncTick {
        node: usize,
    },
    NodeSyncRequest {
        to: usize,
        from_node: usize,
        incarnation: u64,
        bytes: Vec<u8>,
    },
    NodeSyncResponse {
        node: usize,
        incarnation: u64,
        bytes: Vec<u8>,
    },
}

pub struct Scheduled {
    pub time: u64,
    sequence: u64,
    pub event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.sequence) == (other.time, other.sequence)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.time, self.sequence).cmp(&(other.time, other.sequence))
    }
}

/// The events to come, earliest first.
#[derive(Default)]
pub struct Queue {
    sequence: u64,
    heap: BinaryHeap<Reverse<Scheduled>>,
}

impl Queue {
    /// Queues `event` at simulated time `time`; events at the same time run in the order queued.
    pub fn push(&mut self, time: u64, event: Event) {
        self.sequence += 1;
        self.heap.push(Reverse(Scheduled {
            time,
            sequence: self.sequence,
            event,
        }));
    }

    /// The earliest event, taken off the queue.
    pub fn pop(&mut self) -> Option<Scheduled> {
        self.heap.pop().map(|Reverse(next)| next)
    }
}
