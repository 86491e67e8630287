//! What the state root commits to, and the rules that check a path against it.
//!
//! The state root is `SHA-256(TENGE::StateRoot ‖ slot-tree root ‖ next slot (u64 LE) ‖
//! account-index root)`:
//! - the **slot tree** (decision D7) is a binary Merkle tree of depth 32 whose leaf `s` is the
//!   hash of the state entry in slot `s` (accounts, earmarks, the global counters, the policy);
//!   it proves what an entry holds;
//! - the **account index** (decision D37) is a sparse binary trie keyed by the bits of an account
//!   id, whose leaves are `(account id, slot)`; it proves that an id holds *no* account, which a
//!   tree indexed by creation order cannot.
//!
//! The ledger builds both; a proof verifier checks paths with the functions here, so that the
//! node and every verifier apply one rule (`tenge-ledger` and `tenge-proof` both call them).

use serde::{Deserialize, Serialize};

use crate::codec::encode;
use crate::hash::{Domain, HashValue};
use crate::ids::AccountId;
use crate::state::StateValue;

/// Depth of the slot tree: its root commits to up to 2^32 entries.
pub const SLOT_TREE_DEPTH: usize = 32;
/// Most state entries the slot tree can hold.
pub const MAX_SLOTS: u64 = 1 << SLOT_TREE_DEPTH;
/// Bits in an account id: the deepest a path in the account index can go.
pub const ACCOUNT_INDEX_MAX_DEPTH: usize = 256;

/// The leaf of the slot tree for one state entry.
#[inline]
pub fn state_leaf_hash(value: &StateValue) -> HashValue {
    Domain::StateLeaf.hash(&encode(value))
}

/// An inner node of the slot tree (hot: execution hashes about 20 of them per changed entry).
#[inline]
pub fn slot_node_hash(left: &HashValue, right: &HashValue) -> HashValue {
    Domain::StateNode.hash_parts(&[&left.0, &right.0])
}

/// The hash of an empty subtree of the slot tree at each level (level 0: a leaf).
#[inline]
pub fn slot_empty_hash(level: usize) -> HashValue {
    static EMPTY: std::sync::OnceLock<Vec<HashValue>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(|| {
        let mut hashes = vec![HashValue::ZERO];
        for level in 0..SLOT_TREE_DEPTH {
            let below = hashes[level];
            hashes.push(slot_node_hash(&below, &below));
        }
        hashes
    })[level]
}

/// The slot-tree root that `leaf` in `slot` with sibling hashes `path` (leaf level first) leads
/// to, or `None` if the path is malformed.
pub fn slot_tree_root_from_path(
    slot: u64,
    leaf: &HashValue,
    path: &[HashValue],
) -> Option<HashValue> {
    if path.len() != SLOT_TREE_DEPTH || slot >= MAX_SLOTS {
        return None;
    }
    let mut hash = *leaf;
    for (level, sibling) in path.iter().enumerate() {
        hash = if (slot >> level) & 1 == 0 {
            slot_node_hash(&hash, sibling)
        } else {
            slot_node_hash(sibling, &hash)
        };
    }
    Some(hash)
}

/// The state root of a slot tree, its number of used slots and an account index.
pub fn state_root(
    slot_tree_root: &HashValue,
    next_slot: u64,
    account_index_root: &HashValue,
) -> HashValue {
    Domain::StateRoot.hash_parts(&[
        &slot_tree_root.0,
        &next_slot.to_le_bytes(),
        &account_index_root.0,
    ])
}

/// Bit `depth` of an account id, most significant bit of byte 0 first: the account index
/// branches on it at that depth (false: left).
pub fn account_id_bit(id: &AccountId, depth: usize) -> bool {
    (id.0[depth / 8] >> (7 - depth % 8)) & 1 == 1
}

/// Leading bits two account ids share.
pub fn common_prefix_bits(a: &AccountId, b: &AccountId) -> usize {
    for (index, (x, y)) in a.0.iter().zip(&b.0).enumerate() {
        let differ = x ^ y;
        if differ != 0 {
            return index * 8 + differ.leading_zeros() as usize;
        }
    }
    ACCOUNT_INDEX_MAX_DEPTH
}

/// A leaf of the account index: an account id and the slot holding the account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountIndexLeaf {
    pub id: AccountId,
    pub slot: u64,
}

impl AccountIndexLeaf {
    pub fn hash(&self) -> HashValue {
        Domain::AccountIndexLeaf.hash_parts(&[&self.id.0, &self.slot.to_le_bytes()])
    }
}

