//! Ledger state records: accounts, earmarks and the global counters. These are what the state
//! root commits to and what the database and the API hold.

use serde::{Deserialize, Serialize};

use crate::amount::Amount;
use crate::codec::encode;
use crate::genesis::GenesisValidator;
use crate::hash::Domain;
use crate::ids::{AccountId, EarmarkId, Height, PublicKey, TimestampMs};
use crate::policy::PolicyState;

/// A k-of-m signing policy, e.g. the central bank's officers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultisigPolicy {
    pub threshold: u8,
    /// Sorted, no repeats.
    pub keys: Vec<PublicKey>,
}

impl MultisigPolicy {
    pub const MAX_KEYS: usize = 16;

    /// A policy with sorted keys, or why it cannot be one.
    pub fn new(threshold: u8, mut keys: Vec<PublicKey>) -> Result<MultisigPolicy, String> {
        keys.sort();
        let policy = MultisigPolicy { threshold, keys };
        policy.validate()?;
        Ok(policy)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.keys.is_empty() || self.keys.len() > Self::MAX_KEYS {
            return Err(format!(
                "a multisig policy needs 1 to {} keys, not {}",
                Self::MAX_KEYS,
                self.keys.len()
            ));
        }
        if !self.keys.windows(2).all(|pair| pair[0] < pair[1]) {
            return Err("multisig keys must be sorted with no repeats".into());
        }
        if self.threshold == 0 || usize::from(self.threshold) > self.keys.len() {
            return Err(format!(
                "threshold {} is not between 1 and the {} keys",
                self.threshold,
                self.keys.len()
            ));
        }
        Ok(())
    }

    /// The account id of this policy.
    pub fn account_id(&self) -> AccountId {
        AccountId(Domain::Multisig.hash(&encode(self)).0)
    }
}

/// Who may sign for an account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Authentication {
    Key(PublicKey),
    Multisig(MultisigPolicy),
}

impl Authentication {
    pub fn account_id(&self) -> AccountId {
        match self {
            Authentication::Key(key) => AccountId::for_key(key),
            Authentication::Multisig(policy) => policy.account_id(),
        }
    }

    /// Signatures required.
    pub fn threshold(&self) -> usize {
        match self {
            Authentication::Key(_) => 1,
            Authentication::Multisig(policy) => usize::from(policy.threshold),
        }
    }

    pub fn allows(&self, key: &PublicKey) -> bool {
        match self {
            Authentication::Key(own) => own == key,
            Authentication::Multisig(policy) => policy.keys.binary_search(key).is_ok(),
        }
    }
}

/// What an account is allowed to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// The issuer. Exactly one, created at genesis, signs with its officers' multisig.
    CentralBank,
    /// A commercial bank: receives issuance, redeems, opens wallets.
    CommercialBank { name: String },
    /// A customer wallet opened by a bank, with the bank's KYC tier.
    Wallet { bank: AccountId, tier: u8 },
}

impl Role {
    pub fn name(&self) -> &'static str {
        match self {
            Role::CentralBank => "central_bank",
            Role::CommercialBank { .. } => "commercial_bank",
            Role::Wallet { .. } => "wallet",
        }
    }
}

/// Earmarked money of one earmark held by an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EarmarkHolding {
    pub earmark: EarmarkId,
    pub amount: Amount,
}

/// Usage of a limit within one period (an epoch or a day).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodUsage {
    pub period: u64,
    pub used: Amount,
}

impl PeriodUsage {
    /// Usage so far in `period`: zero if the record is of an earlier period.
    pub fn in_period(&self, period: u64) -> Amount {
        if self.period == period {
            self.used
        } else {
            Amount::ZERO
        }
    }
}

/// Who placed a freeze. Ordered by authority: a freeze may be lifted, or taken over, only by its
/// own authority or a higher one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum FreezeAuthority {
    /// The wallet's commercial bank (anti-money-laundering holds on its own wallets).
    CommercialBank,
    /// The central bank, by k-of-m officers (court orders, sanctions).
    CentralBank,
}

