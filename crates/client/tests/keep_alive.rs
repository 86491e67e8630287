//! A node closes a kept-alive connection that stays idle for its header read timeout (5 s by
//! default). A request sent on such a connection just as the node closes it is never read: the
//! client must not report the node unreachable for it. Here a raw TCP server closes the first
//! connection when its second request arrives, unanswered: the same race, made certain.

use tenge_client::Client;
use tenge_client::views::{NodeMode, StatusView};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn status_response() -> Vec<u8> {
    let body = serde_json::to_vec(&StatusView {
        mode: NodeMode::Validator,
        chain_id: "tenge-test".into(),
        height: 7,
        block_id: "00".into(),
        state_root: "00".into(),
        block_time_ms: 0,
        round: 9,
        peers: 0,
        syncing: false,
        mempool_transactions: 0,
        halted: None,
    })
    .unwrap();
    let mut response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(&body);
    response
}

/// Reads one request head; false if the connection closed first.
async fn read_request(stream: &mut TcpStream) -> bool {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return false,
        }
    }
    true
}

#[tokio::test]
async fn a_request_on_a_connection_the_node_closed_as_idle_is_sent_again() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        // First connection: one answer, then the next request is cut off unread.
        let (mut first, _) = listener.accept().await.unwrap();
        assert!(read_request(&mut first).await);
        first.write_all(&status_response()).await.unwrap();
        assert!(
            read_request(&mut first).await,
            "the client reuses the connection"
        );
        drop(first);
        // Every later connection is answered.
        let mut answered = 0;
        while let Ok((mut stream, _)) = listener.accept().await {
            while read_request(&mut stream).await {
                stream.write_all(&status_response()).await.unwrap();
                answered += 1;
                if answered == 1 {
                    return answered;
                }
            }
        }
        answered
    });
    let client = Client::new(&format!("http://{address}"));
    assert_eq!(client.status().await.expect("first request").height, 7);
    let second = client.status().await;
    assert_eq!(second.expect("the request the node closed unread").round, 9);
    assert_eq!(server.await.unwrap(), 1);
}