/// An inner node of the account index. An empty subtree hashes to [`HashValue::ZERO`]; a subtree
/// holding one leaf hashes to that leaf's hash (paths stop there, as in Diem's sparse Merkle
/// tree); any other subtree to the node hash of its two halves.
pub fn account_index_node_hash(left: &HashValue, right: &HashValue) -> HashValue {
    Domain::AccountIndexNode.hash_parts(&[&left.0, &right.0])
}

/// The path of an account id in the account index: where the walk from the root, branching on
/// the id's bits, ends (an empty subtree, or a subtree holding one leaf) and the sibling hashes
/// passed on the way, root first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountIndexPath {
    /// The one leaf of the subtree where the walk ended; `None` if that subtree is empty.
    pub leaf: Option<AccountIndexLeaf>,
    /// Sibling hashes from the root down.
    pub siblings: Vec<HashValue>,
}

/// What an account-index path says about an id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexLookup {
    /// The id holds an account, in this slot.
    Present { slot: u64 },
    /// No account has this id.
    Absent,
}

/// Why an account-index path is malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IndexPathError {
    #[error("the path is deeper than an account id has bits")]
    TooDeep,
    #[error("the path ends at a leaf that does not lie on the id's path")]
    LeafOffPath,
}

/// The account-index root a path for `id` leads to, and what it says about `id`.
pub fn account_index_root_from_path(
    id: &AccountId,
    path: &AccountIndexPath,
) -> Result<(HashValue, IndexLookup), IndexPathError> {
    let depth = path.siblings.len();
    if depth > ACCOUNT_INDEX_MAX_DEPTH {
        return Err(IndexPathError::TooDeep);
    }
    let (mut hash, lookup) = match &path.leaf {
        None => (HashValue::ZERO, IndexLookup::Absent),
        Some(leaf) => {
            // A leaf ending the walk must sit in the subtree the id's bits lead to; otherwise a
            // prover could show a leaf from elsewhere in the tree as the one blocking the path.
            if common_prefix_bits(&leaf.id, id) < depth {
                return Err(IndexPathError::LeafOffPath);
            }
            let lookup = if leaf.id == *id {
                IndexLookup::Present { slot: leaf.slot }
            } else {
                IndexLookup::Absent
            };
            (leaf.hash(), lookup)
        }
    };
    for (level, sibling) in path.siblings.iter().enumerate().rev() {
        hash = if account_id_bit(id, level) {
            account_index_node_hash(sibling, &hash)
        } else {
            account_index_node_hash(&hash, sibling)
        };
    }
    Ok((hash, lookup))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_most_significant_first() {
        let mut id = AccountId([0; 32]);
        id.0[0] = 0b1000_0000;
        id.0[1] = 0b0000_0001;
        assert!(account_id_bit(&id, 0));
        assert!(!account_id_bit(&id, 1));
        assert!(account_id_bit(&id, 15));
        assert_eq!(common_prefix_bits(&id, &AccountId([0; 32])), 0);
        let mut other = id;
        other.0[1] = 0;
        assert_eq!(common_prefix_bits(&id, &other), 15);
        assert_eq!(common_prefix_bits(&id, &id), 256);
    }

    #[test]
    fn a_path_that_ends_at_another_leaf_proves_absence() {
        let a = AccountIndexLeaf {
            id: AccountId([0; 32]),
            slot: 3,
        };
        let mut b_id = AccountId([0; 32]);
        b_id.0[0] = 0x80;
        let b = AccountIndexLeaf { id: b_id, slot: 4 };
        let root = account_index_node_hash(&a.hash(), &b.hash());
        let path_a = AccountIndexPath {
            leaf: Some(a),
            siblings: vec![b.hash()],
        };
        assert_eq!(
            account_index_root_from_path(&a.id, &path_a),
            Ok((root, IndexLookup::Present { slot: 3 }))
        );
        // An id starting with bit 0 other than `a` is absent: its walk ends at `a`.
        let mut c = AccountId([0; 32]);
        c.0[5] = 1;
        assert_eq!(
            account_index_root_from_path(&c, &path_a),
            Ok((root, IndexLookup::Absent))
        );
        // `a`'s path cannot be shown for an id on the other side.
        let mut d = AccountId([0xff; 32]);
        d.0[0] = 0x81;
        assert_eq!(
            account_index_root_from_path(&d, &path_a),
            Err(IndexPathError::LeafOffPath)
        );
        let too_deep = AccountIndexPath {
            leaf: None,
            siblings: vec![HashValue::ZERO; 257],
        };
        assert_eq!(
            account_index_root_from_path(&c, &too_deep),
            Err(IndexPathError::TooDeep)
        );
    }
}
