//! The account index: a sparse binary trie over account ids whose leaves are `(id, slot)`, part
//! of the state root (decision D37). It proves that an id holds no account; the slot tree proves
//! what an account holds.
//!
//! Hashing rules are in `tenge_types::commitment`: an empty subtree is `ZERO`, a subtree with one
//! leaf is that leaf's hash, any other the node hash of its halves, so a path is as long as the
//! prefix that separates an id from its nearest neighbour (about log2 n + 1 for n accounts).
//! Accounts are never deleted, so the trie only grows, and only when accounts are created:
//! transfers never touch it. The trie lives in memory and is rebuilt from the accounts at
//! start-up, like the slot tree.

use tenge_types::commitment::{
    AccountIndexLeaf, AccountIndexPath, account_id_bit, account_index_node_hash, common_prefix_bits,
};
use tenge_types::{AccountId, HashValue};

/// A child reference: `EMPTY`, a leaf (`LEAF_FLAG | index into leaves`) or an inner node.
type Link = u32;
const EMPTY: Link = u32::MAX;
const LEAF_FLAG: Link = 1 << 31;

#[derive(Clone, Copy, Debug)]
struct Inner {
    hash: HashValue,
    left: Link,
    right: Link,
}

/// The committed account index.
#[derive(Clone, Debug)]
pub struct AccountIndex {
    inner: Vec<Inner>,
    leaves: Vec<AccountIndexLeaf>,
    root: Link,
}

impl Default for AccountIndex {
    fn default() -> AccountIndex {
        AccountIndex {
            inner: Vec::new(),
            leaves: Vec::new(),
            root: EMPTY,
        }
    }
}

fn is_leaf(link: Link) -> bool {
    link != EMPTY && link & LEAF_FLAG != 0
}

impl AccountIndex {
    /// Builds the index of `leaves` (any order; ids distinct) in O(n) hashes.
    pub fn from_leaves(mut leaves: Vec<AccountIndexLeaf>) -> AccountIndex {
        assert!(
            leaves.len() < LEAF_FLAG as usize,
            "account index capacity exceeded"
        );
        leaves.sort_unstable_by_key(|leaf| leaf.id);
        assert!(
            leaves.windows(2).all(|pair| pair[0].id != pair[1].id),
            "two accounts share an id"
        );
        let mut index = AccountIndex {
            inner: Vec::with_capacity(leaves.len()),
            leaves: Vec::with_capacity(leaves.len()),
            root: EMPTY,
        };
        index.root = index.build(&leaves, 0);
        index
    }

    fn push_leaf(&mut self, leaf: AccountIndexLeaf) -> Link {
        self.leaves.push(leaf);
        (self.leaves.len() - 1) as Link | LEAF_FLAG
    }

    fn push_inner(&mut self, left: Link, right: Link) -> Link {
        let hash = account_index_node_hash(&self.hash(left), &self.hash(right));
        self.inner.push(Inner { hash, left, right });
        let link = (self.inner.len() - 1) as Link;
        assert!(link < LEAF_FLAG, "account index capacity exceeded");
        link
    }

    /// A subtree over sorted leaves that share their first `depth` bits.
    fn build(&mut self, sorted: &[AccountIndexLeaf], depth: usize) -> Link {
        match sorted {
            [] => EMPTY,
            [leaf] => self.push_leaf(*leaf),
            _ => {
                let split = sorted.partition_point(|leaf| !account_id_bit(&leaf.id, depth));
                let left = self.build(&sorted[..split], depth + 1);
                let right = self.build(&sorted[split..], depth + 1);
                self.push_inner(left, right)
            }
        }
    }

    fn hash(&self, link: Link) -> HashValue {
        if link == EMPTY {
            HashValue::ZERO
        } else if is_leaf(link) {
            self.leaves[(link & !LEAF_FLAG) as usize].hash()
        } else {
            self.inner[link as usize].hash
        }
    }

    pub fn root(&self) -> HashValue {
        self.hash(self.root)
    }

