//! Deterministic execution of a block's transactions on a state view.

use std::collections::HashMap;

use tenge_crypto::{AuthorizationError, SignatureItem, check_authorization, check_public_key};
use tenge_policy::{BlockContext, StateView, day_of, epoch_of};
use tenge_types::receipt::receipts_root;
use tenge_types::state::PeriodUsage;
use tenge_types::transaction::{
    AddObserver, AddValidator, Freeze, Issue, IssueEarmarked, OpenWallet, Redeem, RegisterBank,
    RemoveObserver, RemoveValidator, RotateValidatorKey, SetPolicy, SpendEarmarked, Transfer,
    TransferEarmarked, Unfreeze, proof_of_possession_message,
};
use tenge_types::{
    Account, AccountId, Amount, Authentication, ChainId, Earmark, EarmarkHolding, EarmarkId,
    GlobalState, HashValue, Membership, ObserverEntry, Payload, PolicyChange, PolicyState, Receipt,
    Rejection, RejectionCode, Role, SignedTransaction, Slotted, StateKey, StateValue,
};

use tenge_types::commitment::AccountIndexLeaf;

use crate::state::{LayeredView, MAX_SLOTS, StateDelta, amount_delta, leaf_hash, total_tiyn};
use crate::tree;

/// The result of executing a block: one receipt per transaction and the state delta.
#[derive(Clone, Debug)]
pub struct BlockExecution {
    pub receipts: Vec<Receipt>,
    pub receipts_root: HashValue,
    pub delta: StateDelta,
}

impl BlockExecution {
    pub fn state_root(&self) -> HashValue {
        self.delta.state_root
    }

    pub fn applied_count(&self) -> usize {
        self.receipts.iter().filter(|r| r.is_applied()).count()
    }
}

/// Verifies every signature of every transaction (batched, over `threads` threads) and returns,
/// per transaction, whether all its signatures are valid under the strict rule.
pub fn verify_signatures(transactions: &[SignedTransaction], threads: usize) -> Vec<bool> {
    let hashes: Vec<HashValue> = transactions.iter().map(SignedTransaction::hash).collect();
    verdicts(transactions, &hashes, threads)
}

/// One verdict per transaction: all its signatures over `hashes[i]` (its id) are valid.
fn verdicts(transactions: &[SignedTransaction], hashes: &[HashValue], threads: usize) -> Vec<bool> {
    let items: Vec<SignatureItem<'_>> = transactions
        .iter()
        .zip(hashes)
        .flat_map(|(tx, hash)| {
            tx.signatures.iter().map(move |signature| SignatureItem {
                message: hash,
                public_key: &signature.public_key,
                signature: &signature.signature,
            })
        })
        .collect();
    let results = tenge_crypto::verify_parallel(&items, threads);
    let mut offset = 0;
    transactions
        .iter()
        .map(|tx| {
            let count = tx.signatures.len();
            let valid = results[offset..offset + count].iter().all(|ok| *ok);
            offset += count;
            valid
        })
        .collect()
}

/// A transaction with its id, its digest (signatures included) and whether every signature is
/// valid: what [`check_transactions`] computes once, off the thread that executes blocks.
#[derive(Clone, Debug)]
pub struct CheckedTransaction {
    pub tx: SignedTransaction,
    pub hash: HashValue,
    pub digest: HashValue,
    pub valid: bool,
}

/// [`verify_signatures`] that also hands back each transaction's hash and digest, both taken
/// from one encoding.
pub fn check_transactions(
    transactions: Vec<SignedTransaction>,
    threads: usize,
) -> Vec<CheckedTransaction> {
    let (hashes, digests): (Vec<HashValue>, Vec<HashValue>) = transactions
        .iter()
        .map(SignedTransaction::hash_and_digest)
        .unzip();
    let valid = verdicts(&transactions, &hashes, threads);
    transactions
        .into_iter()
        .zip(hashes.into_iter().zip(digests))
        .zip(valid)
        .map(|((tx, (hash, digest)), valid)| CheckedTransaction {
            tx,
            hash,
            digest,
            valid,
        })
        .collect()
}

