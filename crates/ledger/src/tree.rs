//! The state commitment: a binary Merkle tree of fixed depth over state slots.
//!
//! Every state entry (an account, an earmark, the global counters, the policy) is given a slot
//! when it is created: 0, 1, 2, ... in execution order, so slot assignment is deterministic. Leaf
//! `s` holds the hash of the entry in slot `s`; absent leaves hold zeros. The tree has a fixed
//! depth of 32, so its root commits to up to 2^32 entries, an entry's proof is 32 sibling hashes,
//! and updating `k` entries among `n` costs about `k * (32 - log2 k)` hashes, far less than
//! rehashing the state. (A sorted tree keyed by account, giving non-membership proofs, is a later
//! step; see docs/decisions.md.)

use std::collections::HashMap;

use tenge_types::HashValue;

pub const DEPTH: usize = tenge_types::commitment::SLOT_TREE_DEPTH;
/// Most state entries the tree can hold.
pub const MAX_SLOTS: u64 = tenge_types::commitment::MAX_SLOTS;

/// A node position: (level, index), level 0 being the leaves.
pub type NodePosition = (u8, u64);

pub fn node_hash(left: &HashValue, right: &HashValue) -> HashValue {
    tenge_types::commitment::slot_node_hash(left, right)
}

/// The hash of an empty subtree at each level.
pub fn empty_hash(level: usize) -> HashValue {
    tenge_types::commitment::slot_empty_hash(level)
}

/// Anything that can tell the current hash of a node.
pub trait NodeSource {
    fn node(&self, level: usize, index: u64) -> HashValue;
}

/// A fully materialised tree, stored level by level (absent nodes are empty subtrees).
#[derive(Clone, Debug, Default)]
pub struct SlotTree {
    levels: Vec<Vec<HashValue>>,
}

impl SlotTree {
    pub fn new() -> SlotTree {
        SlotTree {
            levels: vec![Vec::new(); DEPTH + 1],
        }
    }

    /// Builds the tree from every leaf, by slot.
    pub fn from_leaves(leaves: Vec<HashValue>) -> SlotTree {
        assert!(
            (leaves.len() as u64) <= MAX_SLOTS,
            "state exceeds the tree's capacity"
        );
        let mut levels = Vec::with_capacity(DEPTH + 1);
        levels.push(leaves);
        for level in 0..DEPTH {
            let below = &levels[level];
            let above: Vec<HashValue> = below
                .chunks(2)
                .map(|pair| node_hash(&pair[0], pair.get(1).unwrap_or(&empty_hash(level))))
                .collect();
            levels.push(above);
        }
        SlotTree { levels }
    }

    pub fn root(&self) -> HashValue {
        self.node(DEPTH, 0)
    }

    /// Writes the nodes an update computed.
    pub fn apply(&mut self, nodes: &HashMap<NodePosition, HashValue>) {
        for (&(level, index), hash) in nodes {
            let level_nodes = &mut self.levels[level as usize];
            let index = usize::try_from(index).expect("slot index fits in memory");
            if level_nodes.len() <= index {
                level_nodes.resize(index + 1, empty_hash(level as usize));
            }
            level_nodes[index] = *hash;
        }
    }

    /// The sibling hashes from leaf `slot` up to the root: an inclusion proof.
    pub fn proof(&self, slot: u64) -> Vec<HashValue> {
        (0..DEPTH)
            .map(|level| self.node(level, (slot >> level) ^ 1))
            .collect()
    }
}

impl NodeSource for SlotTree {
    fn node(&self, level: usize, index: u64) -> HashValue {
        usize::try_from(index)
            .ok()
            .and_then(|index| self.levels[level].get(index))
            .copied()
            .unwrap_or_else(|| empty_hash(level))
    }
}

/// The tree root an inclusion proof from [`SlotTree::proof`] leads to, if it is well formed.
pub fn root_from_proof(slot: u64, leaf: &HashValue, proof: &[HashValue]) -> Option<HashValue> {
    tenge_types::commitment::slot_tree_root_from_path(slot, leaf, proof)
}

/// Checks an inclusion proof from [`SlotTree::proof`] against a tree root.
pub fn verify_proof(root: &HashValue, slot: u64, leaf: &HashValue, proof: &[HashValue]) -> bool {
    root_from_proof(slot, leaf, proof).is_some_and(|computed| computed == *root)
}

