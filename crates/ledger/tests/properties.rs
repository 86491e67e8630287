//! Property tests: random workloads keep every invariant, move exactly the money a model
//! expects, reject replays, and execute identically on two fresh ledgers.

mod common;

use std::collections::HashMap;

use common::{Harness, tenge};
use proptest::prelude::*;
use tenge_crypto::Keypair;
use tenge_ledger::testkit::{TestNetwork, test_key};
use tenge_ledger::{Ledger, verify_signatures};
use tenge_policy::{day_of, epoch_of};
use tenge_types::transaction::{
    Freeze, Issue, OpenWallet, Redeem, SpendEarmarked, Transfer, TransferEarmarked, Unfreeze,
};
use tenge_types::{
    AccountId, Amount, EarmarkId, EarmarkTerms, Payload, PolicyParams, RejectionCode, Role, Round,
    SignedTransaction, TimestampMs,
};

#[derive(Clone, Debug)]
enum Op {
    Issue {
        bank: usize,
        amount: u64,
    },
    Redeem {
        bank: usize,
        amount: u64,
    },
    Transfer {
        from: usize,
        to: usize,
        amount: u64,
    },
    OpenWallet {
        bank: usize,
        tier: u8,
    },
    Freeze {
        who: usize,
        freeze: bool,
    },
    Earmark {
        from: usize,
        to: usize,
        payee: usize,
        amount: u64,
    },
    Spend {
        holder: usize,
        payee: usize,
        amount: u64,
    },
    Replay,
    EndBlock {
        advance_ms: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    // Amounts in tenge, small enough to hit limits sometimes and not always.
    let amount = prop_oneof![6 => 1u64..1_000, 3 => 1_000u64..200_000, 1 => Just(0u64)];
    prop_oneof![
        3 => (0usize..2, amount.clone()).prop_map(|(bank, amount)| Op::Issue { bank, amount: amount * 10 }),
        1 => (0usize..2, amount.clone()).prop_map(|(bank, amount)| Op::Redeem { bank, amount }),
        6 => (0usize..8, 0usize..8, amount.clone()).prop_map(|(from, to, amount)| Op::Transfer { from, to, amount }),
        3 => (0usize..2, prop_oneof![4 => 1u8..=4, 1 => Just(5u8)]).prop_map(|(bank, tier)| Op::OpenWallet { bank, tier }),
        1 => (0usize..8, any::<bool>()).prop_map(|(who, freeze)| Op::Freeze { who, freeze }),
        1 => (0usize..8, 0usize..8, 0usize..8, amount.clone()).prop_map(|(from, to, payee, amount)| Op::Earmark { from, to, payee, amount }),
        2 => (0usize..8, 0usize..8, amount).prop_map(|(holder, payee, amount)| Op::Spend { holder, payee, amount }),
        1 => Just(Op::Replay),
        6 => prop_oneof![Just(1_000u64), Just(3_600_000), Just(86_400_000)].prop_map(|advance_ms| Op::EndBlock { advance_ms }),
    ]
}

fn policy() -> PolicyParams {
    let mut policy = PolicyParams::defaults();
    policy.supply_ceiling = tenge(5_000_000);
    policy.issuance_cap_per_epoch = tenge(3_000_000);
    policy.bank_quota_per_epoch = tenge(2_000_000);
    // Runs span up to a few weeks of block time; transactions signed at genesis stay valid.
    policy.max_transaction_lifetime_ms = PolicyParams::MAX_TRANSACTION_LIFETIME_MS;
    policy
}

/// Builds signed transactions for the ops, tracking the sequence numbers it hands out.
struct Driver {
    net: TestNetwork,
    actors: Vec<Keypair>,
    sequences: HashMap<AccountId, u64>,
    applied: Vec<SignedTransaction>,
    earmarks: Vec<(EarmarkId, AccountId)>,
    wallets: usize,
}

impl Driver {
    fn new(net: TestNetwork) -> Driver {
        let actors = net
            .banks
            .iter()
            .map(|k| Keypair::from_secret(k.secret_bytes()))
            .collect();
        Driver {
            net,
            actors,
            sequences: HashMap::new(),
            applied: vec![],
            earmarks: vec![],
            wallets: 0,
        }
    }