impl FreezeAuthority {
    pub const fn as_str(self) -> &'static str {
        match self {
            FreezeAuthority::CommercialBank => "commercial_bank",
            FreezeAuthority::CentralBank => "central_bank",
        }
    }
}

/// An account on the ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub authentication: Authentication,
    pub role: Role,
    /// The sequence number the next transaction from this account must carry.
    pub sequence: u64,
    /// Ordinary money.
    pub balance: Amount,
    /// Earmarked money, by earmark, sorted by earmark id, no zero entries.
    pub earmarked: Vec<EarmarkHolding>,
    /// Who froze the account, if it is frozen: the freeze can be lifted only by that authority
    /// or a higher one (security review M3).
    pub frozen: Option<FreezeAuthority>,
    /// Wallets: outflow in the current UTC day of block time.
    pub daily_outflow: PeriodUsage,
    /// Commercial banks: issuance received in the current epoch.
    pub epoch_issuance: PeriodUsage,
    pub created_at: Height,
}

impl Account {
    pub const MAX_EARMARKS: usize = 64;
    /// Of those, how many earmarks from anyone but the central bank an account may hold: the
    /// other slots are kept for the central bank's earmarked issuance.
    pub const MAX_EARMARKS_FROM_OTHERS: usize = 48;

    pub fn new(authentication: Authentication, role: Role, created_at: Height) -> Account {
        Account {
            id: authentication.account_id(),
            authentication,
            role,
            sequence: 0,
            balance: Amount::ZERO,
            earmarked: Vec::new(),
            frozen: None,
            daily_outflow: PeriodUsage::default(),
            epoch_issuance: PeriodUsage::default(),
            created_at,
        }
    }

    /// Earmarked money over all earmarks. Cannot overflow: the ledger keeps every account's
    /// total below the supply, which is a `u64`.
    pub fn earmarked_total(&self) -> Amount {
        self.earmarked
            .iter()
            .try_fold(Amount::ZERO, |sum, holding| sum.checked_add(holding.amount))
            .expect("earmarked total exceeds u64: ledger invariant broken")
    }

    /// Ordinary plus earmarked money.
    pub fn total_balance(&self) -> Option<Amount> {
        self.balance.checked_add(self.earmarked_total())
    }

    pub fn earmarked_in(&self, earmark: &EarmarkId) -> Amount {
        match self.earmarked.binary_search_by(|h| h.earmark.cmp(earmark)) {
            Ok(index) => self.earmarked[index].amount,
            Err(_) => Amount::ZERO,
        }
    }

    pub fn is_frozen(&self) -> bool {
        self.frozen.is_some()
    }

    pub fn is_central_bank(&self) -> bool {
        matches!(self.role, Role::CentralBank)
    }

    pub fn is_commercial_bank(&self) -> bool {
        matches!(self.role, Role::CommercialBank { .. })
    }

    pub fn wallet_tier(&self) -> Option<u8> {
        match self.role {
            Role::Wallet { tier, .. } => Some(tier),
            _ => None,
        }
    }
}

/// The purpose and the approved payees of earmarked money.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EarmarkTerms {
    /// What the money is for, e.g. `school-meals-2027/almaty`. 1 to 128 bytes of UTF-8.
    pub purpose: String,
    /// Who may receive it: 1 to 64 accounts, sorted, no repeats.
    pub approved_payees: Vec<AccountId>,
}

impl EarmarkTerms {
    pub const MAX_PURPOSE_BYTES: usize = 128;
    pub const MAX_PAYEES: usize = 64;

    pub fn validate(&self) -> Result<(), String> {
        if self.purpose.is_empty() || self.purpose.len() > Self::MAX_PURPOSE_BYTES {
            return Err(format!(
                "purpose must be 1 to {} bytes, not {}",
                Self::MAX_PURPOSE_BYTES,
                self.purpose.len()
            ));
        }
        if self.purpose.chars().any(char::is_control) {
            return Err("purpose must not contain control characters".into());
        }
        if self.approved_payees.is_empty() || self.approved_payees.len() > Self::MAX_PAYEES {
            return Err(format!(
                "approved payees must number 1 to {}, not {}",
                Self::MAX_PAYEES,
                self.approved_payees.len()
            ));
        }
        if !self
            .approved_payees
            .windows(2)
            .all(|pair| pair[0] < pair[1])
        {
            return Err("approved payees must be sorted with no repeats".into());
        }
        Ok(())
    }

