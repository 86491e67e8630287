//! Ledger state: the committed state, the deltas of executed but uncommitted blocks, and a view
//! that reads through both.

use std::collections::HashMap;

use tenge_policy::StateView;
use tenge_types::commitment::AccountIndexLeaf;
use tenge_types::{
    Account, AccountId, Amount, Earmark, EarmarkId, GlobalState, HashValue, Membership,
    PolicyState, Slotted, StateKey, StateValue,
};

use crate::account_index::AccountIndex;
use crate::tree::{self, NodePosition, NodeSource, SlotTree};

/// The hash of a state entry: a leaf of the state tree.
pub fn leaf_hash(value: &StateValue) -> HashValue {
    tenge_types::commitment::state_leaf_hash(value)
}

/// The state root: the slot tree's root, the number of slots in use and the account index's
/// root (decision D37).
pub fn state_root(
    tree_root: &HashValue,
    next_slot: u64,
    account_index_root: &HashValue,
) -> HashValue {
    tenge_types::commitment::state_root(tree_root, next_slot, account_index_root)
}

/// The state changes of one executed block, relative to the state it was executed on.
#[derive(Clone, Debug)]
pub struct StateDelta {
    /// The state root the block was executed on.
    pub parent_root: HashValue,
    /// Changed and created entries, sorted by slot.
    pub entries: Vec<Slotted<StateValue>>,
    index: HashMap<StateKey, usize>,
    nodes: HashMap<NodePosition, HashValue>,
    pub next_slot: u64,
    /// Accounts this block created, for the account index.
    pub created_accounts: Vec<AccountIndexLeaf>,
    /// The account index's root after this block.
    pub account_index_root: HashValue,
    pub state_root: HashValue,
}

impl StateDelta {
    pub(crate) fn new(
        parent_root: HashValue,
        mut entries: Vec<Slotted<StateValue>>,
        nodes: HashMap<NodePosition, HashValue>,
        tree_root: HashValue,
        next_slot: u64,
        created_accounts: Vec<AccountIndexLeaf>,
        account_index_root: HashValue,
    ) -> StateDelta {
        let state_root = state_root(&tree_root, next_slot, &account_index_root);
        entries.sort_unstable_by_key(|entry| entry.slot);
        let index = entries
            .iter()
            .enumerate()
            .map(|(position, entry)| (entry.value.key(), position))
            .collect();
        StateDelta {
            parent_root,
            entries,
            index,
            nodes,
            next_slot,
            created_accounts,
            account_index_root,
            state_root,
        }
    }

    pub fn get(&self, key: &StateKey) -> Option<&Slotted<StateValue>> {
        self.index.get(key).map(|&position| &self.entries[position])
    }
}

/// The committed ledger state, entirely in memory, with its tree.
#[derive(Clone, Debug)]
pub struct CommittedState {
    pub(crate) global: Slotted<GlobalState>,
    pub(crate) policy: Slotted<PolicyState>,
    pub(crate) membership: Slotted<Membership>,
    pub(crate) accounts: HashMap<AccountId, Slotted<Account>>,
    pub(crate) earmarks: HashMap<EarmarkId, Slotted<Earmark>>,
    pub(crate) next_slot: u64,
    pub(crate) tree: SlotTree,
    pub(crate) index: AccountIndex,
    pub(crate) root: HashValue,
}

/// Why stored state could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum StateLoadError {
    #[error("stored state has no {0} entry")]
    Missing(&'static str),
    #[error("stored state has two entries in slot {0}")]
    DuplicateSlot(u64),
    #[error("stored state has two entries for {0:?}")]
    DuplicateKey(StateKey),
    #[error("stored state root {computed} does not match the committed head's {expected}")]
    RootMismatch {
        computed: HashValue,
        expected: HashValue,
    },
    #[error("stored state breaks a ledger invariant: {0}")]
    Invariant(String),
}

impl CommittedState {
    /// Rebuilds state from its entries (as stored), checking the root and the invariants.
    pub fn from_entries(
        entries: Vec<Slotted<StateValue>>,
        expected_root: &HashValue,
        height: tenge_types::Height,
    ) -> Result<CommittedState, StateLoadError> {
        let state = CommittedState::build(entries)?;
        if state.root != *expected_root {
            return Err(StateLoadError::RootMismatch {
                computed: state.root,
                expected: *expected_root,
            });
        }
        state.audit(height).map_err(StateLoadError::Invariant)?;
        Ok(state)
    }

