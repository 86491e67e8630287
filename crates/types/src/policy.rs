//! Monetary-policy parameters: the data. The rules that read them live in `tenge-policy`.

use serde::{Deserialize, Serialize};

use crate::amount::Amount;
use crate::ids::{AccountId, Height};

/// Milliseconds in a day of block time: daily wallet limits reset on UTC day boundaries.
pub const DAY_MS: u64 = 86_400_000;

/// Limits of one wallet tier. [`Amount::MAX`] means "no limit".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletTierLimits {
    /// Most a wallet of this tier may hold (ordinary plus earmarked).
    pub holding_limit: Amount,
    /// Most a wallet of this tier may send in one transaction.
    pub per_transaction_limit: Amount,
    /// Most a wallet of this tier may send per UTC day of block time.
    pub daily_outflow_limit: Amount,
}

/// The central bank's monetary-policy parameters, versioned by [`PolicyChange`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyParams {
    /// Most tenge that may be outstanding (issued minus redeemed) at any time.
    pub supply_ceiling: Amount,
    /// Length of an issuance epoch in block time. Epoch `e` covers
    /// `[genesis + e * duration, genesis + (e + 1) * duration)`.
    pub epoch_duration_ms: u64,
    /// Most the central bank may issue in one epoch, over all banks.
    pub issuance_cap_per_epoch: Amount,
    /// Most issuance one commercial bank may receive in one epoch, unless overridden.
    pub bank_quota_per_epoch: Amount,
    /// Per-bank quotas replacing `bank_quota_per_epoch`, sorted by account, no repeats.
    pub bank_quota_overrides: Vec<(AccountId, Amount)>,
    /// Limits of wallet tiers 1, 2, ... (index 0 is tier 1, the strongest identification).
    pub wallet_tiers: Vec<WalletTierLimits>,
    /// Longest a transaction may stay valid: its `expires_at_ms` at most this far after the
    /// time of the block that applies it. Long enough for officers on different sites to
    /// co-sign an issuance, short enough that signed bytes do not wait years to be replayed.
    pub max_transaction_lifetime_ms: u64,
}

impl PolicyParams {
    pub const MIN_EPOCH_DURATION_MS: u64 = 60_000;
    pub const MAX_EPOCH_DURATION_MS: u64 = 366 * DAY_MS;
    pub const MAX_TIERS: usize = 8;
    pub const MAX_QUOTA_OVERRIDES: usize = 256;
    pub const MIN_TRANSACTION_LIFETIME_MS: u64 = 10_000;
    pub const MAX_TRANSACTION_LIFETIME_MS: u64 = 30 * DAY_MS;
    pub const DEFAULT_TRANSACTION_LIFETIME_MS: u64 = 7 * DAY_MS;

    /// The issuance epoch that a block at `timestamp` belongs to, on a chain that started at
    /// `genesis_time`: the one rule the policy module and every reader apply.
    pub fn epoch_at(&self, genesis_time: crate::TimestampMs, timestamp: crate::TimestampMs) -> u64 {
        timestamp.0.saturating_sub(genesis_time.0) / self.epoch_duration_ms
    }

    /// Limits of a wallet tier (1-based), if the tier exists.
    pub fn tier(&self, tier: u8) -> Option<&WalletTierLimits> {
        (tier as usize)
            .checked_sub(1)
            .and_then(|index| self.wallet_tiers.get(index))
    }

    /// The epoch quota of one bank.
    pub fn bank_quota(&self, bank: &AccountId) -> Amount {
        match self
            .bank_quota_overrides
            .binary_search_by(|(id, _)| id.cmp(bank))
        {
            Ok(index) => self.bank_quota_overrides[index].1,
            Err(_) => self.bank_quota_per_epoch,
        }
    }

    /// Why these parameters cannot be adopted, if they cannot.
    pub fn validate(&self) -> Result<(), String> {
        if !(Self::MIN_EPOCH_DURATION_MS..=Self::MAX_EPOCH_DURATION_MS)
            .contains(&self.epoch_duration_ms)
        {
            return Err(format!(
                "epoch_duration_ms {} is outside {}..={}",
                self.epoch_duration_ms,
                Self::MIN_EPOCH_DURATION_MS,
                Self::MAX_EPOCH_DURATION_MS
            ));
        }
        if !(Self::MIN_TRANSACTION_LIFETIME_MS..=Self::MAX_TRANSACTION_LIFETIME_MS)
            .contains(&self.max_transaction_lifetime_ms)
        {
            return Err(format!(
                "max_transaction_lifetime_ms {} is outside {}..={}",
                self.max_transaction_lifetime_ms,
                Self::MIN_TRANSACTION_LIFETIME_MS,
                Self::MAX_TRANSACTION_LIFETIME_MS
            ));
        }
        if self.wallet_tiers.is_empty() || self.wallet_tiers.len() > Self::MAX_TIERS {
            return Err(format!(
                "{} wallet tiers given: between 1 and {} are allowed",
                self.wallet_tiers.len(),
                Self::MAX_TIERS
            ));
        }
        if self.bank_quota_overrides.len() > Self::MAX_QUOTA_OVERRIDES {
            return Err(format!(
                "{} bank quota overrides given: at most {} are allowed",
                self.bank_quota_overrides.len(),
                Self::MAX_QUOTA_OVERRIDES
            ));
        }
        if !self
            .bank_quota_overrides
            .windows(2)
            .all(|pair| pair[0].0 < pair[1].0)
        {
            return Err("bank quota overrides must be sorted by account with no repeats".into());
        }
        Ok(())
    }

