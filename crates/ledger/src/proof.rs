//! Claims for proof bundles (`tenge-proof`), built from the committed state: the entries, their
//! slot-tree paths, account-index paths and the parts of the state root.

use tenge_proof::{Claim, EntryProof, StateRootParts};
use tenge_types::{AccountId, EarmarkId, StateKey};

use crate::state::CommittedState;

impl CommittedState {
    /// The parts the state root is the hash of.
    pub fn root_parts(&self) -> StateRootParts {
        StateRootParts {
            slot_tree_root: self.slot_tree_root(),
            next_slot: self.next_slot(),
            account_index_root: self.account_index_root(),
        }
    }

    fn entry<T: Clone>(&self, slot: u64, value: &T) -> EntryProof<T> {
        EntryProof {
            slot,
            value: value.clone(),
            path: self.slot_path(slot),
        }
    }

    /// An account with its path, or, if no account has this id, the proof of its absence.
    pub fn account_claim(&self, id: &AccountId) -> Claim {
        match self.accounts.get(id) {
            Some(entry) => Claim::Account {
                root: self.root_parts(),
                account: self.entry(entry.slot, &entry.value),
            },
            None => Claim::Absence {
                root: self.root_parts(),
                id: *id,
                path: self.account_index_path(id),
            },
        }
    }

    /// The global counters and the policy: issued, redeemed, the ceiling and the epoch cap.
    pub fn supply_claim(&self) -> Claim {
        Claim::Supply {
            root: self.root_parts(),
            global: self.entry(self.global.slot, &self.global.value),
            policy: self.entry(self.policy.slot, &self.policy.value),
        }
    }

    /// An earmark and its holder's account (which holds what is left of it), if it exists.
    pub fn earmark_claim(&self, id: &EarmarkId) -> Option<Claim> {
        let earmark = self.earmarks.get(id)?;
        let holder = self.accounts.get(&earmark.value.holder)?;
        debug_assert_eq!(
            self.slot(&StateKey::Account(holder.value.id)),
            Some(holder.slot)
        );
        Some(Claim::Earmark {
            root: self.root_parts(),
            earmark: self.entry(earmark.slot, &earmark.value),
            holder: self.entry(holder.slot, &holder.value),
        })
    }
}
