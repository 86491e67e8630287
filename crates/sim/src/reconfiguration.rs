//! Reconfiguration in a run (issue 13): who the validator identities are, the keys each holds,
//! and the central bank's plan of validator-set changes (a spare added, keys rotated, validators
//! removed), submitted as k-of-m transactions through the ordinary client.
//!
//! An identity is one validator machine: its name, and every consensus key it may be asked to
//! sign with (its first key, then the keys a rotation may move it to). A node holds all of them,
//! as an operator stages a rotated key beside the old one (`Identity::keys` in the driver), and
//! signs with whichever the current epoch's set names.

use tenge_crypto::Keypair;
use tenge_ledger::testkit::{TestNetwork, test_key};
use tenge_types::transaction::{
    AddValidator, RemoveValidator, RotateValidatorKey, proof_of_possession_message,
};
use tenge_types::{GenesisValidator, Payload};

use crate::rng::Rng;

/// Rotations an identity may go through in one run (keys staged for each).
const MAX_ROTATIONS: usize = 4;

/// One validator machine of a run.
pub struct Identity {
    pub name: String,
    /// Its first key, then its rotation keys in order.
    pub keys: Vec<Keypair>,
}

impl Identity {
    fn new(name: String, label: &str) -> Identity {
        let mut keys = vec![test_key(label)];
        keys.extend((1..=MAX_ROTATIONS).map(|r| test_key(&format!("{label}-rotated-{r}"))));
        Identity { name, keys }
    }
}

/// The identities of a run: the genesis validators (`validator-1` ...), named and keyed as in
/// [`TestNetwork`], then the spares, which no genesis lists.
pub fn identities(validators: usize, spares: usize) -> Vec<Identity> {
    let mut all: Vec<Identity> = (1..=validators)
        .map(|i| Identity::new(format!("validator-{i}"), &format!("validator-{i}")))
        .collect();
    all.extend(
        (1..=spares).map(|s| Identity::new(format!("spare-{s}"), &format!("sim-spare-{s}"))),
    );
    all
}

/// One change the central bank asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Add spare identity `identity` (its first key).
    Add {
        identity: usize,
    },
    /// Move `identity` to its `rotation`-th rotation key.
    Rotate {
        identity: usize,
        rotation: usize,
    },
    Remove {
        identity: usize,
    },
}

/// What a slot of the plan asks for; whom is chosen when it is submitted.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Add,
    Rotate,
    Remove,
}

/// The run's changes: what kind each is, drawn from the seed, and the target chosen when it is
/// submitted, from the validator set the committed state names then (the central bank has one
/// transaction in flight, so the set it commits into is that one). Whether each applies is the
/// ledger's to say: a change its rules refuse (a validator already removed, a key in use) is a
/// receipt with its code, and the checker's independent ledger re-executes it like any other.
///
/// One choice is the scenario's, not the ledger's: an honest validator is removed only while
/// the Byzantine identities stay within what the smaller set tolerates ((n - 1) / 3); a
/// Byzantine one may always be removed, as a central bank removes a misbehaving validator.
/// Beyond that bound no protocol promises liveness, and the negative control covers it.
pub struct Plan {
    /// Each slot's kind and the random number that picks its target.
    slots: Vec<(Kind, u64)>,
    /// Byzantine identities (twins included), by identity.
    byzantine: Vec<bool>,
    /// Rotations submitted so far, by identity: the next one moves to the key after.
    rotations: Vec<usize>,
}

impl Plan {
    /// No change: a run without reconfiguration.
    pub fn none() -> Plan {
        Plan {
            slots: Vec::new(),
            byzantine: Vec::new(),
            rotations: Vec::new(),
        }
    }

    /// `count` changes: the first spare added first, if there is one; then rotations and
    /// removals, half and half, drawn from the seed. `byzantine` tells, by identity, which are.
    pub fn draw(rng: &mut Rng, spares: usize, count: usize, byzantine: Vec<bool>) -> Plan {
        let mut slots = Vec::new();
        if spares > 0 && count > 0 {
            slots.push((Kind::Add, rng.next_u64()));
        }
        while slots.len() < count {
            let kind = if rng.chance(500) {
                Kind::Rotate
            } else {
                Kind::Remove
            };
            slots.push((kind, rng.next_u64()));
        }
        Plan {
            slots,
            rotations: vec![0; byzantine.len()],
            byzantine,
        }
    }

