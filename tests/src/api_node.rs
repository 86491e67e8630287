//! One validator in process behind the real HTTP API (real RocksDB, real libp2p, real HTTP), for
//! the tests of the API against a single node.

use std::sync::Arc;

use tenge_engine::{EngineConfig, EngineLimits, Mode};
use tenge_ledger::testkit::TestNetwork;

/// A node serving its API until the test ends.
pub struct ApiNode {
    /// The node's data directory, deleted when the node is dropped.
    pub dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT` of the API.
    pub url: String,
    /// The node behind the API, for tests that reach into it (its ledger lock, its status).
    pub engine: tenge_engine::EngineHandle,
}

/// Starts validator 0 of `net` with `limits` and serves its API on a free loopback port. Other
/// validators of `net` are not started: with more than one in the genesis nothing commits.
pub async fn serve_validator(net: &TestNetwork, limits: EngineLimits) -> ApiNode {
    let dir = tempfile::tempdir().expect("temporary data directory");
    let config = EngineConfig {
        mode: Mode::Validator,
        genesis: net.genesis.clone(),
        key: Arc::new(tenge_crypto::Keypair::from_secret(
            net.validators[0].secret_bytes(),
        )),
        data_dir: dir.path().to_path_buf(),
        listen_address: "/ip4/127.0.0.1/tcp/0".into(),
        extra_peers: vec![],
        consensus: tenge_consensus::Config::default(),
        limits,
        network: Default::default(),
    };
    let engine = tenge_engine::start(config)
        .await
        .expect("the engine starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free loopback port for the API");
    let url = format!(
        "http://{}",
        listener.local_addr().expect("the listener's address")
    );
    tokio::spawn(tenge_api::serve(
        listener,
        engine.clone(),
        std::future::pending(),
    ));
    tenge_api::tls::install_default_provider();
    ApiNode { dir, url, engine }
}

/// Gives every validator of `net`'s genesis a free loopback port, so the started validator's
/// dials of the others fail fast instead of reaching another test's node.
pub fn give_free_ports(net: &mut TestNetwork) {
    let ports = crate::byzantine::free_ports(net.genesis.validators.len());
    for (validator, port) in net.genesis.validators.iter_mut().zip(ports) {
        validator.address = format!("/ip4/127.0.0.1/tcp/{port}");
    }
}