    pub fn len(&self) -> usize {
        self.leaves.len()
    }

    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty()
    }

    /// Adds accounts created by a committed block (ids new to the index).
    pub fn insert(&mut self, added: &[AccountIndexLeaf]) {
        for leaf in added {
            self.root = self.insert_at(self.root, 0, *leaf);
        }
    }

    fn insert_at(&mut self, link: Link, depth: usize, leaf: AccountIndexLeaf) -> Link {
        if link == EMPTY {
            return self.push_leaf(leaf);
        }
        if is_leaf(link) {
            let existing = self.leaves[(link & !LEAF_FLAG) as usize];
            assert_ne!(existing.id, leaf.id, "account {} created twice", leaf.id);
            let new = self.push_leaf(leaf);
            return self.split(depth, link, &existing.id, new, &leaf.id);
        }
        let node = self.inner[link as usize];
        let (left, right) = if account_id_bit(&leaf.id, depth) {
            (node.left, self.insert_at(node.right, depth + 1, leaf))
        } else {
            (self.insert_at(node.left, depth + 1, leaf), node.right)
        };
        let hash = account_index_node_hash(&self.hash(left), &self.hash(right));
        self.inner[link as usize] = Inner { hash, left, right };
        link
    }

    /// The subtree at `depth` holding two leaves that agree on bits before `depth`.
    fn split(
        &mut self,
        depth: usize,
        a: Link,
        a_id: &AccountId,
        b: Link,
        b_id: &AccountId,
    ) -> Link {
        let branch = common_prefix_bits(a_id, b_id);
        debug_assert!(branch >= depth);
        let (left, right) = if account_id_bit(b_id, branch) {
            (a, b)
        } else {
            (b, a)
        };
        let mut link = self.push_inner(left, right);
        for level in (depth..branch).rev() {
            link = if account_id_bit(a_id, level) {
                self.push_inner(EMPTY, link)
            } else {
                self.push_inner(link, EMPTY)
            };
        }
        link
    }

    /// The path of `id`: a proof that it holds an account (and in which slot) or that none does.
    pub fn path(&self, id: &AccountId) -> AccountIndexPath {
        let mut siblings = Vec::new();
        let mut link = self.root;
        let mut depth = 0;
        loop {
            if link == EMPTY {
                return AccountIndexPath {
                    leaf: None,
                    siblings,
                };
            }
            if is_leaf(link) {
                return AccountIndexPath {
                    leaf: Some(self.leaves[(link & !LEAF_FLAG) as usize]),
                    siblings,
                };
            }
            let node = self.inner[link as usize];
            if account_id_bit(id, depth) {
                siblings.push(self.hash(node.left));
                link = node.right;
            } else {
                siblings.push(self.hash(node.right));
                link = node.left;
            }
            depth += 1;
        }
    }

    /// The root this index would have with `added` inserted, computed without changing it:
    /// the root of an executed but uncommitted block. Costs about one hash per level on each
    /// added id's path.
    pub fn root_with(&self, added: &[AccountIndexLeaf]) -> HashValue {
        if added.is_empty() {
            return self.root();
        }
        let mut sorted = added.to_vec();
        sorted.sort_unstable_by_key(|leaf| leaf.id);
        self.root_with_at(self.root, 0, &sorted)
    }

    fn root_with_at(&self, link: Link, depth: usize, added: &[AccountIndexLeaf]) -> HashValue {
        if added.is_empty() {
            return self.hash(link);
        }
        if link == EMPTY {
            return detached_root(added, depth);
        }
        if is_leaf(link) {
            let existing = self.leaves[(link & !LEAF_FLAG) as usize];
            let mut all = added.to_vec();
            let at = all.partition_point(|leaf| leaf.id < existing.id);
            assert!(
                all.get(at).is_none_or(|leaf| leaf.id != existing.id),
                "account {} created twice",
                existing.id
            );
            all.insert(at, existing);
            return detached_root(&all, depth);
        }
        let node = self.inner[link as usize];
        let split = added.partition_point(|leaf| !account_id_bit(&leaf.id, depth));
        account_index_node_hash(
            &self.root_with_at(node.left, depth + 1, &added[..split]),
            &self.root_with_at(node.right, depth + 1, &added[split..]),
        )
    }
}

/// The hash of a subtree holding exactly `sorted` (sharing their first `depth` bits).
fn detached_root(sorted: &[AccountIndexLeaf], depth: usize) -> HashValue {
    match sorted {
        [] => HashValue::ZERO,
        [leaf] => leaf.hash(),
        _ => {
            let split = sorted.partition_point(|leaf| !account_id_bit(&leaf.id, depth));
            account_index_node_hash(
                &detached_root(&sorted[..split], depth + 1),
                &detached_root(&sorted[split..], depth + 1),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tenge_types::commitment::{IndexLookup, account_index_root_from_path};

    fn leaf(id: [u8; 32], slot: u64) -> AccountIndexLeaf {
        AccountIndexLeaf {
            id: AccountId(id),
            slot,
        }
    }

    fn ids() -> impl Strategy<Value = Vec<[u8; 32]>> {
        // Short random ids padded with zeros share long prefixes: deep paths get exercised.
        prop::collection::vec(
            prop_oneof![
                any::<[u8; 32]>(),
                any::<[u8; 2]>().prop_map(|p| {
                    let mut id = [0u8; 32];
                    id[..2].copy_from_slice(&p);
                    id
                }),
            ],
            0..40,
        )
    }

    proptest! {
        #[test]
        fn inserts_root_with_and_rebuilds_agree(mut ids in ids(), probes in prop::collection::vec(any::<[u8; 32]>(), 4)) {
            ids.sort();
            ids.dedup();
            let leaves: Vec<_> = ids.iter().enumerate().map(|(i, id)| leaf(*id, i as u64)).collect();
            let half = leaves.len() / 2;
            let mut index = AccountIndex::from_leaves(leaves[..half].to_vec());
            let predicted = index.root_with(&leaves[half..]);
            index.insert(&leaves[half..]);
            let rebuilt = AccountIndex::from_leaves(leaves.clone());
            prop_assert_eq!(index.root(), rebuilt.root());
            prop_assert_eq!(predicted, rebuilt.root());
            for item in &leaves {
                let path = index.path(&item.id);
                prop_assert_eq!(
                    account_index_root_from_path(&item.id, &path),
                    Ok((index.root(), IndexLookup::Present { slot: item.slot }))
                );
            }
            for probe in probes.iter().map(|p| AccountId(*p)) {
                if ids.contains(&probe.0) {
                    continue;
                }
                let path = index.path(&probe);
                prop_assert_eq!(
                    account_index_root_from_path(&probe, &path),
                    Ok((index.root(), IndexLookup::Absent))
                );
            }
        }
    }

    #[test]
    fn empty_and_single() {
        let empty = AccountIndex::default();
        assert_eq!(empty.root(), HashValue::ZERO);
        let one = AccountIndex::from_leaves(vec![leaf([1; 32], 0)]);
        assert_eq!(one.root(), leaf([1; 32], 0).hash());
        assert_eq!(empty.root_with(&[leaf([1; 32], 0)]), one.root());
    }
}
