//! Issue 14 item 5 (security review L2): a real `tenged` serving its API over HTTPS with a
//! certificate from a CA made at test time, and the real `tenge` CLI trusting that CA with
//! `--ca-cert`. A wrong CA, no CA, and plain HTTP to the TLS port all fail cleanly (exit 3).

use std::io::{Read, Write};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use tenge_tests::byzantine::use_free_ports;
use tenge_tests::cluster::{Cluster, binary, wait_height};

/// A CA certificate (PEM), with what signs under it.
struct Authority {
    certificate: rcgen::Certificate,
    key: rcgen::KeyPair,
}

fn authority(name: &str) -> Authority {
    let key = rcgen::KeyPair::generate().expect("CA key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let certificate = params.self_signed(&key).expect("CA certificate");
    Authority { certificate, key }
}

/// A server certificate for 127.0.0.1 signed by `ca`: (certificate PEM, key PEM).
fn server_certificate(ca: &Authority) -> (String, String) {
    let key = rcgen::KeyPair::generate().expect("server key");
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
    let certificate = params
        .signed_by(&key, &ca.certificate, &ca.key)
        .expect("server certificate");
    (certificate.pem(), key.serialize_pem())
}

fn tenge(args: &[&str]) -> Output {
    Command::new(binary("tenge"))
        .args(args)
        .env_remove("TENGE_CA_CERT")
        .env_remove("TENGE_NODE")
        .output()
        .expect("run tenge")
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Reads from a raw TCP connection until the server closes it; panics if it is still open after
/// `within`. Returns what the server sent.
fn read_until_closed(stream: &mut std::net::TcpStream, within: Duration) -> Vec<u8> {
    let deadline = Instant::now() + within;
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "the server kept the connection open");
        stream.set_read_timeout(Some(left)).expect("read timeout");
        match stream.read(&mut buffer) {
            Ok(0) => return received,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return received,
            Err(e) => panic!("the server kept the connection open: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_node_serves_https_to_the_cli_with_its_ca_and_refuses_the_rest() {
    let mut cluster = Cluster::init(1, 0, 43_000);
    use_free_ports(&mut cluster);
    let dir = cluster.validators[0].dir();
    let ca = authority("tenge test CA");
    let (certificate, key) = server_certificate(&ca);
    std::fs::write(dir.join("api.crt"), certificate).unwrap();
    std::fs::write(dir.join("api.key"), key).unwrap();
    let ca_file = cluster.dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.certificate.pem()).unwrap();
    let other_ca_file = cluster.dir.path().join("other-ca.pem");
    std::fs::write(&other_ca_file, authority("another CA").certificate.pem()).unwrap();

    // Relative paths in the file resolve against its directory, like the other paths.
    let config_path = cluster.validators[0].config.clone();
    let config = std::fs::read_to_string(&config_path).unwrap();
    std::fs::write(
        &config_path,
        format!("api_tls_cert_file = \"api.crt\"\napi_tls_key_file = \"api.key\"\n{config}"),
    )
    .unwrap();
    let check = Command::new(binary("tenged"))
        .arg("--config")
        .arg(&config_path)
        .arg("--check-config")
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", describe(&check));
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("api_tls_cert_file"),
        "{}",
        describe(&check)
    );
    // A key file that holds no key is named by --check-config.
    let bad_key = Command::new(binary("tenged"))
        .arg("--config")
        .arg(&config_path)
        .arg("--check-config")
        .env("TENGE_API_TLS_KEY_FILE", dir.join("api.crt"))
        .output()
        .unwrap();
    assert_eq!(bad_key.status.code(), Some(1), "{}", describe(&bad_key));
    assert!(
        String::from_utf8_lossy(&bad_key.stderr).contains("api_tls_key_file"),
        "{}",
        describe(&bad_key)
    );

    let https = cluster.validators[0].api.replace("http://", "https://");
    cluster.validators[0].api = https.clone();
    cluster.start_validator(0);
    let client = tenge_api::Client::with_tls(
        &https,
        tenge_api::tls::client_config(&ca_file).expect("CA loads"),
    );
    wait_height(&cluster, &client, 1, Duration::from_secs(60)).await;

    let ca_arg = ca_file.to_str().unwrap();
    let ok = tenge(&["--node", &https, "--ca-cert", ca_arg, "status"]);
    assert_eq!(ok.status.code(), Some(0), "{}", describe(&ok));
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("height"),
        "{}",
        describe(&ok)
    );
    // The same through TENGE_CA_CERT.
    let by_env = Command::new(binary("tenge"))
        .args(["--node", &https, "status"])
        .env("TENGE_CA_CERT", &ca_file)
        .output()
        .unwrap();
    assert_eq!(by_env.status.code(), Some(0), "{}", describe(&by_env));

    let wrong = tenge(&[
        "--node",
        &https,
        "--ca-cert",
        other_ca_file.to_str().unwrap(),
        "status",
    ]);
    assert_eq!(wrong.status.code(), Some(3), "{}", describe(&wrong));
    let message = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        message.contains("certificate") && message.contains("--ca-cert"),
        "{}",
        describe(&wrong)
    );

    let without = tenge(&["--node", &https, "status"]);
    assert_eq!(without.status.code(), Some(3), "{}", describe(&without));
    assert!(
        String::from_utf8_lossy(&without.stderr).contains("needs --ca-cert"),
        "{}",
        describe(&without)
    );

    let unreadable_ca = tenge(&[
        "--node",
        &https,
        "--ca-cert",
        "/nonexistent/ca.pem",
        "status",
    ]);
    assert_eq!(
        unreadable_ca.status.code(),
        Some(2),
        "{}",
        describe(&unreadable_ca)
    );

    // Plain HTTP to the TLS port: the CLI fails with exit 3, and a raw request gets the
    // connection closed (after a TLS alert) without an HTTP answer.
    let plain = https.replace("https://", "http://");
    let refused = tenge(&["--node", &plain, "status"]);
    assert_eq!(refused.status.code(), Some(3), "{}", describe(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("does the node serve HTTPS?"),
        "{}",
        describe(&refused)
    );
    let address = https.trim_start_matches("https://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .write_all(b"GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let answer = read_until_closed(&mut stream, Duration::from_secs(10));
    assert!(
        !String::from_utf8_lossy(&answer).contains("HTTP/1.1 200"),
        "plain HTTP was answered over the TLS port"
    );
    // A connection that never starts its handshake is closed by the header read timeout (5 s).
    let mut silent = std::net::TcpStream::connect(address).unwrap();
    read_until_closed(&mut silent, Duration::from_secs(20));

    // The node still serves HTTPS after all that.
    let again = tenge(&["--node", &https, "--ca-cert", ca_arg, "status"]);
    assert_eq!(again.status.code(), Some(0), "{}", describe(&again));
}
