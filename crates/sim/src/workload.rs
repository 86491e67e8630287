//! The client: the senders' transactions (every kind comes round), the run's monetary policy,
//! and which transaction each sender submits at a client tick.

use std::collections::HashMap;

use tenge_ledger::Ledger;
use tenge_ledger::testkit::{TestNetwork, test_key};
use tenge_types::policy::PolicyParams;
use tenge_types::state::EarmarkTerms;
use tenge_types::transaction::{
    AddObserver, Freeze, Issue, IssueEarmarked, OpenWallet, Redeem, RemoveObserver, SetPolicy,
    Transfer, TransferEarmarked, Unfreeze,
};
use tenge_types::{Amount, Payload, SignedTransaction};

use crate::reconfiguration::{self, Identity, Plan};

pub const CLIENT_TICK_MS: u64 = 40;
const RESUBMIT_MS: u64 = 1_500;

/// The client: a few senders with one outstanding transaction each.
pub struct Client {
    pub net: TestNetwork,
    /// (sender label, next payload), resubmitted until committed.
    outstanding: HashMap<usize, (SignedTransaction, u64)>,
    /// The central bank's validator-set changes, and the identities they name.
    plan: Plan,
    identities: Vec<Identity>,
}

impl Client {
    pub fn new(net: TestNetwork, plan: Plan, identities: Vec<Identity>) -> Client {
        Client {
            net,
            outstanding: HashMap::new(),
            plan,
            identities,
        }
    }

    /// The transactions to submit at simulated time `now`: one in flight per sender, the central
    /// bank (k-of-m officers) and the two banks, each running through every kind of transaction
    /// ([`workload`]), the central bank's validator-set changes ([`Plan`]) among its own; a
    /// sender's transaction is sent again if it is not committed after `RESUBMIT_MS`. Sequence numbers come from `ledger`, the most advanced honest node's.
    pub fn due(&mut self, ledger: &Ledger, now: u64) -> Vec<SignedTransaction> {
        let net = &self.net;
        let senders = [net.central_bank(), net.bank(0), net.bank(1)];
        let mut submissions = Vec::new();
        for (sender, account) in senders.iter().enumerate() {
            let next = ledger.state().account(account).map_or(0, |a| a.sequence);
            let stale = match self.outstanding.get(&sender) {
                Some((tx, sent_at)) if tx.transaction.sequence == next => {
                    now >= sent_at + RESUBMIT_MS
                }
                _ => true,
            };
            if !stale {
                continue;
            }
            let tx = match self.outstanding.get(&sender) {
                Some((tx, _)) if tx.transaction.sequence == next => tx.clone(),
                _ => {
                    let slot = self.plan.slot(next).filter(|_| sender == 0);
                    let payload = match slot {
                        Some(slot) => {
                            let members = &ledger.state().membership().validators;
                            let change = self.plan.change(slot, members, &self.identities);
                            reconfiguration::payload(net, &self.identities, change)
                        }
                        None if sender == 0 => {
                            workload(net, 0, self.plan.ordinary(next), ledger.head().height)
                        }
                        None => workload(net, sender, next, ledger.head().height),
                    };
                    if sender == 0 {
                        net.officers_sign(next, payload)
                    } else {
                        net.sign(&net.banks[sender - 1], next, payload)
                    }
                }
            };
            self.outstanding.insert(sender, (tx.clone(), now));
            submissions.push(tx);
        }
        submissions
    }
}

/// The run's monetary policy: the defaults with limits small enough that the workload reaches
/// them within a run (an epoch of one minute, the least allowed), so that the policy refuses
/// issuance in most runs and the checker can see that no limit is ever passed.
pub fn sim_policy() -> PolicyParams {
    let mut policy = PolicyParams::defaults();
    policy.epoch_duration_ms = PolicyParams::MIN_EPOCH_DURATION_MS;
    policy.issuance_cap_per_epoch = tenge(SIM_ISSUANCE_CAP_TENGE);
    policy.bank_quota_per_epoch = tenge(SIM_BANK_QUOTA_TENGE);
    policy
}

