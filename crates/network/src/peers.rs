//! The peer book: what this node knows of each listed peer and the rules it applies to them
//! (rate limits in token buckets, decaying penalty points, bans and their lifting, messages in
//! flight, pending sync replies, redial backoff).
//!
//! Pure: no swarm, no tokio, no clock. The time is an argument, so the rules are tested without a
//! network and without sleeping; the event loop reads the clock, performs what the book decides
//! (blocking a peer, dialling it) and writes the log lines and metrics.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId};

use crate::{Channel, NetworkLimits, PublicKey};

/// Points per penalty, and the points at which a peer is banned: a fifth penalty soon after four
/// others. Points halve every `penalty_half_life_ms`, so a peer penalised less often than about
/// once per 0.36 half-lives (10 / (1 - 2^-0.36) < 45) is never banned.
const PENALTY_POINTS: f64 = 10.0;
const BAN_POINTS: f64 = 45.0;

/// `per_second` tokens a second, holding at most `capacity`.
struct TokenBucket {
    tokens: f64,
    capacity: f64,
    per_second: f64,
    refilled: Instant,
}

impl TokenBucket {
    fn new(per_second: f64, capacity: f64, now: Instant) -> TokenBucket {
        TokenBucket {
            tokens: capacity,
            capacity,
            per_second,
            refilled: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.refilled = now;
    }

    /// Takes `amount` tokens if there are that many.
    fn take(&mut self, amount: f64, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= amount {
            self.tokens -= amount;
            true
        } else {
            false
        }
    }
}

/// What a peer may send on one message channel: messages and bytes; a message needs both.
struct ChannelBudget {
    messages: TokenBucket,
    bytes: TokenBucket,
}

impl ChannelBudget {
    fn new(
        messages_per_second: u32,
        bytes_per_second: u64,
        max_message_bytes: usize,
        now: Instant,
    ) -> ChannelBudget {
        let messages = f64::from(messages_per_second);
        let bytes = bytes_per_second as f64;
        ChannelBudget {
            messages: TokenBucket::new(messages, messages, now),
            // Room for at least one largest message, or a legal message could never pass.
            bytes: TokenBucket::new(bytes, bytes.max(max_message_bytes as f64), now),
        }
    }

    fn admit(&mut self, length: usize, now: Instant) -> bool {
        self.messages.refill(now);
        self.bytes.refill(now);
        let length = length as f64;
        if self.messages.tokens >= 1.0 && self.bytes.tokens >= length {
            self.messages.tokens -= 1.0;
            self.bytes.tokens -= length;
            true
        } else {
            false
        }
    }
}

struct PeerState {
    key: PublicKey,
    address: Option<Multiaddr>,
    /// Penalty points as of `penalised`; they decay from there.
    penalty_points: f64,
    penalised: Instant,
    banned_until: Option<Instant>,
    consensus: ChannelBudget,
    transactions: ChannelBudget,
    sync_requests: TokenBucket,
    pending_sync_replies: usize,
    consensus_in_flight: usize,
    transactions_in_flight: usize,
    /// Messages and requests from this peer dropped for its limits, and messages to it dropped
    /// because it did not keep up: counted for warnings that do not flood the log.
    dropped_inbound: u64,
    dropped_outbound: u64,
    next_dial: Instant,
    redial_backoff: Duration,
    /// Dials of this peer that failed since it was last connected: warnings name a peer that
    /// keeps failing without flooding the log.
    dial_failures: u64,
}

impl PeerState {
    fn new(
        key: PublicKey,
        address: Option<Multiaddr>,
        limits: &NetworkLimits,
        now: Instant,
    ) -> PeerState {
        PeerState {
            key,
            address,
            penalty_points: 0.0,
            penalised: now,
            banned_until: None,
            consensus: ChannelBudget::new(
                limits.consensus_messages_per_second_per_peer,
                limits.consensus_bytes_per_second_per_peer,
                limits.max_message_bytes,
                now,
            ),
            transactions: ChannelBudget::new(
                limits.transaction_batches_per_second_per_peer,
                limits.transaction_bytes_per_second_per_peer,
                limits.max_message_bytes,
                now,
            ),
            sync_requests: TokenBucket::new(
                f64::from(limits.sync_requests_per_second_per_peer),
                f64::from(limits.sync_requests_per_second_per_peer),
                now,
            ),
            pending_sync_replies: 0,
            consensus_in_flight: 0,
            transactions_in_flight: 0,
            dropped_inbound: 0,
            dropped_outbound: 0,
            next_dial: now,
            redial_backoff: Duration::from_millis(limits.redial_backoff_initial_ms),
            dial_failures: 0,
        }
    }