    /// State from its entries, with its commitments computed but neither checked against a root
    /// nor audited (genesis, benchmarks; stored state goes through [`Self::from_entries`]).
    pub fn build(entries: Vec<Slotted<StateValue>>) -> Result<CommittedState, StateLoadError> {
        let mut global = None;
        let mut policy = None;
        let mut membership = None;
        let mut accounts = HashMap::new();
        let mut earmarks = HashMap::new();
        let next_slot = entries.iter().map(|e| e.slot + 1).max().unwrap_or(0);
        let mut leaves = vec![HashValue::ZERO; usize::try_from(next_slot).expect("slots fit")];
        for Slotted { slot, value } in entries {
            let leaf = &mut leaves[slot as usize];
            if *leaf != HashValue::ZERO {
                return Err(StateLoadError::DuplicateSlot(slot));
            }
            *leaf = leaf_hash(&value);
            let key = value.key();
            let duplicate = match value {
                StateValue::Global(value) => global.replace(Slotted { slot, value }).is_some(),
                StateValue::Policy(value) => policy.replace(Slotted { slot, value }).is_some(),
                StateValue::Membership(value) => {
                    membership.replace(Slotted { slot, value }).is_some()
                }
                StateValue::Account(value) => {
                    accounts.insert(value.id, Slotted { slot, value }).is_some()
                }
                StateValue::Earmark(value) => {
                    earmarks.insert(value.id, Slotted { slot, value }).is_some()
                }
            };
            if duplicate {
                return Err(StateLoadError::DuplicateKey(key));
            }
        }
        let tree = SlotTree::from_leaves(leaves);
        let index = AccountIndex::from_leaves(index_leaves(&accounts));
        let root = state_root(&tree.root(), next_slot, &index.root());
        Ok(CommittedState {
            global: global.ok_or(StateLoadError::Missing("global"))?,
            policy: policy.ok_or(StateLoadError::Missing("policy"))?,
            membership: membership.ok_or(StateLoadError::Missing("membership"))?,
            accounts,
            earmarks,
            next_slot,
            tree,
            index,
            root,
        })
    }

    pub fn root(&self) -> HashValue {
        self.root
    }

    pub fn global(&self) -> &GlobalState {
        &self.global.value
    }

    pub fn policy(&self) -> &PolicyState {
        &self.policy.value
    }

    pub fn account(&self, id: &AccountId) -> Option<&Account> {
        self.accounts.get(id).map(|entry| &entry.value)
    }

    /// The validators and the observers admitted on chain.
    pub fn membership(&self) -> &Membership {
        &self.membership.value
    }

    pub fn accounts(&self) -> impl Iterator<Item = &Account> {
        self.accounts.values().map(|entry| &entry.value)
    }

    pub fn earmark(&self, id: &EarmarkId) -> Option<&Earmark> {
        self.earmarks.get(id).map(|entry| &entry.value)
    }

    pub fn account_count(&self) -> usize {
        self.accounts.len()
    }

    /// Every entry with its slot, sorted by slot: what a full snapshot stores.
    pub fn entries(&self) -> Vec<Slotted<StateValue>> {
        let mut entries = vec![
            Slotted {
                slot: self.global.slot,
                value: StateValue::Global(self.global.value.clone()),
            },
            Slotted {
                slot: self.policy.slot,
                value: StateValue::Policy(self.policy.value.clone()),
            },
            Slotted {
                slot: self.membership.slot,
                value: StateValue::Membership(self.membership.value.clone()),
            },
        ];
        entries.extend(self.accounts.values().map(|entry| Slotted {
            slot: entry.slot,
            value: StateValue::Account(entry.value.clone()),
        }));
        entries.extend(self.earmarks.values().map(|entry| Slotted {
            slot: entry.slot,
            value: StateValue::Earmark(entry.value.clone()),
        }));
        entries.sort_unstable_by_key(|entry| entry.slot);
        entries
    }

    /// An inclusion proof of an account against the state root: its slot, the leaf hash, and the
    /// sibling hashes. Check it with [`crate::verify_account_proof`].
    pub fn account_proof(&self, id: &AccountId) -> Option<(u64, Vec<HashValue>)> {
        self.accounts
            .get(id)
            .map(|entry| (entry.slot, self.tree.proof(entry.slot)))
    }

