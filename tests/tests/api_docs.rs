//! The OpenAPI document against a real single-validator node (in process, real RocksDB, real
//! HTTP): it parses as OpenAPI 3 and describes exactly the routes the node serves.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;
use tenge_engine::{EngineConfig, EngineLimits, Mode};
use tenge_ledger::testkit::TestNetwork;

struct Node {
    _dir: tempfile::TempDir,
    url: String,
    http: reqwest::Client,
}

async fn node() -> Node {
    let net = TestNetwork::new(1, 1);
    let dir = tempfile::tempdir().unwrap();
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
        limits: EngineLimits::default(),
        network: Default::default(),
    };
    let engine = tenge_engine::start(config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(tenge_api::serve(listener, engine, std::future::pending()));
    tenge_api::tls::install_default_provider();
    Node {
        _dir: dir,
        url,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    }
}

struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

impl Node {
    async fn request(&self, method: reqwest::Method, path: &str) -> Answer {
        let response = self
            .http
            .request(method, format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
        };
        let content_type = header("content-type").unwrap_or_default();
        Answer {
            status: response.status().as_u16(),
            content_type,
            body: response.bytes().await.unwrap().to_vec(),
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.request(reqwest::Method::GET, path).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_lists_exactly_the_served_routes() {
    let node = node().await;
    let answer = node.get("/v1/openapi.json").await;
    assert_eq!(answer.status, 200);
    assert!(
        answer.content_type.starts_with("application/json"),
        "{}",
        answer.content_type
    );
    let document: Value = serde_json::from_slice(&answer.body).expect("the document is JSON");
    assert_eq!(document, tenge_api::openapi::document());
    let version = document["openapi"].as_str().expect("an OpenAPI version");
    assert!(version.starts_with("3."), "not OpenAPI 3: {version}");
    openapi_structure::check(&document);

    // Document and route table, both directions.
    let described: BTreeSet<(String, String)> = tenge_api::openapi::described_routes(&document)
        .into_iter()
        .collect();
    let served: BTreeSet<(String, String)> = tenge_api::ROUTES
        .iter()
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .collect();
    let not_served: Vec<_> = described.difference(&served).collect();
    let not_described: Vec<_> = served.difference(&described).collect();
    assert!(
        not_served.is_empty() && not_described.is_empty(),
        "described but not served: {not_served:?}; served but not described: {not_described:?}"
    );

    // The route table is what the node answers: each described operation reaches a handler,
    // and each other method on the same path is refused as a wrong method, not as no route.
    let paths: BTreeSet<&String> = described.iter().map(|(_, path)| path).collect();
    for path in paths {
        let concrete = path
            .replace("{hash}", &"ab".repeat(32))
            .replace("{id}", &"cd".repeat(32))
            .replace("{height}", "0");
        for method in ["get", "post", "put", "delete"] {
            let documented = described.contains(&(method.to_string(), path.clone()));
            if documented && path == "/v1/events" {
                continue; // a stream that never ends: tests/tests/api.rs reads it
            }
            let answer = node
                .request(method.to_uppercase().parse().unwrap(), &concrete)
                .await;
            let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
            assert_ne!(
                body["error"]["message"], "no such route; see /v1/openapi.json",
                "{method} {concrete} fell through to no route"
            );
            if documented {
                assert_ne!(
                    answer.status, 405,
                    "{method} {concrete} is documented but refused"
                );
            } else {
                assert_eq!(
                    answer.status, 405,
                    "{method} {concrete} is served but not documented"
                );
            }
        }
    }
    // A route nobody declared gets the fallback.
    let answer = node.get("/v1/not-a-route").await;
    assert_eq!(answer.status, 404);
}

/// A structural check of the document as an OpenAPI 3 document, independent of the library that
/// wrote it: the required top-level fields, paths that start with `/`, operations with
/// responses keyed by status, and references that resolve.
mod openapi_structure {
    use serde_json::Value;

    pub fn check(document: &Value) {
        let object = document.as_object().expect("a JSON object");
        for field in ["openapi", "info", "paths"] {
            assert!(object.contains_key(field), "no `{field}`");
        }
        assert!(document["info"]["title"].is_string());
        assert!(document["info"]["version"].is_string());
        let schemas = document["components"]["schemas"]
            .as_object()
            .expect("component schemas");
        for (path, item) in document["paths"].as_object().expect("paths") {
            assert!(path.starts_with('/'), "{path}");
            for (method, operation) in item.as_object().expect("a path item") {
                let responses = operation["responses"]
                    .as_object()
                    .unwrap_or_else(|| panic!("{method} {path}: no responses"));
                assert!(!responses.is_empty(), "{method} {path}");
                for status in responses.keys() {
                    assert!(
                        status == "default"
                            || (status.len() == 3 && status.bytes().all(|b| b.is_ascii_digit())),
                        "{method} {path}: response key {status}"
                    );
                }
            }
        }
        let text = document.to_string();
        for reference in text.split("\"$ref\":\"").skip(1) {
            let reference = reference.split('"').next().unwrap();
            let name = reference
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("a reference outside the document: {reference}"));
            assert!(schemas.contains_key(name), "unresolved {reference}");
        }
    }
}
