//! The central bank's monetary policy: pure, deterministic rule checks.
//!
//! [`check`] answers one question: may this (already authenticated) transaction happen in this
//! state, in a block at this height and consensus time? It reads state through [`StateView`],
//! never a clock, never I/O, and returns the rule it breaks as a [`Rejection`] with a stable code.
//! `tenge-ledger` applies what [`check`] allows, so every limit holds in every committed state
//! whoever proposed the block: validators refuse to vote for a block whose execution they cannot
//! reproduce, and they produce these same rejections.

use tenge_types::policy::DAY_MS;
use tenge_types::transaction::{
    AddObserver, AddValidator, Freeze, Issue, IssueEarmarked, OpenWallet, Redeem, RegisterBank,
    RemoveObserver, RemoveValidator, RotateValidatorKey, SetPolicy, SpendEarmarked, Transfer,
    TransferEarmarked, Unfreeze,
};
use tenge_types::{
    Account, AccountId, Amount, Earmark, EarmarkId, EarmarkTerms, FreezeAuthority, GlobalState,
    Height, Membership, Payload, PolicyParams, PolicyState, Rejection, RejectionCode, Role,
    TimestampMs, Transaction,
};

/// How far ahead of the current height a policy change may be scheduled (about 115 days at one
/// block a second).
pub const MAX_POLICY_LEAD_BLOCKS: u64 = 10_000_000;

/// Where and when a block executes. Consensus time is the only time policy knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockContext {
    pub height: Height,
    pub timestamp: TimestampMs,
}

/// Read access to ledger state.
pub trait StateView {
    fn account(&self, id: &AccountId) -> Option<&Account>;
    fn earmark(&self, id: &EarmarkId) -> Option<&Earmark>;
    fn global(&self) -> &GlobalState;
    fn policy(&self) -> &PolicyState;
    fn membership(&self) -> &Membership;
}

/// The issuance epoch a block belongs to under `params`.
pub fn epoch_of(params: &PolicyParams, global: &GlobalState, timestamp: TimestampMs) -> u64 {
    params.epoch_at(global.genesis_time, timestamp)
}

/// The UTC day of block time a block belongs to, for daily wallet limits.
pub fn day_of(timestamp: TimestampMs) -> u64 {
    timestamp.0 / DAY_MS
}

/// Checks every monetary-policy and balance rule for `tx`, sent by `sender` (whose signatures
/// and sequence number the ledger has already checked).
pub fn check(
    view: &impl StateView,
    context: &BlockContext,
    sender: &Account,
    tx: &Transaction,
) -> Result<(), Rejection> {
    debug_assert_eq!(sender.id, tx.sender);
    let rules = Rules {
        view,
        context,
        params: &view.policy().active_at(context.height).params,
        sender,
    };
    if sender.is_frozen() {
        return Err(Rejection::new(
            RejectionCode::SenderFrozen,
            format!("sender {} is frozen", sender.id),
        ));
    }
    match &tx.payload {
        Payload::Issue(issue) => rules.issue(issue),
        Payload::IssueEarmarked(issue) => rules.issue_earmarked(issue),
        Payload::Redeem(redeem) => rules.redeem(redeem),
        Payload::Transfer(transfer) => rules.transfer(transfer),
        Payload::TransferEarmarked(transfer) => rules.transfer_earmarked(transfer),
        Payload::SpendEarmarked(spend) => rules.spend_earmarked(spend),
        Payload::RegisterBank(register) => rules.register_bank(register),
        Payload::OpenWallet(open) => rules.open_wallet(open),
        Payload::Freeze(Freeze { account, .. }) => rules.freeze(account, true),
        Payload::Unfreeze(Unfreeze { account, .. }) => rules.freeze(account, false),
        Payload::SetPolicy(set) => rules.set_policy(set),
        Payload::AddObserver(add) => rules.add_observer(add),
        Payload::RemoveObserver(remove) => rules.remove_observer(remove),
        Payload::AddValidator(add) => rules.add_validator(add),
        Payload::RemoveValidator(remove) => rules.remove_validator(remove),
        Payload::RotateValidatorKey(rotate) => rules.rotate_validator_key(rotate),
    }
}

struct Rules<'a, V> {
    view: &'a V,
    context: &'a BlockContext,
    params: &'a PolicyParams,
    sender: &'a Account,
}