const SIM_ISSUANCE_CAP_TENGE: u64 = 6_000;
const SIM_BANK_QUOTA_TENGE: u64 = 4_000;

fn tenge(amount: u64) -> Amount {
    Amount::from_tenge(amount).expect("fits")
}

/// The observer key the central bank's `sequence`-th transaction admits (one of three).
fn sim_observer(sequence: u64) -> tenge_types::PublicKey {
    test_key(&format!("sim-observer-{}", sequence / 9 % 3)).public_key()
}

/// The `sequence`-th transaction of a sender: 0 is the central bank (signed by k of m officers),
/// 1 and 2 are the banks. Every kind of transaction comes round: issuance (plain and earmarked),
/// freezes and their lifting, policy changes, observers admitted and removed, transfers (plain
/// and earmarked), wallets and payments to them, redemption. Many are refused by the rules (a
/// frozen bank, a spent quota, an earmark a bank does not hold): a refusal is a receipt with a
/// code, and the rule is checked.
fn workload(net: &TestNetwork, sender: usize, sequence: u64, head: tenge_types::Height) -> Payload {
    let bank = |index: u64| net.bank(index as usize % 2);
    if sender == 0 {
        let payees = {
            let mut payees = vec![net.bank(0), net.bank(1)];
            payees.sort();
            payees
        };
        return match sequence % 9 {
            1 => Payload::IssueEarmarked(IssueEarmarked {
                to: bank(sequence),
                amount: tenge(700),
                terms: EarmarkTerms {
                    purpose: "school-meals".into(),
                    approved_payees: payees,
                },
            }),
            2 => Payload::Freeze(Freeze {
                account: net.bank(1),
                reason: "simulated investigation".into(),
            }),
            3 => Payload::Unfreeze(Unfreeze {
                account: net.bank(1),
                reason: "investigation closed".into(),
            }),
            5 => {
                // Alternates the issuance cap, effective some blocks on (past any resubmission).
                let mut params = sim_policy();
                if sequence % 16 == 5 {
                    params.issuance_cap_per_epoch = tenge(SIM_ISSUANCE_CAP_TENGE * 2 / 3);
                }
                Payload::SetPolicy(SetPolicy {
                    effective_height: tenge_types::Height(head.0 + 40),
                    params,
                })
            }
            // Membership (D75): an observer admitted, and removed by the next transaction.
            8 => Payload::AddObserver(AddObserver {
                key: sim_observer(sequence),
                name: "sim-observer".into(),
            }),
            0 if sequence > 0 => Payload::RemoveObserver(RemoveObserver {
                key: sim_observer(sequence - 1),
            }),
            // 0 (the first), 4, 6, 7: 1,000 to 2,500 tenge, enough to reach the cap and quotas.
            n => Payload::Issue(Issue {
                to: bank(sequence),
                amount: tenge(1_000 + 500 * (n % 4)),
            }),
        };
    }
    let me = sender - 1;
    let other = net.bank(1 - me);
    let wallet = |n: u64| test_key(&format!("sim-wallet-{me}-{n}"));
    match sequence % 6 {
        0 | 1 => Payload::Transfer(Transfer {
            to: other,
            amount: Amount::from_tiyn(100 + sequence % 1_000),
        }),
        2 => Payload::OpenWallet(OpenWallet {
            key: wallet(sequence / 6).public_key(),
            tier: 1,
        }),
        3 => Payload::Transfer(Transfer {
            to: wallet(sequence / 6).account_id(),
            amount: Amount::from_tiyn(5_000),
        }),
        4 => Payload::Redeem(Redeem {
            amount: Amount::from_tiyn(300),
        }),
        _ => Payload::TransferEarmarked(TransferEarmarked {
            to: other,
            amount: Amount::from_tiyn(200),
            terms: EarmarkTerms {
                purpose: "school-meals".into(),
                approved_payees: {
                    let mut payees = vec![net.bank(0), net.bank(1)];
                    payees.sort();
                    payees
                },
            },
        }),
    }
}
