//! Real libp2p nodes on loopback: listed peers talk; unlisted peers cannot; oversized frames are
//! refused and their sender penalised until banned, without harming the receiver.

mod common;

use std::time::Duration;

use common::{connected, key, next_message, node, wait_until};
use tenge_network::{Channel, NetworkEvent, NetworkLimits, PeerConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listed_peers_exchange_messages_and_sync_requests() {
    let (a, b) = (key(1), key(2));
    let (client_a, mut events_a, address_a) = node(
        &a,
        vec![PeerConfig {
            key: b.public_key(),
            address: None,
        }],
        NetworkLimits::default(),
    )
    .await;
    let (client_b, mut events_b, _) = node(
        &b,
        vec![PeerConfig {
            key: a.public_key(),
            address: Some(address_a),
        }],
        NetworkLimits::default(),
    )
    .await;

    // B to A, one-way, retried until the connection is up.
    let mut received = None;
    for _ in 0..50 {
        client_b
            .send(a.public_key(), Channel::Consensus, b"vote".to_vec())
            .await
            .unwrap();
        if let Some(event) = next_message(&mut events_a, Duration::from_millis(200)).await {
            received = Some(event);
            break;
        }
    }
    match received.expect("A received B's message") {
        NetworkEvent::Message {
            from,
            channel,
            bytes,
        } => {
            assert_eq!(from, b.public_key());
            assert_eq!(channel, Channel::Consensus);
            assert_eq!(bytes, b"vote");
        }
        other => panic!("unexpected {other:?}"),
    }

    // A asks B for blocks; B answers.
    let request = tokio::spawn({
        let client_a = client_a.clone();
        let b_key = b.public_key();
        async move { client_a.request(b_key, b"blocks after 7".to_vec()).await }
    });
    match next_message(&mut events_b, Duration::from_secs(10))
        .await
        .expect("B got the request")
    {
        NetworkEvent::SyncRequest { from, bytes, reply } => {
            assert_eq!(from, a.public_key());
            assert_eq!(bytes, b"blocks after 7");
            reply.send(b"here they are".to_vec());
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(request.await.unwrap().unwrap(), b"here they are");
    assert!(client_a.peers().await.unwrap().contains(&b.public_key()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlisted_peers_cannot_connect_or_inject() {
    let (a, intruder) = (key(3), key(4));
    // A lists nobody but a third key; the intruder lists A and dials it.
    let (client_a, mut events_a, address_a) = node(
        &a,
        vec![PeerConfig {
            key: key(5).public_key(),
            address: None,
        }],
        NetworkLimits::default(),
    )
    .await;
    let (client_i, _events_i, _) = node(
        &intruder,
        vec![PeerConfig {
            key: a.public_key(),
            address: Some(address_a),
        }],
        NetworkLimits::default(),
    )
    .await;
    for _ in 0..20 {
        client_i
            .send(a.public_key(), Channel::Consensus, b"forged".to_vec())
            .await
            .unwrap();
        client_i
            .send(a.public_key(), Channel::Transactions, b"forged".to_vec())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        next_message(&mut events_a, Duration::from_millis(500))
            .await
            .is_none(),
        "A accepted an unlisted peer's message"
    );
    assert!(
        client_a.peers().await.unwrap().is_empty(),
        "an unlisted peer is connected"
    );
    assert!(
        client_i
            .request(a.public_key(), b"x".to_vec())
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_are_refused_and_the_sender_banned() {
    let (a, b) = (key(6), key(7));
    let small = NetworkLimits {
        max_message_bytes: 1_024,
        ban_seconds: 600,
        ..NetworkLimits::default()
    };
    let (client_a, mut events_a, address_a) = node(
        &a,
        vec![PeerConfig {
            key: b.public_key(),
            address: None,
        }],
        small,
    )
    .await;
    // B allows itself bigger messages than A accepts.
    let (client_b, _events_b, _) = node(
        &b,
        vec![PeerConfig {
            key: a.public_key(),
            address: Some(address_a),
        }],
        NetworkLimits::default(),
    )
    .await;
    // First make sure normal messages get through.
    let mut delivered = false;
    for _ in 0..50 {
        client_b
            .send(a.public_key(), Channel::Consensus, b"ok".to_vec())
            .await
            .unwrap();
        if next_message(&mut events_a, Duration::from_millis(200))
            .await
            .is_some()
        {
            delivered = true;
            break;
        }
    }
    assert!(delivered);
    for _ in 0..8 {
        client_b
            .send(a.public_key(), Channel::Consensus, vec![0u8; 4_096])
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // None of the oversized frames reached the node, and B is now banned.
    tokio::time::sleep(Duration::from_millis(500)).await;
    while let Ok(event) = events_a.try_recv() {
        if let NetworkEvent::Message { bytes, .. } = event {
            assert!(bytes.len() <= 1_024, "an oversized frame was delivered");
        }
    }
    client_b
        .send(a.public_key(), Channel::Consensus, b"after ban".to_vec())
        .await
        .unwrap();
    assert!(
        next_message(&mut events_a, Duration::from_secs(1))
            .await
            .is_none(),
        "a banned peer still got through"
    );
    // A is still working: its client answers.
    assert!(client_a.peers().await.is_ok());
}

/// Issue 13: a peer listed while the node runs (an observer admitted on chain) can connect from
/// then on, and one unlisted (removed) is disconnected at once and cannot come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_listed_and_unlisted_while_running() {
    let (a, newcomer) = (key(6), key(7));
    let (client_a, mut events_a, address_a) = node(
        &a,
        vec![PeerConfig {
            key: key(8).public_key(),
            address: None,
        }],
        NetworkLimits::default(),
    )
    .await;
    let (client_n, _events_n, _) = node(
        &newcomer,
        vec![PeerConfig {
            key: a.public_key(),
            address: Some(address_a),
        }],
        NetworkLimits::default(),
    )
    .await;
    // Not listed yet: nothing it sends arrives.
    assert_unheard(&client_n, &mut events_a, &a, "before it was listed").await;

    let admitted = vec![PeerConfig {
        key: newcomer.public_key(),
        address: None,
    }];
    client_a.admit(10, admitted.clone()).await.unwrap();
    // The same list again changes nothing; an older, empty list arriving late is ignored.
    client_a.admit(11, admitted.clone()).await.unwrap();
    client_a.admit(9, vec![]).await.unwrap();
    // The newcomer redials with its backoff (at most 8 s).
    assert!(
        wait_until(Duration::from_secs(20), || connected(&client_a, &newcomer)).await,
        "a peer listed while running never connected"
    );
    let mut delivered = false;
    for _ in 0..50 {
        client_n
            .send(a.public_key(), Channel::Consensus, b"hello".to_vec())
            .await
            .unwrap();
        if let Some(NetworkEvent::Message { from, .. }) =
            next_message(&mut events_a, Duration::from_millis(200)).await
        {
            assert_eq!(from, newcomer.public_key());
            delivered = true;
            break;
        }
    }
    assert!(delivered, "the newly listed peer's message never arrived");

    // A list that leaves it out unlists it: A closes the connection (the newcomer sees it go),
    // and what the newcomer sends while it keeps redialling does not arrive.
    client_a.admit(12, vec![]).await.unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || async {
            !connected(&client_n, &a).await
        })
        .await,
        "A kept the connection of a peer it unlisted"
    );
    assert_unheard(&client_n, &mut events_a, &a, "after it was unlisted").await;
    assert!(
        client_a
            .send(newcomer.public_key(), Channel::Consensus, b"x".to_vec())
            .await
            .is_ok(),
        "sending to an unlisted peer is dropped, not an error"
    );
    // A list with a malformed address is refused whole.
    let refused = client_a
        .admit(
            13,
            vec![PeerConfig {
                key: newcomer.public_key(),
                address: Some("not a multiaddr".into()),
            }],
        )
        .await;
    assert!(refused.is_err());
    assert_unheard(&client_n, &mut events_a, &a, "after a refused list").await;
}

/// A peer in the node's own configuration stays listed whatever the chain's lists say: an
/// operator's `[[peers]]` is not the chain's to override.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_peers_are_never_unlisted() {
    let (a, b) = (key(9), key(10));
    let (client_a, mut events_a, address_a) = node(
        &a,
        vec![PeerConfig {
            key: b.public_key(),
            address: None,
        }],
        NetworkLimits::default(),
    )
    .await;
    let (client_b, _events_b, _) = node(
        &b,
        vec![PeerConfig {
            key: a.public_key(),
            address: Some(address_a),
        }],
        NetworkLimits::default(),
    )
    .await;
    assert!(wait_until(Duration::from_secs(20), || connected(&client_a, &b)).await);
    // Admitted on chain as well, then removed there.
    let listed = vec![PeerConfig {
        key: b.public_key(),
        address: None,
    }];
    client_a.admit(1, listed).await.unwrap();
    client_a.admit(2, vec![]).await.unwrap();
    let mut delivered = false;
    for _ in 0..50 {
        client_b
            .send(a.public_key(), Channel::Consensus, b"still here".to_vec())
            .await
            .unwrap();
        if let Some(NetworkEvent::Message { from, .. }) =
            next_message(&mut events_a, Duration::from_millis(200)).await
        {
            assert_eq!(from, b.public_key());
            delivered = true;
            break;
        }
    }
    assert!(
        delivered,
        "a configured peer was unlisted by an admitted list"
    );
    assert!(connected(&client_b, &a).await);
}

/// `sender` sends to `to` twenty times, each time waiting up to 50 ms for it on `to`'s events:
/// none arrives.
async fn assert_unheard(
    sender: &tenge_network::NetworkClient,
    events: &mut tokio::sync::mpsc::Receiver<NetworkEvent>,
    to: &tenge_crypto::Keypair,
    when: &str,
) {
    for _ in 0..20 {
        sender
            .send(to.public_key(), Channel::Consensus, b"let me in".to_vec())
            .await
            .unwrap();
        assert!(
            next_message(events, Duration::from_millis(50))
                .await
                .is_none(),
            "a message of an unlisted peer arrived {when}"
        );
    }
}