    fn in_flight(&mut self, channel: Channel) -> &mut usize {
        match channel {
            Channel::Consensus => &mut self.consensus_in_flight,
            Channel::Transactions => &mut self.transactions_in_flight,
        }
    }

    fn budget(&mut self, channel: Channel) -> &mut ChannelBudget {
        match channel {
            Channel::Consensus => &mut self.consensus,
            Channel::Transactions => &mut self.transactions,
        }
    }
}

/// What a penalty did to a listed peer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Penalty {
    pub key: PublicKey,
    /// The peer's points after this penalty (the earlier ones decayed).
    pub points: f64,
    /// This penalty banned the peer (it was not banned before).
    pub banned: bool,
}

/// What becomes of a one-way message from a peer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Admission {
    /// Not in the peer list: dropped, nothing counted.
    Unlisted,
    Admitted {
        from: PublicKey,
    },
    /// Over the peer's rate on this channel: dropped. `dropped` counts the peer's inbound drops
    /// so far; `penalty` is what the excess cost it (consensus only).
    OverLimit {
        from: PublicKey,
        dropped: u64,
        penalty: Option<Penalty>,
    },
}

/// What becomes of a sync request from a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncAdmission {
    /// Not in the peer list: refused, nothing counted.
    Unlisted,
    /// Accepted: it holds one of the peer's pending-reply slots until
    /// [`PeerBook::sync_reply_done`].
    Admitted { from: PublicKey },
    /// Over the peer's request rate or pending-reply limit: refused, without penalty.
    Refused {
        from: PublicKey,
        dropped: u64,
        pending: usize,
    },
}

/// Whether a one-way message to a peer may be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outbound {
    /// Not in the peer list: not sent.
    Unlisted,
    /// Sent: it counts as in flight until [`PeerBook::outbound_done`].
    Reserved,
    /// Too many messages to this peer unacknowledged on this channel: dropped.
    NotKeepingUp { key: PublicKey, dropped: u64 },
}

/// A failed dial of a listed peer, counted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DialFailure {
    pub key: PublicKey,
    pub address: Option<Multiaddr>,
    /// Dials of this peer failed since it was last connected, this one included.
    pub failures: u64,
}

/// The listed peers, by libp2p peer id, and the limits that apply to each.
pub struct PeerBook {
    peers: HashMap<PeerId, PeerState>,
    limits: NetworkLimits,
}

impl PeerBook {
    pub fn new(limits: NetworkLimits) -> PeerBook {
        PeerBook {
            peers: HashMap::new(),
            limits,
        }
    }

    /// Lists a peer: its buckets start full, it has no penalty and it is due for a dial now.
    pub fn insert(&mut self, id: PeerId, key: PublicKey, address: Option<Multiaddr>, now: Instant) {
        let state = PeerState::new(key, address, &self.limits, now);
        self.peers.insert(id, state);
    }

    /// Unlists a peer. Returns its key if it was listed.
    pub(crate) fn remove(&mut self, id: &PeerId) -> Option<PublicKey> {
        self.peers.remove(id).map(|peer| peer.key)
    }

    /// Every listed peer and its configured address.
    pub(crate) fn listed(&self) -> impl Iterator<Item = (&PeerId, Option<&Multiaddr>)> {
        self.peers
            .iter()
            .map(|(id, peer)| (id, peer.address.as_ref()))
    }

    pub(crate) fn key_of(&self, id: &PeerId) -> Option<PublicKey> {
        self.peers.get(id).map(|peer| peer.key)
    }

    pub(crate) fn id_of(&self, key: &PublicKey) -> Option<PeerId> {
        self.peers
            .iter()
            .find(|(_, peer)| peer.key == *key)
            .map(|(id, _)| *id)
    }

    pub(crate) fn address(&self, id: &PeerId) -> Option<&Multiaddr> {
        self.peers.get(id).and_then(|peer| peer.address.as_ref())
    }

    /// Listed peers not banned now: the ones a broadcast goes to.
    pub(crate) fn unbanned(&self) -> Vec<PeerId> {
        self.peers
            .iter()
            .filter(|(_, peer)| peer.banned_until.is_none())
            .map(|(id, _)| *id)
            .collect()
    }

