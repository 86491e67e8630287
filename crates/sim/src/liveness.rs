//! The liveness verdict: once the network heals, every honest node and every observer must
//! commit `liveness_blocks` new blocks within `liveness_bound_ms`.

use crate::checker::Checker;
use crate::config::SimConfig;
use crate::node::Node;
use crate::observer::Observer;

pub struct Liveness {
    blocks: u64,
    bound_ms: u64,
    /// Committed height of each honest node at the heal (or its first restart after).
    height_at_heal: Vec<Option<u64>>,
    /// Committed height of each observer at the heal (or its first restart after).
    observer_height_at_heal: Vec<Option<u64>>,
}

impl Liveness {
    pub fn new(config: &SimConfig, nodes: usize, observers: usize) -> Liveness {
        Liveness {
            blocks: config.liveness_blocks,
            bound_ms: config.liveness_bound_ms,
            height_at_heal: vec![None; nodes],
            observer_height_at_heal: vec![None; observers],
        }
    }

    /// An observer that joins late, when the chain is at `height`: it must pass that height by
    /// `liveness_blocks`, so catch up with everything committed before it started.
    pub fn observer_starts_at(&mut self, observer: usize, height: u64) {
        self.observer_height_at_heal[observer] = Some(height);
    }

    /// Notes the committed height of each honest node and observer that is up and has none
    /// noted yet. Called at every event from the heal on.
    pub fn note_heal_heights(&mut self, nodes: &[Node], observers: &[Observer]) {
        for (observer, noted) in observers.iter().zip(&mut self.observer_height_at_heal) {
            if noted.is_none() && observer.is_up() {
                *noted = Some(observer.committed_height());
            }
        }
        for (node, noted) in nodes.iter().zip(&mut self.height_at_heal) {
            if honest(node) && noted.is_none() && node.is_up() {
                *noted = Some(node.committed_height());
            }
        }
    }

    /// Whether every honest node and every observer has committed enough since the heal.
    pub fn reached(&self, nodes: &[Node], observers: &[Observer]) -> bool {
        let observers =
            observers
                .iter()
                .zip(&self.observer_height_at_heal)
                .all(|(observer, start)| {
                    start.is_some_and(|start| observer.committed_height() >= start + self.blocks)
                });
        observers
            && nodes
                .iter()
                .zip(&self.height_at_heal)
                .filter(|(node, _)| honest(node))
                .all(|(node, start)| {
                    start.is_some_and(|start| node.committed_height() >= start + self.blocks)
                })
    }

    /// At the end of the run: a violation for each honest node or observer that did not commit
    /// enough since the heal.
    pub fn check(&self, nodes: &[Node], observers: &[Observer], checker: &mut Checker) {
        for (observer, state) in observers.iter().enumerate() {
            let start = self.observer_height_at_heal[observer].unwrap_or(0);
            let height = state.committed_height();
            if height < start + self.blocks {
                checker.violation(format!(
                    "liveness: observer {observer} synced {} blocks in the {} ms after the network healed (from height {start}), fewer than {}",
                    height.saturating_sub(start),
                    self.bound_ms,
                    self.blocks
                ));
            }
        }
        for (index, node) in nodes.iter().enumerate() {
            if !honest(node) {
                continue;
            }
            let start = self.height_at_heal[index].unwrap_or(0);
            let height = node.committed_height();
            if height < start + self.blocks {
                checker.violation(format!(
                    "liveness: node {index} committed {} blocks in the {} ms after the network healed (from height {start}), fewer than {}",
                    height.saturating_sub(start),
                    self.bound_ms,
                    self.blocks
                ));
            }
        }
    }
}

fn honest(node: &Node) -> bool {
    !node.behavior.is_byzantine()
}