/// Executes `transactions` in order on `view`. `signatures_valid[i]` says whether every signature
/// of transaction `i` is valid (see [`verify_signatures`]); the caller may have learned it
/// earlier, e.g. on mempool entry. Deterministic: the same inputs give the same receipts and
/// the same delta on every machine.
pub fn execute(
    view: &LayeredView<'_>,
    chain_id: &ChainId,
    context: BlockContext,
    transactions: &[SignedTransaction],
    signatures_valid: &[bool],
) -> BlockExecution {
    assert_eq!(
        transactions.len(),
        signatures_valid.len(),
        "one signature verdict per transaction"
    );
    let mut working = Working {
        view,
        changes: HashMap::new(),
        next_slot: view.next_slot(),
    };
    let receipts: Vec<Receipt> = transactions
        .iter()
        .zip(signatures_valid)
        .map(|(tx, &valid)| {
            let hash = tx.hash();
            let outcome = working.apply(chain_id, &context, tx, valid, hash);
            Receipt {
                transaction: hash,
                outcome,
            }
        })
        .collect();
    working.check_invariants(&context);
    let receipts_root = receipts_root(&receipts);
    let delta = working.into_delta();
    BlockExecution {
        receipts,
        receipts_root,
        delta,
    }
}

/// The outcome `transaction` would have as the only transaction of a block at `context`,
/// without building the block's state delta (no tree hashing): the cheap check a node makes
/// before admitting a transaction to its mempool.
pub fn check(
    view: &LayeredView<'_>,
    chain_id: &ChainId,
    context: BlockContext,
    transaction: &SignedTransaction,
    signatures_valid: bool,
) -> Result<(), Rejection> {
    let mut working = Working {
        view,
        changes: HashMap::new(),
        next_slot: view.next_slot(),
    };
    working.apply(
        chain_id,
        &context,
        transaction,
        signatures_valid,
        transaction.hash(),
    )
}

/// Block-local changes on top of a view.
struct Working<'v, 'a> {
    view: &'v LayeredView<'a>,
    changes: HashMap<StateKey, Slotted<StateValue>>,
    next_slot: u64,
}

impl StateView for Working<'_, '_> {
    fn account(&self, id: &AccountId) -> Option<&Account> {
        match self.changes.get(&StateKey::Account(*id)) {
            Some(Slotted {
                value: StateValue::Account(account),
                ..
            }) => Some(account),
            Some(_) => unreachable!("account key holds another kind of value"),
            None => self.view.account(id),
        }
    }

    fn earmark(&self, id: &EarmarkId) -> Option<&Earmark> {
        match self.changes.get(&StateKey::Earmark(*id)) {
            Some(Slotted {
                value: StateValue::Earmark(earmark),
                ..
            }) => Some(earmark),
            Some(_) => unreachable!("earmark key holds another kind of value"),
            None => self.view.earmark(id),
        }
    }

    fn global(&self) -> &GlobalState {
        match self.changes.get(&StateKey::Global) {
            Some(Slotted {
                value: StateValue::Global(global),
                ..
            }) => global,
            Some(_) => unreachable!("global key holds another kind of value"),
            None => self.view.global(),
        }
    }

    fn policy(&self) -> &PolicyState {
        match self.changes.get(&StateKey::Policy) {
            Some(Slotted {
                value: StateValue::Policy(policy),
                ..
            }) => policy,
            Some(_) => unreachable!("policy key holds another kind of value"),
            None => self.view.policy(),
        }
    }

    fn membership(&self) -> &Membership {
        match self.changes.get(&StateKey::Membership) {
            Some(Slotted {
                value: StateValue::Membership(membership),
                ..
            }) => membership,
            Some(_) => unreachable!("membership key holds another kind of value"),
            None => self.view.membership(),
        }
    }
}

fn authorization_rejection(error: AuthorizationError) -> Rejection {
    let code = match error {
        AuthorizationError::SignerNotAuthorized(_) => RejectionCode::SignerNotAuthorized,
        AuthorizationError::DuplicateSigner(_) => RejectionCode::DuplicateSigner,
        AuthorizationError::NotEnoughSignatures { .. } => RejectionCode::NotEnoughSignatures,
        AuthorizationError::InvalidSignature => RejectionCode::InvalidSignature,
    };
    Rejection::new(code, error.to_string())
}

fn add(a: Amount, b: Amount) -> Amount {
    a.checked_add(b)
        .expect("policy admitted an overflowing credit: ledger invariant broken")
}

fn sub(a: Amount, b: Amount) -> Amount {
    a.checked_sub(b)
        .expect("policy admitted an overdraft: ledger invariant broken")
}

