//! The genesis: everything a network starts from, agreed by every node before block 1.

use serde::{Deserialize, Serialize};

use crate::codec::encode;
use crate::hash::{Domain, HashValue};
use crate::ids::{ChainId, PublicKey, TimestampMs};
use crate::policy::PolicyParams;
use crate::state::MultisigPolicy;
use crate::transaction::MAX_TEXT_BYTES;

/// A commercial bank admitted at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisBank {
    pub name: String,
    pub key: PublicKey,
}

/// A validator of the initial validator set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisValidator {
    pub name: String,
    /// Signs proposals, votes and timeouts, and is the validator's network identity.
    pub consensus_key: PublicKey,
    /// Where the validator listens for peers, as a multiaddr (`/ip4/10.0.0.5/tcp/7100`).
    pub address: String,
}

/// The genesis of a tenge network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    pub chain_id: ChainId,
    /// Consensus time of the genesis block; issuance epochs count from here.
    pub genesis_time: TimestampMs,
    /// The central bank's officers and how many must co-sign.
    pub officers: MultisigPolicy,
    pub policy: PolicyParams,
    pub banks: Vec<GenesisBank>,
    pub validators: Vec<GenesisValidator>,
}

impl Genesis {
    pub const MAX_VALIDATORS: usize = 128;

    /// Identifies the network: the hash of the canonical genesis.
    pub fn hash(&self) -> HashValue {
        Domain::Chain.hash(&encode(self))
    }

    /// Checks that need no cryptography (key strength is checked by the ledger at genesis).
    pub fn validate(&self) -> Result<(), String> {
        if !self.chain_id.is_valid() {
            return Err(format!("invalid chain id {}", self.chain_id));
        }
        self.officers
            .validate()
            .map_err(|reason| format!("officers: {reason}"))?;
        self.policy
            .validate()
            .map_err(|reason| format!("policy: {reason}"))?;
        for bank in &self.banks {
            if bank.name.is_empty() || bank.name.len() > MAX_TEXT_BYTES {
                return Err(format!(
                    "bank name `{}` must be 1 to {MAX_TEXT_BYTES} bytes",
                    bank.name
                ));
            }
        }
        let mut bank_keys: Vec<_> = self.banks.iter().map(|bank| bank.key).collect();
        bank_keys.sort();
        if bank_keys.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err("two genesis banks share a key".into());
        }
        // An empty set would pass here and panic in `ValidatorSet::new` (security review L8).
        if self.validators.is_empty() || self.validators.len() > Self::MAX_VALIDATORS {
            return Err(format!(
                "{} validators given: between 1 and {} are allowed",
                self.validators.len(),
                Self::MAX_VALIDATORS
            ));
        }
        let mut validator_keys: Vec<_> = self.validators.iter().map(|v| v.consensus_key).collect();
        validator_keys.sort();
        if validator_keys.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err("two validators share a consensus key".into());
        }
        Ok(())
    }
}