    pub fn approves(&self, payee: &AccountId) -> bool {
        self.approved_payees.binary_search(payee).is_ok()
    }
}

/// An earmark: created by an earmarked issuance or transfer, held by one account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Earmark {
    pub id: EarmarkId,
    pub terms: EarmarkTerms,
    /// Who put the money under the earmark.
    pub funder: AccountId,
    /// Who holds it and may pay it out to the approved payees.
    pub holder: AccountId,
    /// The amount originally earmarked.
    pub original_amount: Amount,
    pub created_at: Height,
}

/// Ledger-wide counters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalState {
    pub central_bank: AccountId,
    /// Block time of genesis: epochs count from here.
    pub genesis_time: TimestampMs,
    /// Everything ever issued.
    pub issued: Amount,
    /// Everything ever redeemed.
    pub redeemed: Amount,
    /// Issuance in the current epoch.
    pub epoch_issuance: PeriodUsage,
}

impl GlobalState {
    /// Money in circulation: issued minus redeemed.
    pub fn outstanding(&self) -> Amount {
        self.issued
            .checked_sub(self.redeemed)
            .expect("redeemed exceeds issued: ledger invariant broken")
    }
}

/// An observer node admitted on chain (a commercial bank's): its network key and a name for
/// people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObserverEntry {
    pub key: PublicKey,
    pub name: String,
}

/// Who takes part in the network: the validator set and the observers admitted on chain, sorted
/// by key. Validators let an admitted observer's key connect from the block that commits its
/// admission, and drop it when its removal commits (D75).
///
/// `validators` is the set of the current epoch: the genesis set at epoch 0, then the set after
/// each reconfiguration. A block whose execution changes it ends its epoch; the next epoch, with
/// this set, starts when that block commits (D80). `epoch_ends` holds the height of every block
/// that ended an epoch, oldest first: the epoch is their count, a second reconfiguration in the
/// block of the last one is refused (one change per epoch, D70), a node finds where its epoch
/// and the one before started, and a proof bundle carries the chain of epoch ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub validators: Vec<GenesisValidator>,
    pub observers: Vec<ObserverEntry>,
    pub epoch_ends: Vec<crate::Height>,
}

impl Membership {
    /// The current epoch: one more than at genesis for each change committed.
    pub fn epoch(&self) -> u64 {
        self.epoch_ends.len() as u64
    }

    /// The height of the block that made the last change (genesis if none).
    pub fn changed_at(&self) -> crate::Height {
        self.epoch_ends
            .last()
            .copied()
            .unwrap_or(crate::Height::GENESIS)
    }

    /// The most observers the chain admits: the entry is read and written whole.
    pub const MAX_OBSERVERS: usize = 512;
    /// The fewest validators a reconfiguration may leave: 3f + 1 with f = 1, the smallest set
    /// that tolerates one fault.
    pub const MIN_VALIDATORS: usize = 4;

    pub fn observer(&self, key: &PublicKey) -> Option<&ObserverEntry> {
        self.observers
            .binary_search_by(|entry| entry.key.cmp(key))
            .ok()
            .map(|index| &self.observers[index])
    }

    /// Whether a validator or an admitted observer already uses `key`.
    pub fn uses_key(&self, key: &PublicKey) -> bool {
        self.observer(key).is_some()
            || self
                .validators
                .iter()
                .any(|validator| validator.consensus_key == *key)
    }

    /// Adds an observer in key order. `false` if the key is already an observer's.
    pub fn insert_observer(&mut self, entry: ObserverEntry) -> bool {
        match self
            .observers
            .binary_search_by(|other| other.key.cmp(&entry.key))
        {
            Ok(_) => false,
            Err(index) => {
                self.observers.insert(index, entry);
                true
            }
        }
    }