impl Working<'_, '_> {
    fn slot_for(&mut self, key: &StateKey) -> u64 {
        if let Some(entry) = self.changes.get(key) {
            return entry.slot;
        }
        if let Some(slot) = self.view.slot(key) {
            return slot;
        }
        let slot = self.next_slot;
        assert!(slot < MAX_SLOTS, "state is full");
        self.next_slot += 1;
        slot
    }

    fn put(&mut self, value: StateValue) {
        let key = value.key();
        let slot = self.slot_for(&key);
        self.changes.insert(key, Slotted { slot, value });
    }

    fn existing_account(&self, id: &AccountId) -> Account {
        self.account(id)
            .cloned()
            .expect("policy checked that the account exists")
    }

    fn apply(
        &mut self,
        chain_id: &ChainId,
        context: &BlockContext,
        signed: &SignedTransaction,
        signatures_valid: bool,
        hash: HashValue,
    ) -> Result<(), Rejection> {
        signed
            .check_structure()
            .map_err(|reason| Rejection::new(RejectionCode::MalformedTransaction, reason))?;
        let tx = &signed.transaction;
        if tx.chain_id != *chain_id {
            return Err(Rejection::new(
                RejectionCode::WrongChain,
                format!(
                    "transaction is for chain {}, this is {chain_id}",
                    tx.chain_id
                ),
            ));
        }
        // Expiry before anything about the sender: a replay after expiry is refused as expired.
        if context.timestamp > tx.expires_at_ms {
            return Err(Rejection::new(
                RejectionCode::TransactionExpired,
                format!(
                    "transaction expired at {} ms; the block time is {} ms",
                    tx.expires_at_ms.0, context.timestamp.0
                ),
            ));
        }
        let lifetime = self
            .policy()
            .active_at(context.height)
            .params
            .max_transaction_lifetime_ms;
        if tx.expires_at_ms.0 - context.timestamp.0 > lifetime {
            return Err(Rejection::new(
                RejectionCode::ExpiryTooFar,
                format!(
                    "transaction expires {} ms after the block time; the policy allows at most \
                     {lifetime} ms",
                    tx.expires_at_ms.0 - context.timestamp.0
                ),
            ));
        }
        let sender = self.account(&tx.sender).cloned().ok_or_else(|| {
            Rejection::new(
                RejectionCode::UnknownSender,
                format!("sender {} does not exist", tx.sender),
            )
        })?;
        if tx.sequence < sender.sequence {
            return Err(Rejection::new(
                RejectionCode::SequenceAlreadyUsed,
                format!(
                    "sequence {} was already used; the next is {}",
                    tx.sequence, sender.sequence
                ),
            ));
        }
        if tx.sequence > sender.sequence {
            return Err(Rejection::new(
                RejectionCode::SequenceTooHigh,
                format!(
                    "sequence {} skips ahead; the next is {}",
                    tx.sequence, sender.sequence
                ),
            ));
        }
        check_authorization(&sender.authentication, &signed.signatures, signatures_valid)
            .map_err(authorization_rejection)?;
        // From here on the sender has authorised this very transaction at its next sequence: a
        // rejection uses the sequence up, so that the same signed bytes can never apply later,
        // when the rule that refused them no longer does (security review M2). Rejections above
        // consume nothing: anyone could otherwise burn another account's sequence numbers.
        let checked = match &tx.payload {
            Payload::RegisterBank(RegisterBank { key, .. })
            | Payload::OpenWallet(OpenWallet { key, .. })
            | Payload::AddObserver(AddObserver { key, .. }) => check_public_key(key)
                .map_err(|error| Rejection::new(RejectionCode::WeakPublicKey, error.to_string())),
            Payload::AddValidator(AddValidator {
                validator,
                proof_of_possession,
            }) => check_new_validator_key(chain_id, &validator.consensus_key, proof_of_possession),
            Payload::RotateValidatorKey(RotateValidatorKey {
                new_key,
                proof_of_possession,
                ..
            }) => check_new_validator_key(chain_id, new_key, proof_of_possession),
            _ => Ok(()),
        }
        .and_then(|()| tenge_policy::check(self, context, &sender, tx));
        if let Err(rejection) = checked {
            debug_assert!(rejection.code.consumes_sequence(), "{rejection}");
            let mut sender = sender;
            sender.sequence = sender
                .sequence
                .checked_add(1)
                .expect("sequence numbers do not reach u64::MAX");
            self.put(StateValue::Account(sender));
            return Err(rejection);
        }
        self.apply_effects(context, sender, &tx.payload, hash);
        Ok(())
    }