    /// The slot the central bank's `sequence`-th transaction fills, if it is a change: every
    /// other one from the first, until the plan is done.
    pub fn slot(&self, sequence: u64) -> Option<usize> {
        let slot = (sequence / 2) as usize;
        (sequence.is_multiple_of(2) && slot < self.slots.len()).then_some(slot)
    }

    /// The index of the central bank's `sequence`-th transaction among its ordinary ones (not
    /// changes), so that the ordinary workload runs through its kinds as without a plan.
    pub fn ordinary(&self, sequence: u64) -> u64 {
        let changes = self.slots.len() as u64;
        if sequence < 2 * changes {
            sequence / 2
        } else {
            sequence - changes
        }
    }

    /// The change of `slot`, its target chosen among `members` (the current validators).
    pub fn change(
        &mut self,
        slot: usize,
        members: &[GenesisValidator],
        identities: &[Identity],
    ) -> Change {
        let (kind, pick) = self.slots[slot];
        let members: Vec<usize> = members
            .iter()
            .filter_map(|m| identities.iter().position(|i| i.name == m.name))
            .collect();
        let spare = |identity: &usize| identities[*identity].name.starts_with("spare-");
        let chosen = |candidates: &[usize]| candidates[(pick % candidates.len() as u64) as usize];
        match kind {
            Kind::Add => {
                let spares: Vec<usize> = (0..identities.len()).filter(spare).collect();
                // With every spare in, the first again: refused, as a duplicate.
                let identity = spares
                    .iter()
                    .copied()
                    .find(|i| !members.contains(i))
                    .or(spares.first().copied())
                    .expect("a run that adds validators has a spare");
                Change::Add { identity }
            }
            Kind::Remove => {
                let byzantine = members.iter().filter(|m| self.byzantine[**m]).count();
                let tolerated = members.len().saturating_sub(2) / 3 >= byzantine;
                let candidates: Vec<usize> = members
                    .iter()
                    .copied()
                    .filter(|m| self.byzantine[*m] || tolerated)
                    .collect();
                if candidates.is_empty() {
                    return self.rotate(chosen(&members));
                }
                Change::Remove {
                    identity: chosen(&candidates),
                }
            }
            Kind::Rotate => self.rotate(chosen(&members)),
        }
    }

    fn rotate(&mut self, identity: usize) -> Change {
        // Past the staged keys, the last again: refused, as the key it already has.
        self.rotations[identity] = (self.rotations[identity] + 1).min(MAX_ROTATIONS);
        Change::Rotate {
            identity,
            rotation: self.rotations[identity],
        }
    }
}

/// A change as the transaction's payload, with the proof of possession the new key signs.
pub fn payload(net: &TestNetwork, identities: &[Identity], change: Change) -> Payload {
    let chain_id = &net.genesis.chain_id;
    let possession =
        |key: &Keypair| key.sign(&proof_of_possession_message(chain_id, &key.public_key()));
    match change {
        Change::Add { identity } => {
            let identity = &identities[identity];
            let key = &identity.keys[0];
            Payload::AddValidator(AddValidator {
                validator: GenesisValidator {
                    name: identity.name.clone(),
                    consensus_key: key.public_key(),
                    address: "/ip4/127.0.0.1/tcp/7900".into(),
                },
                proof_of_possession: possession(key),
            })
        }
        Change::Rotate { identity, rotation } => {
            let identity = &identities[identity];
            let key = &identity.keys[rotation];
            Payload::RotateValidatorKey(RotateValidatorKey {
                name: identity.name.clone(),
                new_key: key.public_key(),
                proof_of_possession: possession(key),
            })
        }
        Change::Remove { identity } => Payload::RemoveValidator(RemoveValidator {
            name: identities[identity].name.clone(),
        }),
    }
}