    /// The slot of a state entry, if it exists.
    pub fn slot(&self, key: &StateKey) -> Option<u64> {
        match key {
            StateKey::Global => Some(self.global.slot),
            StateKey::Policy => Some(self.policy.slot),
            StateKey::Membership => Some(self.membership.slot),
            StateKey::Account(id) => self.accounts.get(id).map(|e| e.slot),
            StateKey::Earmark(id) => self.earmarks.get(id).map(|e| e.slot),
        }
    }

    /// The slot-tree path of a slot (sibling hashes, leaf level first).
    pub fn slot_path(&self, slot: u64) -> Vec<HashValue> {
        self.tree.proof(slot)
    }

    /// The root of the slot tree.
    pub fn slot_tree_root(&self) -> HashValue {
        self.tree.root()
    }

    /// Slots in use: part of the state root.
    pub fn next_slot(&self) -> u64 {
        self.next_slot
    }

    /// The root of the account index (decision D37).
    pub fn account_index_root(&self) -> HashValue {
        self.index.root()
    }

    /// The account-index path of an id: proves the account's slot, or that no account has it.
    pub fn account_index_path(&self, id: &AccountId) -> tenge_types::commitment::AccountIndexPath {
        self.index.path(id)
    }

    /// Applies the delta of a block executed on exactly this state.
    pub fn apply(&mut self, delta: &StateDelta) {
        assert_eq!(
            delta.parent_root, self.root,
            "delta was executed on another state: committing it would corrupt the ledger"
        );
        for entry in &delta.entries {
            let slot = entry.slot;
            match &entry.value {
                StateValue::Global(value) => {
                    assert_eq!(slot, self.global.slot);
                    self.global.value = value.clone();
                }
                StateValue::Policy(value) => {
                    assert_eq!(slot, self.policy.slot);
                    self.policy.value = value.clone();
                }
                StateValue::Membership(value) => {
                    assert_eq!(slot, self.membership.slot);
                    self.membership.value = value.clone();
                }
                StateValue::Account(value) => {
                    self.accounts.insert(
                        value.id,
                        Slotted {
                            slot,
                            value: value.clone(),
                        },
                    );
                }
                StateValue::Earmark(value) => {
                    self.earmarks.insert(
                        value.id,
                        Slotted {
                            slot,
                            value: value.clone(),
                        },
                    );
                }
            }
        }
        self.tree.apply(&delta.nodes);
        self.next_slot = delta.next_slot;
        self.index.insert(&delta.created_accounts);
        assert_eq!(
            self.index.root(),
            delta.account_index_root,
            "applied delta gives a different account index"
        );
        self.root = state_root(&self.tree.root(), self.next_slot, &self.index.root());
        assert_eq!(
            self.root, delta.state_root,
            "applied delta gives a different root"
        );
    }