    /// Carries out a transaction the policy admitted. Every failure here is a bug.
    fn apply_effects(
        &mut self,
        context: &BlockContext,
        mut sender: Account,
        payload: &Payload,
        hash: HashValue,
    ) {
        sender.sequence = sender
            .sequence
            .checked_add(1)
            .expect("sequence numbers do not reach u64::MAX");
        match payload {
            Payload::Issue(Issue { to, amount }) => {
                let mut recipient = self.existing_account(to);
                recipient.balance = add(recipient.balance, *amount);
                self.record_issuance(context, recipient, *amount);
            }
            Payload::IssueEarmarked(IssueEarmarked { to, amount, terms }) => {
                let mut recipient = self.existing_account(to);
                self.create_earmark(context, &sender, &mut recipient, *amount, terms, hash);
                self.record_issuance(context, recipient, *amount);
            }
            Payload::Redeem(Redeem { amount }) => {
                sender.balance = sub(sender.balance, *amount);
                let mut global = self.global().clone();
                global.redeemed = add(global.redeemed, *amount);
                self.put(StateValue::Global(global));
            }
            Payload::Transfer(Transfer { to, amount }) => {
                let mut recipient = self.existing_account(to);
                sender.balance = sub(sender.balance, *amount);
                record_outflow(context, &mut sender, *amount);
                recipient.balance = add(recipient.balance, *amount);
                self.put(StateValue::Account(recipient));
            }
            Payload::TransferEarmarked(TransferEarmarked { to, amount, terms }) => {
                let mut recipient = self.existing_account(to);
                sender.balance = sub(sender.balance, *amount);
                record_outflow(context, &mut sender, *amount);
                self.create_earmark(context, &sender, &mut recipient, *amount, terms, hash);
                self.put(StateValue::Account(recipient));
            }
            Payload::SpendEarmarked(SpendEarmarked {
                earmark,
                to,
                amount,
            }) => {
                let mut recipient = self.existing_account(to);
                let position = sender
                    .earmarked
                    .binary_search_by(|holding| holding.earmark.cmp(earmark))
                    .expect("policy checked the sender holds the earmark");
                let holding = &mut sender.earmarked[position];
                holding.amount = sub(holding.amount, *amount);
                if holding.amount.is_zero() {
                    sender.earmarked.remove(position);
                }
                record_outflow(context, &mut sender, *amount);
                // On arrival at an approved payee, earmarked money becomes ordinary money.
                recipient.balance = add(recipient.balance, *amount);
                self.put(StateValue::Account(recipient));
            }
            Payload::RegisterBank(RegisterBank { key, name }) => {
                let bank = Account::new(
                    Authentication::Key(*key),
                    Role::CommercialBank { name: name.clone() },
                    context.height,
                );
                self.put(StateValue::Account(bank));
            }
            Payload::OpenWallet(OpenWallet { key, tier }) => {
                let wallet = Account::new(
                    Authentication::Key(*key),
                    Role::Wallet {
                        bank: sender.id,
                        tier: *tier,
                    },
                    context.height,
                );
                self.put(StateValue::Account(wallet));
            }
            Payload::Freeze(Freeze { account, .. })
            | Payload::Unfreeze(Unfreeze { account, .. }) => {
                let mut target = self.existing_account(account);
                target.frozen = match payload {
                    Payload::Freeze(_) => Some(tenge_policy::freeze_authority(&sender.role)),
                    _ => None,
                };
                self.put(StateValue::Account(target));
            }
            Payload::SetPolicy(SetPolicy {
                effective_height,
                params,
            }) => {
                let mut policy = self.policy().clone();
                let version = policy.history.last().map_or(0, |last| last.version + 1);
                policy.history.push(PolicyChange {
                    version,
                    effective_height: *effective_height,
                    adopted_at: context.height,
                    params: params.clone(),
                });
                self.put(StateValue::Policy(policy));
            }
            Payload::AddObserver(AddObserver { key, name }) => {
                let mut membership = self.membership().clone();
                let added = membership.insert_observer(ObserverEntry {
                    key: *key,
                    name: name.clone(),
                });
                assert!(added, "policy checked the key is not in use");
                self.put(StateValue::Membership(membership));
            }
            Payload::RemoveObserver(RemoveObserver { key }) => {
                let mut membership = self.membership().clone();
                let removed = membership.remove_observer(key);
                assert!(removed, "policy checked the observer exists");
                self.put(StateValue::Membership(membership));
            }
            Payload::AddValidator(AddValidator { validator, .. }) => {
                self.reconfigure(context, |validators| validators.push(validator.clone()));
            }
            Payload::RemoveValidator(RemoveValidator { name }) => {
                self.reconfigure(context, |validators| {
                    validators.retain(|validator| validator.name != *name)
                });
            }
            Payload::RotateValidatorKey(RotateValidatorKey { name, new_key, .. }) => {
                self.reconfigure(context, |validators| {
                    let validator = validators
                        .iter_mut()
                        .find(|validator| validator.name == *name)
                        .expect("policy checked the validator exists");
                    validator.consensus_key = *new_key;
                });
            }
        }
        self.put(StateValue::Account(sender));
    }