    fn actor(&self, index: usize) -> &Keypair {
        &self.actors[index % self.actors.len()]
    }

    fn next_sequence(&mut self, id: AccountId) -> u64 {
        let sequence = self.sequences.entry(id).or_default();
        *sequence += 1;
        *sequence - 1
    }

    fn sign(&mut self, key_index: usize, payload: Payload) -> SignedTransaction {
        let key = Keypair::from_secret(self.actor(key_index).secret_bytes());
        let sequence = self.next_sequence(key.account_id());
        self.net.sign(&key, sequence, payload)
    }

    fn officers(&mut self, payload: Payload) -> SignedTransaction {
        let sequence = self.next_sequence(self.net.central_bank());
        self.net.officers_sign(sequence, payload)
    }

    fn transaction(&mut self, op: &Op) -> Option<SignedTransaction> {
        let id = |d: &Driver, i: usize| d.actor(i).account_id();
        Some(match *op {
            Op::Issue { bank, amount } => {
                let to = self.net.bank(bank);
                self.officers(Payload::Issue(Issue {
                    to,
                    amount: tenge(amount),
                }))
            }
            Op::Redeem { bank, amount } => self.sign(
                bank,
                Payload::Redeem(Redeem {
                    amount: tenge(amount),
                }),
            ),
            Op::Transfer { from, to, amount } => {
                let to = id(self, to);
                self.sign(
                    from,
                    Payload::Transfer(Transfer {
                        to,
                        amount: tenge(amount),
                    }),
                )
            }
            Op::OpenWallet { bank, tier } => {
                self.wallets += 1;
                let key = test_key(&format!("wallet-{}", self.wallets));
                let tx = self.sign(
                    bank,
                    Payload::OpenWallet(OpenWallet {
                        key: key.public_key(),
                        tier,
                    }),
                );
                self.actors.push(key);
                tx
            }
            Op::Freeze { who, freeze } => {
                let account = id(self, who);
                let reason = "property test".to_string();
                self.officers(if freeze {
                    Payload::Freeze(Freeze { account, reason })
                } else {
                    Payload::Unfreeze(Unfreeze { account, reason })
                })
            }
            Op::Earmark {
                from,
                to,
                payee,
                amount,
            } => {
                let (to, payee) = (id(self, to), id(self, payee));
                let terms = EarmarkTerms {
                    purpose: "budget".into(),
                    approved_payees: vec![payee],
                };
                let tx = self.sign(
                    from,
                    Payload::TransferEarmarked(TransferEarmarked {
                        to,
                        amount: tenge(amount),
                        terms,
                    }),
                );
                self.earmarks.push((EarmarkId(tx.hash().0), to));
                tx
            }
            Op::Spend {
                holder,
                payee,
                amount,
            } => {
                let (earmark, holder_id) =
                    *self.earmarks.get(holder % self.earmarks.len().max(1))?;
                let holder_index = self
                    .actors
                    .iter()
                    .position(|k| k.account_id() == holder_id)?;
                let to = id(self, payee);
                self.sign(
                    holder_index,
                    Payload::SpendEarmarked(SpendEarmarked {
                        earmark,
                        to,
                        amount: tenge(amount),
                    }),
                )
            }
            Op::Replay => self.applied.last()?.clone(),
            Op::EndBlock { .. } => return None,
        })
    }
}

/// Limits that must hold in every committed state.
fn check_limits(ledger: &Ledger) {
    let state = ledger.state();
    let global = state.global();
    let change = state.policy().active_at(ledger.head().height);
    let params = &change.params;
    let epoch = epoch_of(params, global, ledger.head().timestamp);
    assert!(global.epoch_issuance.in_period(epoch) <= params.issuance_cap_per_epoch);
    assert!(global.outstanding() <= params.supply_ceiling);
    let today = day_of(ledger.head().timestamp);
    for account in state.accounts() {
        match account.role {
            Role::Wallet { tier, .. } => {
                let limits = params.tier(tier).expect("wallets have known tiers");
                assert!(account.total_balance().unwrap() <= limits.holding_limit);
                assert!(account.daily_outflow.in_period(today) <= limits.daily_outflow_limit);
            }
            Role::CommercialBank { .. } => {
                assert!(account.epoch_issuance.in_period(epoch) <= params.bank_quota(&account.id));
            }
            Role::CentralBank => assert_eq!(account.total_balance(), Some(Amount::ZERO)),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_workloads_keep_every_invariant(ops in proptest::collection::vec(op(), 1..120)) {
        let mut h = Harness::with_policy(policy());
        let mut twin = Ledger::from_genesis(&h.net.genesis).unwrap();
        let mut driver = Driver::new(TestNetwork::with_policy(2, 4, policy()));
        let mut pending: Vec<SignedTransaction> = vec![];
        let mut round = 0;
        let mut time = h.net.genesis.genesis_time;
        let mut applied_hashes = std::collections::HashSet::new();
        for op in ops.iter().chain(std::iter::once(&Op::EndBlock { advance_ms: 1_000 })) {
            if let Op::EndBlock { advance_ms } = op {
                round += 1;
                time = TimestampMs(time.0 + advance_ms);
                let txs = std::mem::take(&mut pending);
                let valid = verify_signatures(&txs, 2);
                let executed = h.ledger.build_block(&[], Round(round), time, txs.clone(), &valid);
                // Determinism: the same block on an independent ledger gives the same result.
                let again = twin.execute_block(&[], &executed.block, &valid).unwrap();
                prop_assert_eq!(again.state_root(), executed.execution.state_root());
                prop_assert_eq!(&again.receipts, &executed.execution.receipts);
                for (tx, receipt) in txs.iter().zip(&executed.execution.receipts) {
                    match &receipt.outcome {
                        Ok(()) => {
                            // Replays never apply twice.
                            prop_assert!(applied_hashes.insert(tx.hash()), "a transaction applied twice");
                            driver.applied.push(tx.clone());
                        }
                        Err(rejection) => {
                            if applied_hashes.contains(&tx.hash()) {
                                prop_assert_eq!(rejection.code, RejectionCode::SequenceAlreadyUsed);
                            }
                        }
                    }
                }
                h.ledger.commit(&executed);
                twin.commit(&tenge_ledger::ExecutedBlock { block: executed.block.clone(), execution: again });
                h.ledger.audit().map_err(TestCaseError::fail)?;
                check_limits(&h.ledger);
                // Resynchronise the driver's sequence numbers with the ledger.
                for (id, sequence) in driver.sequences.iter_mut() {
                    *sequence = h.ledger.state().account(id).map_or(0, |a| a.sequence);
                }
                continue;
            }
            if let Some(tx) = driver.transaction(op) {
                pending.push(tx);
            }
        }
        prop_assert_eq!(twin.state().root(), h.ledger.state().root());
    }
}

#[test]
fn the_same_block_on_two_fresh_ledgers_gives_the_same_root() {
    let mut h = Harness::new();
    h.issue(0, tenge(1_000));
    let wallet = h.open_wallet(0, 2, "w");
    let txs = vec![
        h.from(
            h.bank_key(0),
            Payload::Transfer(Transfer {
                to: wallet.account_id(),
                amount: tenge(10),
            }),
        ),
        h.net.sign(
            h.bank_key(0),
            h.sequence(&h.net.bank(0)) + 1,
            Payload::Transfer(Transfer {
                to: h.net.bank(1),
                amount: tenge(5),
            }),
        ),
    ];
    let a = Ledger::from_genesis(&h.net.genesis).unwrap();
    let b = Ledger::from_genesis(&h.net.genesis).unwrap();
    assert_eq!(a.state().root(), b.state().root());
    let valid = verify_signatures(&txs, 1);
    let block = a.build_block(
        &[],
        Round(1),
        TimestampMs(h.net.genesis.genesis_time.0 + 5),
        txs,
        &valid,
    );
    let replayed = b.execute_block(&[], &block.block, &valid).unwrap();
    assert_eq!(replayed.state_root(), block.execution.state_root());
    assert_eq!(replayed.receipts, block.execution.receipts);
}