    /// Checks every ledger invariant over the whole state: O(accounts). The executor checks the
    /// same facts incrementally after every block; this is the independent audit.
    pub fn audit(&self, height: tenge_types::Height) -> Result<(), String> {
        let global = &self.global.value;
        let Some(outstanding) = global.issued.checked_sub(global.redeemed) else {
            return Err(format!(
                "redeemed {} exceeds issued {}",
                global.redeemed, global.issued
            ));
        };
        let ceiling = self.policy.value.active_at(height).params.supply_ceiling;
        if outstanding > ceiling {
            return Err(format!(
                "outstanding {outstanding} exceeds the ceiling {ceiling}"
            ));
        }
        let mut total: u128 = 0;
        let mut central_banks = 0;
        let mut earmarked_by_id: HashMap<EarmarkId, u128> = HashMap::new();
        for (id, entry) in &self.accounts {
            let account = &entry.value;
            if *id != account.id || account.authentication.account_id() != account.id {
                return Err(format!("account {id} is stored under the wrong id"));
            }
            if account.is_central_bank() {
                central_banks += 1;
                if account.id != global.central_bank
                    || !account.balance.is_zero()
                    || !account.earmarked.is_empty()
                {
                    return Err(
                        "the central bank account holds money or is not the registered one".into(),
                    );
                }
            }
            if !account
                .earmarked
                .windows(2)
                .all(|pair| pair[0].earmark < pair[1].earmark)
            {
                return Err(format!("earmarks of {id} are not sorted"));
            }
            total += u128::from(account.balance.tiyn());
            for holding in &account.earmarked {
                if holding.amount.is_zero() {
                    return Err(format!("{id} holds a zero earmark entry"));
                }
                match self.earmarks.get(&holding.earmark) {
                    Some(earmark) if earmark.value.holder == *id => {}
                    _ => {
                        return Err(format!(
                            "{id} holds earmark {} it is not the holder of",
                            holding.earmark
                        ));
                    }
                }
                *earmarked_by_id.entry(holding.earmark).or_default() +=
                    u128::from(holding.amount.tiyn());
                total += u128::from(holding.amount.tiyn());
            }
            if let tenge_types::Role::Wallet { bank, .. } = &account.role
                && !self
                    .accounts
                    .get(bank)
                    .is_some_and(|b| b.value.is_commercial_bank())
            {
                return Err(format!(
                    "wallet {id} belongs to {bank}, which is not a bank"
                ));
            }
        }
        let membership = &self.membership.value;
        if !membership
            .observers
            .windows(2)
            .all(|pair| pair[0].key < pair[1].key)
        {
            return Err("observers are not sorted by key, or one is listed twice".into());
        }
        if membership.observers.len() > Membership::MAX_OBSERVERS {
            return Err(format!("{} observers", membership.observers.len()));
        }
        if let Some(validator) = membership
            .validators
            .iter()
            .find(|validator| membership.observer(&validator.consensus_key).is_some())
        {
            return Err(format!(
                "validator {} is also listed as an observer",
                validator.name
            ));
        }
        // Epoch ends rise (D80): one block ends at most one epoch.
        let ends = &membership.epoch_ends;
        if !ends.windows(2).all(|pair| pair[0] < pair[1]) {
            return Err(format!("epoch ends {ends:?} do not rise"));
        }
        if central_banks != 1 {
            return Err(format!("{central_banks} central bank accounts, expected 1"));
        }
        if total != u128::from(outstanding.tiyn()) {
            return Err(format!(
                "sum of balances {total} tiyn differs from issued minus redeemed {outstanding}"
            ));
        }
        for (id, earmark) in &self.earmarks {
            let held = earmarked_by_id.get(id).copied().unwrap_or(0);
            if held > u128::from(earmark.value.original_amount.tiyn()) {
                return Err(format!("earmark {id} holds more than was earmarked"));
            }
        }
        let rebuilt = SlotTree::from_leaves(self.leaves());
        let index = AccountIndex::from_leaves(index_leaves(&self.accounts));
        if index.len() != self.index.len() || index.root() != self.index.root() {
            return Err("account index does not match the accounts".into());
        }
        if state_root(&rebuilt.root(), self.next_slot, &index.root()) != self.root {
            return Err("state tree does not match the entries".into());
        }
        Ok(())
    }

    fn leaves(&self) -> Vec<HashValue> {
        let mut leaves = vec![HashValue::ZERO; self.next_slot as usize];
        for entry in self.entries() {
            leaves[entry.slot as usize] = leaf_hash(&entry.value);
        }
        leaves
    }
}

fn index_leaves(accounts: &HashMap<AccountId, Slotted<Account>>) -> Vec<AccountIndexLeaf> {
    accounts
        .iter()
        .map(|(id, entry)| AccountIndexLeaf {
            id: *id,
            slot: entry.slot,
        })
        .collect()
}

/// Committed state plus the deltas of uncommitted ancestors, oldest first.
pub struct LayeredView<'a> {
    pub base: &'a CommittedState,
    pub deltas: &'a [&'a StateDelta],
}