    /// Changes the validator set: the block ends its epoch, and the set is the next epoch's (D77).
    fn reconfigure(
        &mut self,
        context: &BlockContext,
        change: impl FnOnce(&mut Vec<tenge_types::GenesisValidator>),
    ) {
        let mut membership = self.membership().clone();
        debug_assert_ne!(
            membership.changed_at(),
            context.height,
            "policy: one per block"
        );
        change(&mut membership.validators);
        assert!(
            membership.validators.len() >= Membership::MIN_VALIDATORS,
            "policy keeps at least {} validators",
            Membership::MIN_VALIDATORS
        );
        membership.epoch_ends.push(context.height);
        self.put(StateValue::Membership(membership));
    }

    /// Books new money: global totals and epoch usage, and the receiving bank's epoch quota (a
    /// wallet's issuance counts against the bank that opened it). Writes `recipient`.
    fn record_issuance(&mut self, context: &BlockContext, recipient: Account, amount: Amount) {
        let params = self.policy().active_at(context.height).params.clone();
        let mut global = self.global().clone();
        let epoch = epoch_of(&params, &global, context.timestamp);
        global.issued = add(global.issued, amount);
        global.epoch_issuance = PeriodUsage {
            period: epoch,
            used: add(global.epoch_issuance.in_period(epoch), amount),
        };
        self.put(StateValue::Global(global));
        let bank_id = match &recipient.role {
            Role::Wallet { bank, .. } => *bank,
            _ => recipient.id,
        };
        self.put(StateValue::Account(recipient));
        let mut bank = self.existing_account(&bank_id);
        bank.epoch_issuance = PeriodUsage {
            period: epoch,
            used: add(bank.epoch_issuance.in_period(epoch), amount),
        };
        self.put(StateValue::Account(bank));
    }

    fn create_earmark(
        &mut self,
        context: &BlockContext,
        funder: &Account,
        recipient: &mut Account,
        amount: Amount,
        terms: &tenge_types::EarmarkTerms,
        hash: HashValue,
    ) {
        // Transaction hashes are unique among applied transactions (sender and sequence are in
        // them), so the earmark id is new.
        let id = EarmarkId(hash.0);
        assert!(self.earmark(&id).is_none(), "earmark id reused");
        let position = recipient
            .earmarked
            .binary_search_by(|holding| holding.earmark.cmp(&id))
            .expect_err("new earmark already held");
        recipient.earmarked.insert(
            position,
            EarmarkHolding {
                earmark: id,
                amount,
            },
        );
        self.put(StateValue::Earmark(Earmark {
            id,
            terms: terms.clone(),
            funder: funder.id,
            holder: recipient.id,
            original_amount: amount,
            created_at: context.height,
        }));
    }

    /// The incremental form of the supply invariants: the money in changed accounts moved by
    /// exactly issued minus redeemed in this block, and supply is within the ceiling.
    fn check_invariants(&self, context: &BlockContext) {
        let before = self.view.global();
        let after = self.global();
        let supply_change = amount_delta(after.issued, before.issued)
            - amount_delta(after.redeemed, before.redeemed);
        let mut balance_change: i128 = 0;
        for entry in self.changes.values() {
            if let StateValue::Account(account) = &entry.value {
                let previous = self.view.account(&account.id).map_or(0, total_tiyn);
                balance_change += total_tiyn(account) - previous;
                assert!(
                    account.total_balance().is_some(),
                    "account {} holds more than u64::MAX tiyn",
                    account.id
                );
                assert!(
                    account
                        .earmarked
                        .windows(2)
                        .all(|p| p[0].earmark < p[1].earmark)
                        && account.earmarked.iter().all(|h| !h.amount.is_zero()),
                    "earmark holdings of {} are not sorted and positive",
                    account.id
                );
            }
        }
        assert_eq!(
            balance_change, supply_change,
            "money was created or destroyed outside issuance and redemption"
        );
        let outstanding = after.outstanding();
        let ceiling = self
            .policy()
            .active_at(context.height)
            .params
            .supply_ceiling;
        assert!(
            outstanding <= ceiling,
            "outstanding supply {outstanding} above the ceiling {ceiling}"
        );
    }