/// Recomputes the nodes above changed leaves. `changed` maps slots to new leaf hashes; `source`
/// gives the hashes of untouched nodes. Returns every node that changed, leaves included, and
/// the new root.
pub fn update(
    source: &impl NodeSource,
    changed: &[(u64, HashValue)],
) -> (HashMap<NodePosition, HashValue>, HashValue) {
    let mut nodes = HashMap::with_capacity(changed.len() * 4);
    let mut current: Vec<(u64, HashValue)> = changed.to_vec();
    current.sort_unstable_by_key(|(slot, _)| *slot);
    current.dedup_by_key(|(slot, _)| *slot);
    if current.is_empty() {
        return (nodes, source.node(DEPTH, 0));
    }
    for &(slot, hash) in &current {
        assert!(slot < MAX_SLOTS, "slot {slot} beyond the tree's capacity");
        nodes.insert((0u8, slot), hash);
    }
    for level in 0..DEPTH {
        let mut above = Vec::with_capacity(current.len() / 2 + 1);
        let mut i = 0;
        while i < current.len() {
            let (index, hash) = current[i];
            let parent = index >> 1;
            let (left, right) = if index & 1 == 0 {
                // A changed left child; the right one may have changed too.
                match current.get(i + 1) {
                    Some(&(next, next_hash)) if next == index + 1 => {
                        i += 1;
                        (hash, next_hash)
                    }
                    _ => (hash, source.node(level, index + 1)),
                }
            } else {
                (source.node(level, index - 1), hash)
            };
            i += 1;
            let parent_hash = node_hash(&left, &right);
            nodes.insert(((level + 1) as u8, parent), parent_hash);
            above.push((parent, parent_hash));
        }
        current = above;
    }
    debug_assert_eq!(current.len(), 1);
    (nodes, current[0].1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenge_types::Domain;

    fn leaf(i: u64) -> HashValue {
        Domain::StateLeaf.hash(&i.to_le_bytes())
    }

    #[test]
    fn empty_tree_root_is_the_empty_hash() {
        assert_eq!(SlotTree::new().root(), empty_hash(DEPTH));
        assert_eq!(SlotTree::from_leaves(vec![]).root(), empty_hash(DEPTH));
    }

    #[test]
    fn incremental_updates_match_a_full_rebuild() {
        let mut leaves: Vec<HashValue> = (0..37).map(leaf).collect();
        let mut tree = SlotTree::new();
        let (nodes, root) = update(
            &tree,
            &leaves
                .iter()
                .copied()
                .enumerate()
                .map(|(i, h)| (i as u64, h))
                .collect::<Vec<_>>(),
        );
        tree.apply(&nodes);
        assert_eq!(root, tree.root());
        assert_eq!(root, SlotTree::from_leaves(leaves.clone()).root());

        // Change a scattered set and append a few.
        let changes: Vec<(u64, HashValue)> = vec![
            (0, leaf(100)),
            (5, leaf(105)),
            (6, leaf(106)),
            (36, leaf(136)),
            (37, leaf(137)),
            (40, leaf(140)),
        ];
        for &(slot, hash) in &changes {
            let slot = slot as usize;
            if leaves.len() <= slot {
                leaves.resize(slot + 1, HashValue::ZERO);
            }
            leaves[slot] = hash;
        }
        let (nodes, root) = update(&tree, &changes);
        tree.apply(&nodes);
        assert_eq!(root, tree.root());
        assert_eq!(root, SlotTree::from_leaves(leaves).root());
    }

    #[test]
    fn proofs_verify_and_bind_slot_and_leaf() {
        let leaves: Vec<HashValue> = (0..10).map(leaf).collect();
        let tree = SlotTree::from_leaves(leaves.clone());
        let root = tree.root();
        for (slot, hash) in leaves.iter().enumerate() {
            let proof = tree.proof(slot as u64);
            assert!(verify_proof(&root, slot as u64, hash, &proof));
            assert!(!verify_proof(&root, slot as u64 + 1, hash, &proof));
            assert!(!verify_proof(&root, slot as u64, &leaf(99), &proof));
        }
    }

    #[test]
    fn root_depends_on_position() {
        let a = SlotTree::from_leaves(vec![leaf(1), leaf(2)]).root();
        let b = SlotTree::from_leaves(vec![leaf(2), leaf(1)]).root();
        assert_ne!(a, b);
    }
}