    /// Charges a penalty at `now`: the earlier points decay by their age, this one adds
    /// `PENALTY_POINTS`, and reaching `BAN_POINTS` bans the peer for `ban_seconds`. `None` if the
    /// peer is not listed.
    pub(crate) fn penalize(&mut self, id: &PeerId, now: Instant) -> Option<Penalty> {
        let ban = Duration::from_secs(self.limits.ban_seconds);
        let half_life = Duration::from_millis(self.limits.penalty_half_life_ms).as_secs_f64();
        let peer = self.peers.get_mut(id)?;
        let elapsed = now.saturating_duration_since(peer.penalised).as_secs_f64();
        peer.penalty_points =
            peer.penalty_points * 0.5f64.powf(elapsed / half_life) + PENALTY_POINTS;
        peer.penalised = now;
        let banned = peer.penalty_points >= BAN_POINTS && peer.banned_until.is_none();
        if banned {
            peer.banned_until = Some(now + ban);
        }
        Some(Penalty {
            key: peer.key,
            points: peer.penalty_points,
            banned,
        })
    }

    /// Lifts the bans that have run out by `now`, forgetting the peers' points and making them
    /// due for a dial at once. Returns the peers to unblock.
    pub(crate) fn lift_expired_bans(&mut self, now: Instant) -> Vec<(PeerId, PublicKey)> {
        let mut lifted = Vec::new();
        for (id, peer) in self.peers.iter_mut() {
            if peer.banned_until.is_some_and(|until| until <= now) {
                peer.banned_until = None;
                peer.penalty_points = 0.0;
                peer.next_dial = now;
                lifted.push((*id, peer.key));
            }
        }
        lifted
    }

    /// Checks a one-way message of `length` bytes from a peer against its budget on `channel`.
    pub(crate) fn admit_message(
        &mut self,
        id: &PeerId,
        channel: Channel,
        length: usize,
        now: Instant,
    ) -> Admission {
        let Some(peer) = self.peers.get_mut(id) else {
            return Admission::Unlisted;
        };
        let from = peer.key;
        if peer.budget(channel).admit(length, now) {
            return Admission::Admitted { from };
        }
        peer.dropped_inbound += 1;
        let dropped = peer.dropped_inbound;
        // Honest validators stay far below the consensus limits, so exceeding them is abuse.
        // Gossip volume follows client load, which is honest; it costs only the message.
        let penalty = match channel {
            Channel::Consensus => self.penalize(id, now),
            Channel::Transactions => None,
        };
        Admission::OverLimit {
            from,
            dropped,
            penalty,
        }
    }

    /// Checks a sync request from a peer against its pending replies and its request rate.
    pub fn admit_sync_request(&mut self, id: &PeerId, now: Instant) -> SyncAdmission {
        let max_pending = self.limits.max_pending_sync_replies_per_peer;
        let Some(peer) = self.peers.get_mut(id) else {
            return SyncAdmission::Unlisted;
        };
        let from = peer.key;
        // A catching-up node may ask quickly; refusing bounds the cost without a penalty.
        if peer.pending_sync_replies >= max_pending || !peer.sync_requests.take(1.0, now) {
            peer.dropped_inbound += 1;
            return SyncAdmission::Refused {
                from,
                dropped: peer.dropped_inbound,
                pending: peer.pending_sync_replies,
            };
        }
        peer.pending_sync_replies += 1;
        SyncAdmission::Admitted { from }
    }

    /// A sync request of this peer was answered or given up: its slot is free.
    pub fn sync_reply_done(&mut self, id: &PeerId) {
        if let Some(peer) = self.peers.get_mut(id) {
            peer.pending_sync_replies = peer.pending_sync_replies.saturating_sub(1);
        }
    }

    /// Takes one of the peer's in-flight slots on `channel` for a message to it, if one is free.
    pub(crate) fn reserve_outbound(&mut self, id: &PeerId, channel: Channel) -> Outbound {
        let limit = self.limits.max_outbound_messages_in_flight_per_peer;
        let Some(peer) = self.peers.get_mut(id) else {
            return Outbound::Unlisted;
        };
        let in_flight = peer.in_flight(channel);
        if *in_flight >= limit {
            peer.dropped_outbound += 1;
            return Outbound::NotKeepingUp {
                key: peer.key,
                dropped: peer.dropped_outbound,
            };
        }
        *in_flight += 1;
        Outbound::Reserved
    }