    /// Defaults for a new network. Amounts in tenge; wallet tiers follow the four e-CNY wallet
    /// categories published by the People's Bank of China (category 1: in-person KYC, no limits;
    /// category 2: 500,000 / 50,000 / 100,000 CNY; category 3: 20,000 / 5,000 / 10,000 CNY;
    /// category 4, anonymous: 10,000 / 2,000 / 5,000 CNY for holding / per payment / per day),
    /// converted at about 70 tenge per yuan and rounded. See docs/ledger.md.
    pub fn defaults() -> PolicyParams {
        let tenge = |whole: u64| Amount::from_tenge(whole).expect("default fits");
        let tier = |holding: u64, per_transaction: u64, daily: u64| WalletTierLimits {
            holding_limit: tenge(holding),
            per_transaction_limit: tenge(per_transaction),
            daily_outflow_limit: tenge(daily),
        };
        PolicyParams {
            supply_ceiling: tenge(5_000_000_000_000),
            epoch_duration_ms: DAY_MS,
            issuance_cap_per_epoch: tenge(100_000_000_000),
            bank_quota_per_epoch: tenge(20_000_000_000),
            bank_quota_overrides: Vec::new(),
            wallet_tiers: vec![
                WalletTierLimits {
                    holding_limit: Amount::MAX,
                    per_transaction_limit: Amount::MAX,
                    daily_outflow_limit: Amount::MAX,
                },
                tier(35_000_000, 3_500_000, 7_000_000),
                tier(1_400_000, 350_000, 700_000),
                tier(700_000, 140_000, 350_000),
            ],
            max_transaction_lifetime_ms: Self::DEFAULT_TRANSACTION_LIFETIME_MS,
        }
    }
}

/// One adopted policy version: from `effective_height` on, `params` rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyChange {
    /// 0 for the genesis policy, then 1, 2, ...
    pub version: u64,
    pub effective_height: Height,
    /// Height of the block that adopted it (0 for genesis).
    pub adopted_at: Height,
    pub params: PolicyParams,
}

/// The policy's full history: the audit trail, and the schedule of changes not yet in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyState {
    /// Sorted by `effective_height` (non-decreasing); never empty; entry 0 is genesis.
    pub history: Vec<PolicyChange>,
}

impl PolicyState {
    /// A change a week for twenty years; each change is a few hundred bytes.
    pub const MAX_HISTORY: usize = 1_000;

    pub fn genesis(params: PolicyParams) -> PolicyState {
        PolicyState {
            history: vec![PolicyChange {
                version: 0,
                effective_height: Height::GENESIS,
                adopted_at: Height::GENESIS,
                params,
            }],
        }
    }

    /// The change in force at `height`: the last one whose effective height has been reached.
    pub fn active_at(&self, height: Height) -> &PolicyChange {
        let in_force = self
            .history
            .partition_point(|change| change.effective_height <= height);
        &self.history[in_force
            .checked_sub(1)
            .expect("genesis policy is effective from height 0")]
    }

    pub fn latest_scheduled_height(&self) -> Height {
        self.history
            .last()
            .expect("policy history is never empty")
            .effective_height
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_tiers_are_ordered() {
        let params = PolicyParams::defaults();
        params.validate().unwrap();
        assert!(params.tier(0).is_none());
        assert!(params.tier(5).is_none());
        for t in 2..=4u8 {
            let stronger = params.tier(t - 1).unwrap();
            let weaker = params.tier(t).unwrap();
            assert!(weaker.holding_limit < stronger.holding_limit);
            assert!(weaker.per_transaction_limit <= weaker.daily_outflow_limit);
        }
    }

    #[test]
    fn active_policy_follows_effective_heights() {
        let mut state = PolicyState::genesis(PolicyParams::defaults());
        let mut later = PolicyParams::defaults();
        later.epoch_duration_ms = 3_600_000;
        state.history.push(PolicyChange {
            version: 1,
            effective_height: Height(10),
            adopted_at: Height(3),
            params: later,
        });
        assert_eq!(state.active_at(Height(9)).version, 0);
        assert_eq!(state.active_at(Height(10)).version, 1);
        assert_eq!(state.active_at(Height(u64::MAX)).version, 1);
    }

    #[test]
    fn validate_names_the_problem() {
        let mut params = PolicyParams::defaults();
        params.epoch_duration_ms = 1;
        assert!(params.validate().unwrap_err().contains("epoch_duration_ms"));
        let mut params = PolicyParams::defaults();
        params.wallet_tiers.clear();
        assert!(params.validate().unwrap_err().contains("wallet tiers"));
        let mut params = PolicyParams::defaults();
        params.bank_quota_overrides = vec![
            (AccountId([2; 32]), Amount::ZERO),
            (AccountId([1; 32]), Amount::ZERO),
        ];
        assert!(params.validate().unwrap_err().contains("sorted"));
    }
}