impl<V: StateView> Rules<'_, V> {
    fn require_central_bank(&self) -> Result<(), Rejection> {
        if self.sender.is_central_bank() {
            Ok(())
        } else {
            Err(Rejection::new(
                RejectionCode::NotCentralBank,
                format!(
                    "only the central bank may do this; sender is a {}",
                    self.sender.role.name()
                ),
            ))
        }
    }

    fn require_commercial_bank(&self) -> Result<(), Rejection> {
        if self.sender.is_commercial_bank() {
            Ok(())
        } else {
            Err(Rejection::new(
                RejectionCode::NotCommercialBank,
                format!(
                    "only a commercial bank may do this; sender is a {}",
                    self.sender.role.name()
                ),
            ))
        }
    }

    fn require_not_central_bank(&self) -> Result<(), Rejection> {
        if self.sender.is_central_bank() {
            Err(Rejection::new(
                RejectionCode::CentralBankCannotDoThis,
                "the central bank holds no money: it issues to banks and banks redeem",
            ))
        } else {
            Ok(())
        }
    }

    fn require_positive(amount: Amount) -> Result<(), Rejection> {
        if amount.is_zero() {
            Err(Rejection::new(
                RejectionCode::ZeroAmount,
                "amount must be above zero",
            ))
        } else {
            Ok(())
        }
    }

    /// The recipient of money: exists, is not the sender, not the central bank, not frozen.
    fn recipient(&self, to: &AccountId) -> Result<&Account, Rejection> {
        let recipient = self.view.account(to).ok_or_else(|| {
            Rejection::new(
                RejectionCode::UnknownRecipient,
                format!("recipient {to} does not exist"),
            )
        })?;
        if recipient.id == self.sender.id {
            return Err(Rejection::new(
                RejectionCode::SelfTransfer,
                "sender and recipient are the same account",
            ));
        }
        if recipient.is_central_bank() {
            return Err(Rejection::new(
                RejectionCode::RecipientIsCentralBank,
                "the central bank holds no money; banks return money by redeeming",
            ));
        }
        if recipient.is_frozen() {
            return Err(Rejection::new(
                RejectionCode::RecipientFrozen,
                format!("recipient {to} is frozen"),
            ));
        }
        Ok(recipient)
    }

    /// Adding `amount` to the recipient: no overflow, and a wallet stays under its holding limit.
    fn check_credit(&self, recipient: &Account, amount: Amount) -> Result<(), Rejection> {
        // Cannot overflow: the recipient's money plus the amount is at most the outstanding
        // supply (the amount comes from another account, or passed the ceiling check).
        let after = recipient
            .total_balance()
            .and_then(|total| total.checked_add(amount))
            .expect("a balance above the total supply: ledger invariant broken");
        if let Some(tier) = recipient.wallet_tier() {
            let limits = self.tier_limits(tier)?;
            if after > limits.holding_limit {
                return Err(Rejection::new(
                    RejectionCode::WalletHoldingLimitExceeded,
                    format!(
                        "recipient wallet (tier {tier}) would hold {after}; its limit is {}",
                        limits.holding_limit
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Money leaving the sender: a wallet respects its per-transaction and daily limits.
    fn check_outflow(&self, amount: Amount) -> Result<(), Rejection> {
        let Some(tier) = self.sender.wallet_tier() else {
            return Ok(());
        };
        let limits = self.tier_limits(tier)?;
        if amount > limits.per_transaction_limit {
            return Err(Rejection::new(
                RejectionCode::WalletTransactionLimitExceeded,
                format!(
                    "{amount} is above the tier {tier} limit of {} per transaction",
                    limits.per_transaction_limit
                ),
            ));
        }
        let today = day_of(self.context.timestamp);
        let spent = self.sender.daily_outflow.in_period(today);
        let after = spent.checked_add(amount);
        if after.is_none_or(|after| after > limits.daily_outflow_limit) {
            return Err(Rejection::new(
                RejectionCode::WalletDailyOutflowLimitExceeded,
                format!(
                    "sent {spent} today; {amount} more exceeds the tier {tier} daily limit of {}",
                    limits.daily_outflow_limit
                ),
            ));
        }
        Ok(())
    }

    fn tier_limits(&self, tier: u8) -> Result<&tenge_types::WalletTierLimits, Rejection> {
        self.params.tier(tier).ok_or_else(|| {
            Rejection::new(
                RejectionCode::UnknownWalletTier,
                format!(
                    "wallet tier {tier} is not defined; the policy in force has tiers 1 to {}",
                    self.params.wallet_tiers.len()
                ),
            )
        })
    }

    fn check_ordinary_funds(&self, amount: Amount) -> Result<(), Rejection> {
        if self.sender.balance < amount {
            return Err(Rejection::new(
                RejectionCode::InsufficientFunds,
                format!("balance {} is below {amount}", self.sender.balance),
            ));
        }
        Ok(())
    }

    /// New money: ceiling, epoch cap, and the quota of the bank that receives it (a wallet's
    /// issuance counts against the bank that opened it).
    fn check_issuance(&self, recipient: &Account, amount: Amount) -> Result<(), Rejection> {
        let global = self.view.global();
        let outstanding = global.outstanding();
        // The lowest ceiling in force now or already scheduled: issuance today must not leave
        // supply above a ceiling that takes effect tomorrow.
        let ceiling = self
            .view
            .policy()
            .history
            .iter()
            .filter(|change| change.effective_height > self.context.height)
            .map(|change| change.params.supply_ceiling)
            .fold(self.params.supply_ceiling, Amount::min);
        if outstanding
            .checked_add(amount)
            .is_none_or(|after| after > ceiling)
        {
            return Err(Rejection::new(
                RejectionCode::SupplyCeilingExceeded,
                format!(
                    "outstanding supply {outstanding} plus {amount} exceeds the ceiling {ceiling}"
                ),
            ));
        }
        let epoch = epoch_of(self.params, global, self.context.timestamp);
        let issued = global.epoch_issuance.in_period(epoch);
        let cap = self.params.issuance_cap_per_epoch;
        if issued.checked_add(amount).is_none_or(|after| after > cap) {
            return Err(Rejection::new(
                RejectionCode::IssuanceExceedsEpochCap,
                format!(
                    "issued {issued} in epoch {epoch}; {amount} more exceeds the epoch cap {cap}"
                ),
            ));
        }
        let bank = match &recipient.role {
            Role::CommercialBank { .. } => recipient,
            Role::Wallet { bank, .. } => self
                .view
                .account(bank)
                .expect("a wallet's bank always exists: banks are never removed"),
            Role::CentralBank => unreachable!("recipient() refuses the central bank"),
        };
        let quota = self.params.bank_quota(&bank.id);
        let received = bank.epoch_issuance.in_period(epoch);
        if received
            .checked_add(amount)
            .is_none_or(|after| after > quota)
        {
            return Err(Rejection::new(
                RejectionCode::IssuanceExceedsBankQuota,
                format!(
                    "bank {} received {received} in epoch {epoch}; {amount} more exceeds its quota {quota}",
                    bank.id
                ),
            ));
        }
        Ok(())
    }

    fn check_new_earmark(
        &self,
        recipient: &Account,
        terms: &EarmarkTerms,
    ) -> Result<(), Rejection> {
        terms
            .validate()
            .map_err(|reason| Rejection::new(RejectionCode::InvalidEarmarkTerms, reason))?;
        // Security review M4: money earmarked for payees that do not exist could never be spent
        // or cleared, and would take one of the recipient's earmark slots for good.
        if let Some(missing) = terms
            .approved_payees
            .iter()
            .find(|payee| self.view.account(payee).is_none())
        {
            return Err(Rejection::new(
                RejectionCode::UnknownPayee,
                format!("approved payee {missing} does not exist"),
            ));
        }
        // Earmarks from banks and wallets may fill only part of an account's slots: the rest is
        // kept for the central bank's earmarked issuance (benefit payments), which unsolicited
        // earmarks must never be able to block (M4).
        if !self.sender.is_central_bank()
            && recipient.earmarked.len() >= Account::MAX_EARMARKS_FROM_OTHERS
        {
            return Err(Rejection::new(
                RejectionCode::TooManyEarmarks,
                format!(
                    "recipient already holds {} earmarks; earmarks not from the central bank may \
                     fill {} of its {} slots",
                    recipient.earmarked.len(),
                    Account::MAX_EARMARKS_FROM_OTHERS,
                    Account::MAX_EARMARKS
                ),
            ));
        }
        if recipient.earmarked.len() >= Account::MAX_EARMARKS {
            return Err(Rejection::new(
                RejectionCode::TooManyEarmarks,
                format!(
                    "recipient already holds {} earmarks, the most allowed",
                    Account::MAX_EARMARKS
                ),
            ));
        }
        Ok(())
    }

    fn issue(&self, issue: &Issue) -> Result<(), Rejection> {
        self.require_central_bank()?;
        Self::require_positive(issue.amount)?;
        let recipient = self.recipient(&issue.to)?;
        if !recipient.is_commercial_bank() {
            return Err(Rejection::new(
                RejectionCode::RecipientNotCommercialBank,
                format!(
                    "issuance goes to commercial banks; {} is a {}",
                    issue.to,
                    recipient.role.name()
                ),
            ));
        }
        self.check_issuance(recipient, issue.amount)?;
        self.check_credit(recipient, issue.amount)
    }

    fn issue_earmarked(&self, issue: &IssueEarmarked) -> Result<(), Rejection> {
        self.require_central_bank()?;
        Self::require_positive(issue.amount)?;
        let recipient = self.recipient(&issue.to)?;
        self.check_new_earmark(recipient, &issue.terms)?;
        self.check_issuance(recipient, issue.amount)?;
        self.check_credit(recipient, issue.amount)
    }

    fn redeem(&self, redeem: &Redeem) -> Result<(), Rejection> {
        self.require_commercial_bank()?;
        Self::require_positive(redeem.amount)?;
        self.check_ordinary_funds(redeem.amount)
    }

    fn transfer(&self, transfer: &Transfer) -> Result<(), Rejection> {
        self.require_not_central_bank()?;
        Self::require_positive(transfer.amount)?;
        let recipient = self.recipient(&transfer.to)?;
        self.check_ordinary_funds(transfer.amount)?;
        self.check_outflow(transfer.amount)?;
        self.check_credit(recipient, transfer.amount)
    }

    fn transfer_earmarked(&self, transfer: &TransferEarmarked) -> Result<(), Rejection> {
        self.require_not_central_bank()?;
        Self::require_positive(transfer.amount)?;
        let recipient = self.recipient(&transfer.to)?;
        self.check_new_earmark(recipient, &transfer.terms)?;
        self.check_ordinary_funds(transfer.amount)?;
        self.check_outflow(transfer.amount)?;
        self.check_credit(recipient, transfer.amount)
    }

    fn spend_earmarked(&self, spend: &SpendEarmarked) -> Result<(), Rejection> {
        self.require_not_central_bank()?;
        Self::require_positive(spend.amount)?;
        let earmark = self
            .view
            .earmark(&spend.earmark)
            .filter(|earmark| earmark.holder == self.sender.id)
            .ok_or_else(|| {
                Rejection::new(
                    RejectionCode::UnknownEarmark,
                    format!("sender holds no earmark {}", spend.earmark),
                )
            })?;
        if !earmark.terms.approves(&spend.to) {
            return Err(Rejection::new(
                RejectionCode::PayeeNotApproved,
                format!(
                    "{} is not an approved payee of earmark `{}`",
                    spend.to, earmark.terms.purpose
                ),
            ));
        }
        let recipient = self.recipient(&spend.to)?;
        let held = self.sender.earmarked_in(&spend.earmark);
        if held < spend.amount {
            return Err(Rejection::new(
                RejectionCode::InsufficientEarmarkedFunds,
                format!(
                    "holds {held} under earmark `{}`, below {}",
                    earmark.terms.purpose, spend.amount
                ),
            ));
        }
        self.check_outflow(spend.amount)?;
        self.check_credit(recipient, spend.amount)
    }

    fn require_new_account(&self, id: &AccountId) -> Result<(), Rejection> {
        if self.view.account(id).is_some() {
            return Err(Rejection::new(
                RejectionCode::AccountAlreadyExists,
                format!("account {id} already exists"),
            ));
        }
        Ok(())
    }

    fn register_bank(&self, register: &RegisterBank) -> Result<(), Rejection> {
        self.require_central_bank()?;
        self.require_new_account(&AccountId::for_key(&register.key))
    }

    fn open_wallet(&self, open: &OpenWallet) -> Result<(), Rejection> {
        self.require_commercial_bank()?;
        self.tier_limits(open.tier)?;
        self.require_new_account(&AccountId::for_key(&open.key))
    }

    fn freeze(&self, target: &AccountId, freeze: bool) -> Result<(), Rejection> {
        let account = self.view.account(target).ok_or_else(|| {
            Rejection::new(
                RejectionCode::UnknownAccount,
                format!("account {target} does not exist"),
            )
        })?;
        if account.is_central_bank() {
            return Err(Rejection::new(
                RejectionCode::CentralBankCannotDoThis,
                "the central bank cannot be frozen",
            ));
        }
        match (&self.sender.role, &account.role) {
            (Role::CentralBank, _) => {}
            (Role::CommercialBank { .. }, Role::Wallet { bank, .. }) if *bank == self.sender.id => {
            }
            (Role::CommercialBank { .. }, _) => {
                return Err(Rejection::new(
                    RejectionCode::NotTheWalletsBank,
                    format!("a bank may freeze only wallets it opened; {target} is not one"),
                ));
            }
            (_, _) => self.require_central_bank()?,
        }
        let authority = freeze_authority(&self.sender.role);
        match (freeze, account.frozen) {
            // The central bank may take over a bank's freeze (then only it can lift it).
            (true, Some(placed)) if placed >= authority => Err(Rejection::new(
                RejectionCode::AlreadyFrozen,
                format!("{target} is already frozen by the {}", placed.as_str()),
            )),
            (true, _) => Ok(()),
            (false, None) => Err(Rejection::new(
                RejectionCode::NotFrozen,
                format!("{target} is not frozen"),
            )),
            (false, Some(placed)) if placed > authority => Err(Rejection::new(
                RejectionCode::FrozenByCentralBank,
                format!(
                    "{target} was frozen by the central bank; only the central bank may lift it"
                ),
            )),
            (false, Some(_)) => Ok(()),
        }
    }

    /// Issue 13: an observer's key may be no validator's and no other observer's, so that one
    /// network identity is one role; the list is bounded because the entry is read whole.
    fn add_observer(&self, add: &AddObserver) -> Result<(), Rejection> {
        self.require_central_bank()?;
        let membership = self.view.membership();
        if membership.uses_key(&add.key) {
            return Err(Rejection::new(
                RejectionCode::MemberKeyInUse,
                format!("key {} is already a validator's or an observer's", add.key),
            ));
        }
        if membership.observers.len() >= Membership::MAX_OBSERVERS {
            return Err(Rejection::new(
                RejectionCode::TooManyObservers,
                format!(
                    "the chain admits at most {} observers",
                    Membership::MAX_OBSERVERS
                ),
            ));
        }
        Ok(())
    }

    fn remove_observer(&self, remove: &RemoveObserver) -> Result<(), Rejection> {
        self.require_central_bank()?;
        if self.view.membership().observer(&remove.key).is_none() {
            return Err(Rejection::new(
                RejectionCode::UnknownObserver,
                format!("no observer admitted on chain has key {}", remove.key),
            ));
        }
        Ok(())
    }

    /// D70: one change of the validator set per epoch. The block that changes it ends its epoch,
    /// and the blocks above it until it commits carry no transactions (D77), so "not already in
    /// this block" is the whole rule. One validator per change keeps every change within f.
    fn require_reconfiguration_allowed(&self) -> Result<&Membership, Rejection> {
        self.require_central_bank()?;
        let membership = self.view.membership();
        if membership.changed_at() == self.context.height {
            return Err(Rejection::new(
                RejectionCode::ReconfigurationPending,
                format!(
                    "the validator set already changed in this block (epoch {}); one change per epoch",
                    membership.epoch()
                ),
            ));
        }
        Ok(membership)
    }

    fn require_validator(&self, membership: &Membership, name: &str) -> Result<(), Rejection> {
        match membership.validator(name) {
            Some(_) => Ok(()),
            None => Err(Rejection::new(
                RejectionCode::UnknownValidator,
                format!("no validator is named `{name}`"),
            )),
        }
    }

    fn require_unused_key(
        &self,
        membership: &Membership,
        key: &tenge_types::PublicKey,
    ) -> Result<(), Rejection> {
        if membership.uses_key(key) {
            return Err(Rejection::new(
                RejectionCode::MemberKeyInUse,
                format!("key {key} is already a validator's or an observer's"),
            ));
        }
        Ok(())
    }

    fn add_validator(&self, add: &AddValidator) -> Result<(), Rejection> {
        let membership = self.require_reconfiguration_allowed()?;
        let validator = &add.validator;
        self.require_unused_key(membership, &validator.consensus_key)?;
        if membership.validator(&validator.name).is_some() {
            return Err(Rejection::new(
                RejectionCode::ValidatorNameInUse,
                format!("a validator is already named `{}`", validator.name),
            ));
        }
        if membership.validators.len() >= tenge_types::Genesis::MAX_VALIDATORS {
            return Err(Rejection::new(
                RejectionCode::TooManyValidators,
                format!(
                    "the set already has {} validators, the most it may",
                    membership.validators.len()
                ),
            ));
        }
        Ok(())
    }

    fn remove_validator(&self, remove: &RemoveValidator) -> Result<(), Rejection> {
        let membership = self.require_reconfiguration_allowed()?;
        self.require_validator(membership, &remove.name)?;
        if membership.validators.len() <= Membership::MIN_VALIDATORS {
            return Err(Rejection::new(
                RejectionCode::TooFewValidators,
                format!(
                    "the set has {} validators; it may not shrink below {}",
                    membership.validators.len(),
                    Membership::MIN_VALIDATORS
                ),
            ));
        }
        Ok(())
    }

    fn rotate_validator_key(&self, rotate: &RotateValidatorKey) -> Result<(), Rejection> {
        let membership = self.require_reconfiguration_allowed()?;
        self.require_validator(membership, &rotate.name)?;
        self.require_unused_key(membership, &rotate.new_key)
    }

    fn set_policy(&self, set: &SetPolicy) -> Result<(), Rejection> {
        self.require_central_bank()?;
        set.params
            .validate()
            .map_err(|reason| Rejection::new(RejectionCode::InvalidPolicy, reason))?;
        let outstanding = self.view.global().outstanding();
        if set.params.supply_ceiling < outstanding {
            return Err(Rejection::new(
                RejectionCode::InvalidPolicy,
                format!(
                    "supply ceiling {} is below the outstanding supply {outstanding}",
                    set.params.supply_ceiling
                ),
            ));
        }
        let policy = self.view.policy();
        // Security review L8: dropping tiers would strand the wallets of those tiers (they could
        // neither send nor receive), so a change keeps at least the tiers scheduled last.
        let tiers_now = policy
            .history
            .last()
            .expect("policy history is never empty")
            .params
            .wallet_tiers
            .len();
        if set.params.wallet_tiers.len() < tiers_now {
            return Err(Rejection::new(
                RejectionCode::InvalidPolicy,
                format!(
                    "{} wallet tiers given; the policy has {tiers_now}, and dropping a tier would \
                     strand its wallets",
                    set.params.wallet_tiers.len()
                ),
            ));
        }
        let latest = policy.latest_scheduled_height();
        // Security review L8: a change scheduled at, say, u64::MAX would lock out every later
        // one (each must come after the latest scheduled).
        let furthest = self.context.height.0.saturating_add(MAX_POLICY_LEAD_BLOCKS);
        if set.effective_height.0 > furthest {
            return Err(Rejection::new(
                RejectionCode::PolicyNotInFuture,
                format!(
                    "effective height {} is more than {MAX_POLICY_LEAD_BLOCKS} blocks ahead of the \
                     current height {}",
                    set.effective_height, self.context.height
                ),
            ));
        }
        if set.effective_height <= self.context.height || set.effective_height < latest {
            return Err(Rejection::new(
                RejectionCode::PolicyNotInFuture,
                format!(
                    "effective height {} must be above the current height {} and not before the \
                     latest scheduled change at {latest}",
                    set.effective_height, self.context.height
                ),
            ));
        }
        if policy.history.len() >= PolicyState::MAX_HISTORY {
            return Err(Rejection::new(
                RejectionCode::PolicyHistoryFull,
                format!(
                    "policy history holds {} changes, the most allowed",
                    PolicyState::MAX_HISTORY
                ),
            ));
        }
        Ok(())
    }
}

/// The authority a freeze or unfreeze by `role` carries. Only the central bank and commercial
/// banks get this far (`freeze` refuses every other sender).
pub fn freeze_authority(role: &Role) -> FreezeAuthority {
    match role {
        Role::CentralBank => FreezeAuthority::CentralBank,
        _ => FreezeAuthority::CommercialBank,
    }
}