    /// A message to this peer was acknowledged or failed: it no longer counts as in flight.
    pub(crate) fn outbound_done(&mut self, id: &PeerId, channel: Channel) {
        if let Some(peer) = self.peers.get_mut(id) {
            let in_flight = peer.in_flight(channel);
            *in_flight = in_flight.saturating_sub(1);
        }
    }

    /// Listed peers to dial at `now`: not banned, with an address, past their backoff, and not
    /// connected.
    pub(crate) fn due_for_dial(
        &self,
        now: Instant,
        is_connected: impl Fn(&PeerId) -> bool,
    ) -> Vec<PeerId> {
        self.peers
            .iter()
            .filter(|(id, peer)| {
                peer.banned_until.is_none()
                    && peer.address.is_some()
                    && peer.next_dial <= now
                    && !is_connected(id)
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// A dial of this peer started at `now`: the next waits for its backoff, which doubles up to
    /// `redial_backoff_max_ms`.
    pub(crate) fn dialled(&mut self, id: &PeerId, now: Instant) {
        let backoff_max = Duration::from_millis(self.limits.redial_backoff_max_ms);
        if let Some(peer) = self.peers.get_mut(id) {
            peer.next_dial = now + peer.redial_backoff;
            peer.redial_backoff = (peer.redial_backoff * 2).min(backoff_max);
        }
    }

    /// A dial of this peer failed (one that was made). `None` if the peer is not listed.
    pub(crate) fn dial_failed(&mut self, id: &PeerId) -> Option<DialFailure> {
        let peer = self.peers.get_mut(id)?;
        peer.dial_failures += 1;
        Some(DialFailure {
            key: peer.key,
            address: peer.address.clone(),
            failures: peer.dial_failures,
        })
    }

    /// A connection with this peer was established: dials that keep failing are counted afresh.
    pub(crate) fn connected(&mut self, id: &PeerId) {
        let initial = Duration::from_millis(self.limits.redial_backoff_initial_ms);
        if let Some(peer) = self.peers.get_mut(id) {
            peer.redial_backoff = initial;
            peer.dial_failures = 0;
        }
    }

    /// The last connection with this peer closed at `now`. Returns its key if it is listed.
    pub(crate) fn disconnected(&mut self, id: &PeerId, now: Instant) -> Option<PublicKey> {
        let peer = self.peers.get_mut(id)?;
        // Redial at once; the backoff only slows down dials that keep failing.
        peer.next_dial = now;
        Some(peer.key)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use libp2p::{Multiaddr, PeerId};
    use tenge_crypto::Keypair;

    use super::{Admission, Outbound, PeerBook, Penalty, SyncAdmission};
    use crate::{Channel, NetworkLimits, PublicKey};

    fn peer(seed: u8) -> (PeerId, PublicKey) {
        let key = Keypair::from_secret([seed; 32]).public_key();
        (crate::peer_id(&key).expect("an ed25519 key"), key)
    }

    fn address(port: u16) -> Multiaddr {
        format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()
    }

    /// A book of one listed peer with an address, made at `now`.
    fn book_of_one(limits: NetworkLimits, now: Instant) -> (PeerBook, PeerId, PublicKey) {
        let (id, key) = peer(1);
        let mut book = PeerBook::new(limits);
        book.insert(id, key, Some(address(7101)), now);
        (book, id, key)
    }

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[test]
    fn a_penalty_halves_every_half_life() {
        let limits = NetworkLimits {
            penalty_half_life_ms: 10_000,
            ..NetworkLimits::default()
        };
        let start = Instant::now();
        let (mut book, id, key) = book_of_one(limits, start);
        assert_eq!(
            book.penalize(&id, start),
            Some(Penalty {
                key,
                points: 10.0,
                banned: false
            })
        );
        // One half-life later the first penalty weighs 5, the new one 10.
        let later = book.penalize(&id, start + ms(10_000)).unwrap();
        assert!((later.points - 15.0).abs() < 1e-9, "{later:?}");
        // After many half-lives the history is as good as forgotten.
        let much_later = book.penalize(&id, start + ms(10_000 + 200_000)).unwrap();
        assert!((much_later.points - 10.0).abs() < 1e-3, "{much_later:?}");
        assert!(!much_later.banned);
    }

    #[test]
    fn five_penalties_in_quick_succession_ban_and_only_once() {
        let start = Instant::now();
        let (mut book, id, _) = book_of_one(NetworkLimits::default(), start);
        let banned: Vec<bool> = (0..6)
            .map(|i| book.penalize(&id, start + ms(i)).unwrap().banned)
            .collect();
        // The fifth reaches 45 points (almost 50); the sixth finds the peer banned already.
        assert_eq!(banned, [false, false, false, false, true, false]);
        assert!(!book.unbanned().contains(&id));
    }

    /// The constants' promise: a peer penalised once per 0.4 half-lives, for ever, is never
    /// banned (its points tend to 10 / (1 - 2^-0.4) = 41.6 < 45); once per 0.3 half-lives it is.
    #[test]
    fn occasional_penalties_never_add_up_to_a_ban() {
        let limits = NetworkLimits {
            penalty_half_life_ms: 10_000,
            ..NetworkLimits::default()
        };
        let start = Instant::now();
        let (mut book, id, _) = book_of_one(limits.clone(), start);
        let mut highest: f64 = 0.0;
        for i in 0..1_000 {
            let penalty = book.penalize(&id, start + ms(4_000 * i)).unwrap();
            assert!(!penalty.banned, "banned at penalty {i}: {penalty:?}");
            highest = highest.max(penalty.points);
        }
        assert!(highest > 40.0 && highest < 45.0, "{highest}");

        let (mut book, id, _) = book_of_one(limits, start);
        assert!(
            (0..1_000).any(|i| book.penalize(&id, start + ms(3_000 * i)).unwrap().banned),
            "a penalty every 0.3 half-lives must end in a ban"
        );
    }

    /// An honest peer sending consensus messages at its full rate, for ten minutes, has every
    /// message admitted and is never penalised.
    #[test]
    fn an_honest_peer_under_its_rate_never_reaches_the_ban_score() {
        let limits = NetworkLimits {
            consensus_messages_per_second_per_peer: 100,
            consensus_bytes_per_second_per_peer: 100 * 1_000,
            ..NetworkLimits::default()
        };
        let start = Instant::now();
        let (mut book, id, key) = book_of_one(limits, start);
        // One 1,000-byte message every 10 ms: exactly the message and the byte rate.
        for i in 0..60_000 {
            assert_eq!(
                book.admit_message(&id, Channel::Consensus, 1_000, start + ms(10 * i)),
                Admission::Admitted { from: key },
                "message {i}"
            );
        }
        assert!(book.unbanned().contains(&id));
        // With no penalty in its history, its first one counts 10 points.
        assert_eq!(
            book.penalize(&id, start + ms(600_000)).unwrap().points,
            10.0
        );
    }

    /// A burst above the message rate: the excess on the consensus channel is dropped and
    /// penalised until the peer is banned; on the gossip channel it is only dropped.
    #[test]
    fn a_consensus_flood_is_penalised_and_banned_gossip_is_only_dropped() {
        let limits = NetworkLimits {
            consensus_messages_per_second_per_peer: 10,
            transaction_batches_per_second_per_peer: 10,
            ..NetworkLimits::default()
        };
        let now = Instant::now();
        let (mut book, id, key) = book_of_one(limits, now);
        for _ in 0..10 {
            assert_eq!(
                book.admit_message(&id, Channel::Transactions, 100, now),
                Admission::Admitted { from: key }
            );
        }
        for dropped in 1..=100 {
            assert_eq!(
                book.admit_message(&id, Channel::Transactions, 100, now),
                Admission::OverLimit {
                    from: key,
                    dropped,
                    penalty: None
                }
            );
        }
        assert!(book.unbanned().contains(&id), "gossip never bans");

        for _ in 0..10 {
            assert_eq!(
                book.admit_message(&id, Channel::Consensus, 100, now),
                Admission::Admitted { from: key }
            );
        }
        let penalties: Vec<Penalty> = (0..5)
            .map(
                |_| match book.admit_message(&id, Channel::Consensus, 100, now) {
                    Admission::OverLimit {
                        penalty: Some(penalty),
                        ..
                    } => penalty,
                    other => panic!("consensus over the limit must be penalised: {other:?}"),
                },
            )
            .collect();
        assert_eq!(
            penalties.iter().map(|p| p.banned).collect::<Vec<_>>(),
            [false, false, false, false, true]
        );
        assert!(!book.unbanned().contains(&id));
    }

    /// The byte budget holds one second's bytes; a peer over it is refused even with message
    /// tokens to spare, and admitted again once the bucket has refilled.
    #[test]
    fn a_peer_over_the_byte_budget_of_a_channel_is_refused() {
        let limits = NetworkLimits {
            max_message_bytes: 1_000,
            transaction_bytes_per_second_per_peer: 1_000,
            transaction_batches_per_second_per_peer: 1_000,
            ..NetworkLimits::default()
        };
        let start = Instant::now();
        let (mut book, id, key) = book_of_one(limits, start);
        let admitted = Admission::Admitted { from: key };
        assert_eq!(
            book.admit_message(&id, Channel::Transactions, 600, start),
            admitted
        );
        assert_eq!(
            book.admit_message(&id, Channel::Transactions, 600, start),
            Admission::OverLimit {
                from: key,
                dropped: 1,
                penalty: None
            }
        );
        // The other channel has its own budget.
        assert_eq!(
            book.admit_message(&id, Channel::Consensus, 600, start),
            admitted
        );
        // 200 bytes refilled after 200 ms: 400 + 200 = 600 bytes, just enough.
        assert_eq!(
            book.admit_message(&id, Channel::Transactions, 601, start + ms(200)),
            Admission::OverLimit {
                from: key,
                dropped: 2,
                penalty: None
            }
        );
        assert_eq!(
            book.admit_message(&id, Channel::Transactions, 600, start + ms(200)),
            admitted
        );
    }

    /// A byte rate below the largest message still lets one largest message through per burst.
    #[test]
    fn the_byte_budget_holds_at_least_one_largest_message() {
        let limits = NetworkLimits {
            max_message_bytes: 4_000,
            consensus_bytes_per_second_per_peer: 1_000,
            ..NetworkLimits::default()
        };
        let start = Instant::now();
        let (mut book, id, key) = book_of_one(limits, start);
        assert_eq!(
            book.admit_message(&id, Channel::Consensus, 4_000, start),
            Admission::Admitted { from: key }
        );
        // It refills at 1,000 bytes a second: four seconds until the next one.
        assert!(matches!(
            book.admit_message(&id, Channel::Consensus, 4_000, start + ms(3_900)),
            Admission::OverLimit { .. }
        ));
        assert_eq!(
            book.admit_message(&id, Channel::Consensus, 4_000, start + ms(8_000)),
            Admission::Admitted { from: key }
        );
    }

    #[test]
    fn a_ban_lifts_after_its_duration() {
        let limits = NetworkLimits {
            ban_seconds: 60,
            ..NetworkLimits::default()
        };
        let start = Instant::now();
        let (mut book, id, key) = book_of_one(limits, start);
        for _ in 0..5 {
            book.penalize(&id, start);
        }
        assert!(!book.unbanned().contains(&id));
        assert!(book.lift_expired_bans(start + ms(59_999)).is_empty());
        assert!(
            book.due_for_dial(start + ms(59_999), |_| false).is_empty(),
            "a banned peer is not dialled"
        );
        let lifted_at = start + ms(60_000);
        assert_eq!(book.lift_expired_bans(lifted_at), [(id, key)]);
        assert!(book.unbanned().contains(&id));
        assert_eq!(book.due_for_dial(lifted_at, |_| false), [id]);
        assert!(book.lift_expired_bans(lifted_at).is_empty(), "lifted once");
        // Its points were forgotten: a new penalty starts from zero.
        let penalty = book.penalize(&id, lifted_at).unwrap();
        assert_eq!((penalty.points, penalty.banned), (10.0, false));
    }

    #[test]
    fn unlisted_peers_are_refused() {
        let now = Instant::now();
        let (mut book, _, _) = book_of_one(NetworkLimits::default(), now);
        let (stranger, stranger_key) = peer(2);
        assert_eq!(
            book.admit_message(&stranger, Channel::Consensus, 1, now),
            Admission::Unlisted
        );
        assert_eq!(
            book.admit_message(&stranger, Channel::Transactions, 1, now),
            Admission::Unlisted
        );
        assert_eq!(
            book.admit_sync_request(&stranger, now),
            SyncAdmission::Unlisted
        );
        assert_eq!(
            book.reserve_outbound(&stranger, Channel::Consensus),
            Outbound::Unlisted
        );
        assert_eq!(book.penalize(&stranger, now), None);
        assert_eq!(book.key_of(&stranger), None);
        assert_eq!(book.id_of(&stranger_key), None);
        assert_eq!(book.dial_failed(&stranger), None);
        assert_eq!(book.disconnected(&stranger, now), None);
    }

    #[test]
    fn sync_requests_are_capped_by_pending_replies_and_by_rate() {
        let limits = NetworkLimits {
            max_pending_sync_replies_per_peer: 2,
            sync_requests_per_second_per_peer: 3,
            ..NetworkLimits::default()
        };
        let start = Instant::now();
        let (mut book, id, key) = book_of_one(limits, start);
        let admitted = SyncAdmission::Admitted { from: key };
        assert_eq!(book.admit_sync_request(&id, start), admitted);
        assert_eq!(book.admit_sync_request(&id, start), admitted);
        assert_eq!(
            book.admit_sync_request(&id, start),
            SyncAdmission::Refused {
                from: key,
                dropped: 1,
                pending: 2
            }
        );
        book.sync_reply_done(&id);
        // A slot is free, and the bucket has one of its three tokens left.
        assert_eq!(book.admit_sync_request(&id, start), admitted);
        book.sync_reply_done(&id);
        book.sync_reply_done(&id);
        assert_eq!(
            book.admit_sync_request(&id, start),
            SyncAdmission::Refused {
                from: key,
                dropped: 2,
                pending: 0
            },
            "out of tokens"
        );
        // A third of a second brings one token back.
        assert_eq!(book.admit_sync_request(&id, start + ms(334)), admitted);
    }

    #[test]
    fn messages_in_flight_are_capped_per_peer_and_channel() {
        let limits = NetworkLimits {
            max_outbound_messages_in_flight_per_peer: 2,
            ..NetworkLimits::default()
        };
        let now = Instant::now();
        let (mut book, id, key) = book_of_one(limits, now);
        for _ in 0..2 {
            assert_eq!(
                book.reserve_outbound(&id, Channel::Transactions),
                Outbound::Reserved
            );
        }
        assert_eq!(
            book.reserve_outbound(&id, Channel::Transactions),
            Outbound::NotKeepingUp { key, dropped: 1 }
        );
        // Gossip the peer does not acknowledge leaves consensus its own slots.
        assert_eq!(
            book.reserve_outbound(&id, Channel::Consensus),
            Outbound::Reserved
        );
        book.outbound_done(&id, Channel::Transactions);
        assert_eq!(
            book.reserve_outbound(&id, Channel::Transactions),
            Outbound::Reserved
        );
    }

    #[test]
    fn redials_back_off_to_the_maximum_and_reset_on_connection() {
        let limits = NetworkLimits {
            redial_backoff_initial_ms: 250,
            redial_backoff_max_ms: 1_000,
            ..NetworkLimits::default()
        };
        let start = Instant::now();
        let (mut book, id, _) = book_of_one(limits, start);
        let (no_address, key) = peer(3);
        book.insert(no_address, key, None, start);
        assert_eq!(
            book.due_for_dial(start, |_| false),
            [id],
            "only with an address"
        );
        assert!(
            book.due_for_dial(start, |_| true).is_empty(),
            "not when connected"
        );

        // Dialled at once, then after 250, 500, 1,000 and 1,000 ms.
        let mut now = start;
        for wait in [250, 500, 1_000, 1_000] {
            book.dialled(&id, now);
            assert!(book.due_for_dial(now + ms(wait - 1), |_| false).is_empty());
            now += ms(wait);
            assert_eq!(book.due_for_dial(now, |_| false), [id]);
        }
        assert_eq!(book.dial_failed(&id).unwrap().failures, 1);
        assert_eq!(book.dial_failed(&id).unwrap().failures, 2);

        book.connected(&id);
        assert_eq!(book.dial_failed(&id).unwrap().failures, 1);
        book.dialled(&id, now);
        assert_eq!(book.due_for_dial(now + ms(250), |_| false), [id]);
        // A peer that disconnects is redialled at once, whatever its backoff.
        book.dialled(&id, now + ms(250));
        assert_eq!(
            book.disconnected(&id, now + ms(300)),
            Some(book.key_of(&id).unwrap())
        );
        assert_eq!(book.due_for_dial(now + ms(300), |_| false), [id]);
    }
}