impl<'a> LayeredView<'a> {
    pub fn new(base: &'a CommittedState, deltas: &'a [&'a StateDelta]) -> LayeredView<'a> {
        let mut root = base.root;
        for delta in deltas {
            assert_eq!(delta.parent_root, root, "ancestor deltas do not chain");
            root = delta.state_root;
        }
        LayeredView { base, deltas }
    }

    pub fn root(&self) -> HashValue {
        self.deltas
            .last()
            .map_or(self.base.root, |delta| delta.state_root)
    }

    pub fn next_slot(&self) -> u64 {
        self.deltas
            .last()
            .map_or(self.base.next_slot, |delta| delta.next_slot)
    }

    /// The account index's root with `created` (accounts created by the block being executed)
    /// added to the accounts the uncommitted ancestors created. Transfers create none: then this
    /// is the parent's root at the cost of nothing.
    pub fn account_index_root_with(&self, created: &[AccountIndexLeaf]) -> HashValue {
        let ancestors_created: usize = self.deltas.iter().map(|d| d.created_accounts.len()).sum();
        if created.is_empty() {
            return self
                .deltas
                .last()
                .map_or_else(|| self.base.index.root(), |delta| delta.account_index_root);
        }
        let mut all = Vec::with_capacity(ancestors_created + created.len());
        for delta in self.deltas {
            all.extend_from_slice(&delta.created_accounts);
        }
        all.extend_from_slice(created);
        self.base.index.root_with(&all)
    }

    fn lookup(&self, key: &StateKey) -> Option<&'a Slotted<StateValue>> {
        self.deltas.iter().rev().find_map(|delta| delta.get(key))
    }

    /// The slot of an entry, if it exists.
    pub fn slot(&self, key: &StateKey) -> Option<u64> {
        if let Some(entry) = self.lookup(key) {
            return Some(entry.slot);
        }
        match key {
            StateKey::Global => Some(self.base.global.slot),
            StateKey::Policy => Some(self.base.policy.slot),
            StateKey::Membership => Some(self.base.membership.slot),
            StateKey::Account(id) => self.base.accounts.get(id).map(|e| e.slot),
            StateKey::Earmark(id) => self.base.earmarks.get(id).map(|e| e.slot),
        }
    }
}

impl StateView for LayeredView<'_> {
    fn account(&self, id: &AccountId) -> Option<&Account> {
        match self.lookup(&StateKey::Account(*id)) {
            Some(Slotted {
                value: StateValue::Account(account),
                ..
            }) => Some(account),
            Some(_) => unreachable!("account key holds another kind of value"),
            None => self.base.account(id),
        }
    }

    fn earmark(&self, id: &EarmarkId) -> Option<&Earmark> {
        match self.lookup(&StateKey::Earmark(*id)) {
            Some(Slotted {
                value: StateValue::Earmark(earmark),
                ..
            }) => Some(earmark),
            Some(_) => unreachable!("earmark key holds another kind of value"),
            None => self.base.earmark(id),
        }
    }

    fn global(&self) -> &GlobalState {
        match self.lookup(&StateKey::Global) {
            Some(Slotted {
                value: StateValue::Global(global),
                ..
            }) => global,
            Some(_) => unreachable!("global key holds another kind of value"),
            None => &self.base.global.value,
        }
    }

    fn policy(&self) -> &PolicyState {
        match self.lookup(&StateKey::Policy) {
            Some(Slotted {
                value: StateValue::Policy(policy),
                ..
            }) => policy,
            Some(_) => unreachable!("policy key holds another kind of value"),
            None => &self.base.policy.value,
        }
    }

    fn membership(&self) -> &Membership {
        match self.lookup(&StateKey::Membership) {
            Some(Slotted {
                value: StateValue::Membership(membership),
                ..
            }) => membership,
            Some(_) => unreachable!("membership key holds another kind of value"),
            None => &self.base.membership.value,
        }
    }
}

impl NodeSource for LayeredView<'_> {
    fn node(&self, level: usize, index: u64) -> HashValue {
        let position = (level as u8, index);
        self.deltas
            .iter()
            .rev()
            .find_map(|delta| delta.nodes.get(&position).copied())
            .unwrap_or_else(|| self.base.tree.node(level, index))
    }
}

/// Total money (ordinary and earmarked) of an account, as a wide integer for invariant sums.
pub(crate) fn total_tiyn(account: &Account) -> i128 {
    i128::from(account.balance.tiyn())
        + account
            .earmarked
            .iter()
            .map(|holding| i128::from(holding.amount.tiyn()))
            .sum::<i128>()
}

pub(crate) fn amount_delta(after: Amount, before: Amount) -> i128 {
    i128::from(after.tiyn()) - i128::from(before.tiyn())
}

pub(crate) use tree::MAX_SLOTS;
