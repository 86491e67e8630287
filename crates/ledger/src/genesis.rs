//! The state at genesis.

use tenge_crypto::check_public_key;
use tenge_types::block::transactions_root;
use tenge_types::receipt::receipts_root;
use tenge_types::{
    Account, Authentication, BlockHeader, Genesis, GlobalState, Height, Membership, PolicyState,
    Role, Round, Slotted, StateValue,
};

use crate::state::{CommittedState, StateLoadError};

/// Why a genesis cannot start a network.
#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    #[error("genesis is invalid: {0}")]
    Invalid(String),
    #[error("genesis {role} key is refused: {source}")]
    WeakKey {
        role: &'static str,
        source: tenge_crypto::KeyError,
    },
    #[error("genesis state is inconsistent: {0}")]
    State(#[from] StateLoadError),
}

/// Builds the state a genesis describes and the genesis block's header (height 0, whose parent
/// id is the genesis hash, so that two networks never share a block id).
pub fn genesis_state(genesis: &Genesis) -> Result<(CommittedState, BlockHeader), GenesisError> {
    genesis.validate().map_err(GenesisError::Invalid)?;
    let weak = |role| move |source| GenesisError::WeakKey { role, source };
    for key in &genesis.officers.keys {
        check_public_key(key).map_err(weak("officer"))?;
    }
    for bank in &genesis.banks {
        check_public_key(&bank.key).map_err(weak("bank"))?;
    }
    for validator in &genesis.validators {
        check_public_key(&validator.consensus_key).map_err(weak("validator"))?;
    }
    let central_bank = Account::new(
        Authentication::Multisig(genesis.officers.clone()),
        Role::CentralBank,
        Height::GENESIS,
    );
    let mut values = vec![
        StateValue::Global(GlobalState {
            central_bank: central_bank.id,
            genesis_time: genesis.genesis_time,
            issued: Default::default(),
            redeemed: Default::default(),
            epoch_issuance: Default::default(),
        }),
        StateValue::Policy(PolicyState::genesis(genesis.policy.clone())),
        StateValue::Account(central_bank),
    ];
    for bank in &genesis.banks {
        let account = Account::new(
            Authentication::Key(bank.key),
            Role::CommercialBank {
                name: bank.name.clone(),
            },
            Height::GENESIS,
        );
        if values
            .iter()
            .any(|v| matches!(v, StateValue::Account(a) if a.id == account.id))
        {
            return Err(GenesisError::Invalid(format!(
                "bank `{}` has the id of another account",
                bank.name
            )));
        }
        values.push(StateValue::Account(account));
    }
    // Last, so that the slots of the entries above are those of chains before it existed.
    values.push(StateValue::Membership(Membership {
        epoch_ends: Vec::new(),
        validators: genesis.validators.clone(),
        observers: Vec::new(),
    }));
    let entries: Vec<Slotted<StateValue>> = values
        .into_iter()
        .enumerate()
        .map(|(slot, value)| Slotted {
            slot: slot as u64,
            value,
        })
        .collect();
    let root = CommittedState::build(entries.clone())?.root();
    let state = CommittedState::from_entries(entries, &root, Height::GENESIS)?;
    let header = BlockHeader {
        chain_id: genesis.chain_id.clone(),
        height: Height::GENESIS,
        round: Round(0),
        parent_id: genesis.hash(),
        timestamp: genesis.genesis_time,
        transaction_count: 0,
        transactions_root: transactions_root(&[]),
        receipts_root: receipts_root(&[]),
        state_root: state.root(),
        epoch: 0,
        next_validators: None,
        above_epoch_end: false,
    };
    Ok((state, header))
}