    /// The validator named `name`, with its index in the set.
    pub fn validator(&self, name: &str) -> Option<(usize, &GenesisValidator)> {
        self.validators
            .iter()
            .enumerate()
            .find(|(_, validator)| validator.name == name)
    }

    /// Removes an observer. `false` if no observer has the key.
    pub fn remove_observer(&mut self, key: &PublicKey) -> bool {
        match self.observers.binary_search_by(|other| other.key.cmp(key)) {
            Ok(index) => {
                self.observers.remove(index);
                true
            }
            Err(_) => false,
        }
    }
}

/// A state entry and its slot in the state tree (see `tenge-ledger`'s `tree`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slotted<T> {
    pub slot: u64,
    pub value: T,
}

/// The key of one entry of ledger state; the state root commits to every entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum StateKey {
    Global,
    Policy,
    Account(AccountId),
    Earmark(EarmarkId),
    Membership,
}

/// The value of one entry of ledger state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StateValue {
    Global(GlobalState),
    Policy(PolicyState),
    Account(Account),
    Earmark(Earmark),
    Membership(Membership),
}

impl StateValue {
    pub fn key(&self) -> StateKey {
        match self {
            StateValue::Global(_) => StateKey::Global,
            StateValue::Policy(_) => StateKey::Policy,
            StateValue::Account(account) => StateKey::Account(account.id),
            StateValue::Earmark(earmark) => StateKey::Earmark(earmark.id),
            StateValue::Membership(_) => StateKey::Membership,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multisig_keys_are_sorted_and_thresholds_checked() {
        let keys = vec![PublicKey([3; 32]), PublicKey([1; 32]), PublicKey([2; 32])];
        let policy = MultisigPolicy::new(2, keys.clone()).unwrap();
        assert!(policy.keys.windows(2).all(|p| p[0] < p[1]));
        assert!(MultisigPolicy::new(0, keys.clone()).is_err());
        assert!(MultisigPolicy::new(4, keys.clone()).is_err());
        assert!(MultisigPolicy::new(1, vec![PublicKey([1; 32]); 2]).is_err());
        assert!(MultisigPolicy::new(1, vec![]).is_err());
        let reordered = MultisigPolicy::new(2, keys.into_iter().rev().collect()).unwrap();
        assert_eq!(policy.account_id(), reordered.account_id());
        let auth = Authentication::Multisig(policy);
        assert!(auth.allows(&PublicKey([2; 32])));
        assert!(!auth.allows(&PublicKey([9; 32])));
        assert_eq!(auth.threshold(), 2);
    }

    #[test]
    fn key_and_multisig_accounts_differ() {
        let key = PublicKey([1; 32]);
        let single = Authentication::Key(key).account_id();
        let multi = Authentication::Multisig(MultisigPolicy::new(1, vec![key]).unwrap());
        assert_ne!(single, multi.account_id());
    }

    #[test]
    fn earmark_terms_validation() {
        let terms = |purpose: &str, payees: Vec<AccountId>| EarmarkTerms {
            purpose: purpose.into(),
            approved_payees: payees,
        };
        assert!(terms("roads", vec![AccountId([1; 32])]).validate().is_ok());
        assert!(terms("", vec![AccountId([1; 32])]).validate().is_err());
        assert!(
            terms(&"x".repeat(129), vec![AccountId([1; 32])])
                .validate()
                .is_err()
        );
        assert!(terms("a\nb", vec![AccountId([1; 32])]).validate().is_err());
        assert!(terms("roads", vec![]).validate().is_err());
        assert!(
            terms("roads", vec![AccountId([2; 32]), AccountId([1; 32])])
                .validate()
                .is_err()
        );
    }

    #[test]
    fn period_usage_resets_in_a_new_period() {
        let usage = PeriodUsage {
            period: 4,
            used: Amount::from_tiyn(10),
        };
        assert_eq!(usage.in_period(4), Amount::from_tiyn(10));
        assert_eq!(usage.in_period(5), Amount::ZERO);
    }
}
