//! The shared vocabulary of tenge: identifiers, money, transactions, blocks, state records,
//! receipts, and the canonical encoding and hashing of all of them.
//!
//! Everything that is hashed, signed or sent is encoded with BCS ([`codec`]) and hashed with
//! SHA-256 under a per-type domain ([`hash::Domain`]).

pub mod address;
pub mod amount;
pub mod block;
pub mod codec;
pub mod commitment;
pub mod consensus;

pub mod genesis;
pub mod hash;
pub mod ids;
pub mod policy;
pub mod receipt;
pub mod state;
pub mod sync;
pub mod transaction;

pub use address::{AddressError, ListenAddress, PeerAddress};
pub use amount::{Amount, AmountParseError};
pub use block::{Block, BlockHeader, BlockId};
pub use codec::{DecodeError, decode, encode};
pub use genesis::{Genesis, GenesisBank, GenesisValidator};
pub use hash::{Domain, HashValue};
pub use ids::{AccountId, ChainId, EarmarkId, Height, PublicKey, Round, Signature, TimestampMs};
pub use policy::{PolicyChange, PolicyParams, PolicyState, WalletTierLimits};
pub use receipt::{Receipt, Rejection, RejectionCode};
pub use state::{
    Account, Authentication, Earmark, EarmarkHolding, EarmarkTerms, FreezeAuthority, GlobalState,
    Membership, MultisigPolicy, ObserverEntry, PeriodUsage, Role, Slotted, StateKey, StateValue,
};
pub use transaction::{Payload, SignedTransaction, Transaction, TransactionSignature};