    fn into_delta(self) -> StateDelta {
        let entries: Vec<Slotted<StateValue>> = self.changes.into_values().collect();
        let leaves: Vec<(u64, HashValue)> = entries
            .iter()
            .map(|entry| (entry.slot, leaf_hash(&entry.value)))
            .collect();
        let (nodes, tree_root) = tree::update(self.view, &leaves);
        // New slots are handed out from the view's next slot, so an account entry at or past it
        // was created by this block (decision D37).
        let first_new_slot = self.view.next_slot();
        let created: Vec<AccountIndexLeaf> = entries
            .iter()
            .filter(|entry| entry.slot >= first_new_slot)
            .filter_map(|entry| match &entry.value {
                StateValue::Account(account) => Some(AccountIndexLeaf {
                    id: account.id,
                    slot: entry.slot,
                }),
                _ => None,
            })
            .collect();
        let account_index_root = self.view.account_index_root_with(&created);
        StateDelta::new(
            self.view.root(),
            entries,
            nodes,
            tree_root,
            self.next_slot,
            created,
            account_index_root,
        )
    }
}

fn record_outflow(context: &BlockContext, sender: &mut Account, amount: Amount) {
    if sender.wallet_tier().is_some() {
        let today = day_of(context.timestamp);
        sender.daily_outflow = PeriodUsage {
            period: today,
            used: add(sender.daily_outflow.in_period(today), amount),
        };
    }
}

/// A key that joins the validator set: a canonical, torsion-free point (not weak), whose holder
/// signed the proof of possession for this chain.
fn check_new_validator_key(
    chain_id: &ChainId,
    key: &tenge_types::PublicKey,
    proof_of_possession: &tenge_types::Signature,
) -> Result<(), Rejection> {
    check_public_key(key)
        .map_err(|error| Rejection::new(RejectionCode::WeakPublicKey, error.to_string()))?;
    if !tenge_crypto::verify_strict(
        &proof_of_possession_message(chain_id, key),
        key,
        proof_of_possession,
    ) {
        return Err(Rejection::new(
            RejectionCode::InvalidProofOfPossession,
            format!("the proof of possession is not key {key}'s signature for chain {chain_id}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{TestNetwork, test_key};
    use tenge_types::transaction::Transfer;
    use tenge_types::{Amount, Signature};

    #[test]
    fn checked_transactions_agree_with_verify_signatures_on_good_and_forged() {
        let net = TestNetwork::new(2, 4);
        let payer = test_key("bank-0");
        let mut transactions: Vec<SignedTransaction> = (0..40)
            .map(|i| {
                net.sign(
                    &payer,
                    i,
                    Payload::Transfer(Transfer {
                        to: net.bank(1),
                        amount: Amount::from_tiyn(1 + i),
                    }),
                )
            })
            .collect();
        // A forged signature, a signature moved to another transaction, and no signature (no
        // signature is vacuously valid here: authorisation refuses it at execution).
        transactions[3].signatures[0].signature = Signature([7; 64]);
        transactions[17].signatures = transactions[18].signatures.clone();
        transactions[25].signatures.clear();
        let expected = verify_signatures(&transactions, 2);
        let refused: Vec<usize> = (0..expected.len()).filter(|i| !expected[*i]).collect();
        assert_eq!(refused, vec![3, 17]);
        let checked = check_transactions(transactions.clone(), 2);
        assert_eq!(checked.len(), transactions.len());
        for ((c, tx), ok) in checked.iter().zip(&transactions).zip(&expected) {
            assert_eq!(&c.tx, tx);
            assert_eq!(c.valid, *ok);
            assert_eq!(c.hash, tx.hash());
            assert_eq!(c.digest, tx.digest());
        }
    }
}
