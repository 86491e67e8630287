//! The OpenAPI document and the API page at `/docs`. The document, against a single-validator
//! node in process (real RocksDB, real HTTP): it parses as OpenAPI 3 and describes exactly the
//! routes the node serves. The page, against a real `tenged` process: it and every file it names
//! load from the node alone, nothing in it points elsewhere, and it shows the node's document.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;
use tenge_engine::EngineLimits;
use tenge_ledger::testkit::TestNetwork;
use tenge_tests::byzantine::use_free_ports;
use tenge_tests::cluster::Cluster;

struct Node {
    /// The data directory of a node in process.
    _dir: Option<tempfile::TempDir>,
    url: String,
    http: reqwest::Client,
}

async fn node() -> Node {
    let node =
        tenge_tests::api_node::serve_validator(&TestNetwork::new(1, 1), EngineLimits::default())
            .await;
    Node {
        url: node.url.clone(),
        _dir: Some(node.dir),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    }
}

struct Answer {
    status: u16,
    content_type: String,
    csp: Option<String>,
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
        let csp = header("content-security-policy");
        Answer {
            status: response.status().as_u16(),
            content_type,
            csp,
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
            .replace("{height}", "0")
            .replace("{file}", "index.css");
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

/// A real `tenged` (one validator), and a client that follows no redirect, so that each answer
/// is seen as the node gives it.
async fn node_process() -> (Cluster, Node) {
    let mut cluster = Cluster::init(1, 0, 48_000);
    use_free_ports(&mut cluster);
    cluster.start_validator(0);
    tenge_api::tls::install_default_provider();
    let node = Node {
        _dir: None,
        url: cluster.validators[0].api.trim_end_matches('/').to_string(),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let up = node
            .http
            .get(format!("{}/health", node.url))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if up {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the node's API did not come up:\n{}",
            cluster.logs_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (cluster, node)
}

/// The values of `attribute="..."` in an HTML page.
fn attribute_values(html: &str, attribute: &str) -> Vec<String> {
    let mut values = Vec::new();
    for quote in ['"', '\''] {
        let marker = format!("{attribute}={quote}");
        for rest in html.split(&marker).skip(1) {
            values.push(rest.split(quote).next().unwrap().to_string());
        }
    }
    values
}

/// The targets of `url(...)` in a style sheet.
fn css_urls(css: &str) -> Vec<String> {
    css.split("url(")
        .skip(1)
        .map(|rest| {
            rest.trim_start()
                .trim_start_matches(['"', '\''])
                .chars()
                .take_while(|c| !matches!(c, ')' | '"' | '\'' | ','))
                .collect()
        })
        .collect()
}

/// A reference a browser resolves against the node itself (no scheme, no other host), or an
/// inline `data:` URL.
fn stays_on_the_node(reference: &str) -> bool {
    let lower = reference.trim().to_ascii_lowercase();
    lower.starts_with("data:") || !(lower.contains(':') || lower.starts_with("//"))
}

fn assert_json_error(answer: &Answer, status: u16, what: &str) {
    assert_eq!(answer.status, status, "{what}");
    assert!(
        answer.content_type.starts_with("application/json"),
        "{what}: {}",
        answer.content_type
    );
    let body: Value = serde_json::from_slice(&answer.body).expect("a JSON error");
    assert_eq!(body["error"]["status"], status, "{what}: {body}");
    assert!(body["error"]["kind"].is_string(), "{what}: {body}");
    assert!(body["error"]["message"].is_string(), "{what}: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_page_loads_from_the_node_alone() {
    let (_cluster, node) = node_process().await;

    let page = node.get("/docs").await;
    assert_eq!(page.status, 200);
    assert!(
        page.content_type.starts_with("text/html"),
        "{}",
        page.content_type
    );
    let in_folder = node.get("/docs/").await;
    assert_eq!(in_folder.status, 200);
    assert_eq!(in_folder.body, page.body, "/docs and /docs/ differ");
    let csp = page
        .csp
        .clone()
        .expect("the page has a Content-Security-Policy");
    for directive in [
        "default-src 'self'",
        "script-src 'self';",
        "connect-src 'self'",
    ] {
        assert!(csp.contains(directive), "{directive} not in {csp}");
    }
    let html = String::from_utf8(page.body).unwrap();
    assert!(
        html.contains("id=\"swagger-ui\""),
        "not the Swagger UI page: {html}"
    );
    for scheme in ["http://", "https://"] {
        assert!(
            !html.contains(scheme),
            "the page names an outside URL: {html}"
        );
    }

    let scripts = attribute_values(&html, "src");
    let links = attribute_values(&html, "href");
    for needed in [
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "swagger-initializer.js",
    ] {
        assert!(
            scripts.iter().any(|s| s.ends_with(needed)),
            "the page does not load {needed}: {html}"
        );
    }
    assert!(
        links.iter().any(|s| s.ends_with("swagger-ui.css")),
        "the page does not load its style sheet: {html}"
    );
    for reference in scripts.iter().chain(&links) {
        assert!(
            stays_on_the_node(reference),
            "outside reference {reference}"
        );
        let path = reference
            .strip_prefix("/docs/")
            .map(|_| reference.clone())
            .unwrap_or_else(|| format!("/docs/{}", reference.trim_start_matches("./")));
        let file = node.get(&path).await;
        assert_eq!(file.status, 200, "{path}");
        assert!(!file.body.is_empty(), "{path} is empty");
        let expected = match path.rsplit_once('.').map(|(_, e)| e) {
            Some("js") => "text/javascript",
            Some("css") => "text/css",
            Some("png") => "image/png",
            other => panic!("{path}: a file of unexpected kind {other:?}"),
        };
        assert!(
            file.content_type.starts_with(expected),
            "{path}: {} (expected {expected})",
            file.content_type
        );
        if expected == "text/css" {
            let css = String::from_utf8_lossy(&file.body);
            for url in css_urls(&css) {
                assert!(stays_on_the_node(&url), "{path} loads {url}");
            }
            assert!(!css.contains("@import"), "{path} imports a style sheet");
        }
    }

    // The script that starts the page shows the node's own document, with the online validator
    // (an image and a request to validator.swagger.io) turned off.
    let initializer = node.get("/docs/swagger-initializer.js").await;
    assert_eq!(initializer.status, 200);
    let initializer = String::from_utf8(initializer.body).unwrap();
    for scheme in ["http://", "https://"] {
        assert!(!initializer.contains(scheme), "{initializer}");
    }
    assert!(
        initializer.contains("\"validatorUrl\": \"none\""),
        "{initializer}"
    );
    let document_path = initializer
        .split("\"url\": \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the initializer names the document");
    assert_eq!(document_path, "/v1/openapi.json");
    assert!(tenge_api::ROUTES.contains(&("get", document_path)));
    let document = node.get(document_path).await;
    assert_eq!(document.status, 200);
    assert!(document.content_type.starts_with("application/json"));
    let document: Value = serde_json::from_slice(&document.body).expect("the document is JSON");
    assert!(document["paths"]["/docs"]["get"].is_object());

    // Anything else under /docs/ is the API's JSON 404; other methods its 405.
    for path in [
        "/docs/no-such-file.js",
        "/docs/swagger-ui-bundle.js.map",
        "/docs/oauth2-redirect.html",
        "/docs/index.html/x",
        "/docs/dist/swagger-ui.css",
        "/docs//swagger-ui.css",
        "/docs/%2e%2e%2fCargo.toml",
    ] {
        assert_json_error(&node.get(path).await, 404, path);
    }
    for path in ["/docs", "/docs/", "/docs/swagger-ui.css"] {
        let answer = node.request(reqwest::Method::POST, path).await;
        assert_json_error(&answer, 405, path);
    }
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
