//! TLS for plugin egress: `https` requests are verified against the system's root certificates
//! (what `rustls-native-certs` loads, which honours `SSL_CERT_FILE` the way OpenSSL does). A
//! loopback HTTPS server with a certificate from a test CA is reached when that CA is among
//! the roots, and refused with a certificate error when it is not.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::{stderr, stdout};

/// A test CA (PEM) and a server certificate for 127.0.0.1 signed by it.
fn certificates() -> (String, CertificateDer<'static>, PrivateKeyDer<'static>) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Stockade test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca.self_signed(&ca_key).unwrap();
    let mut leaf = CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf.subject_alt_names = vec![SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST))];
    let key = KeyPair::generate().unwrap();
    let leaf = leaf.signed_by(&key, &ca, &ca_key).unwrap();
    (
        ca.pem(),
        leaf.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
}

/// Serves `hello over tls` on 127.0.0.1 over TLS; returns the port.
fn serve(cert: CertificateDer<'static>, key: PrivateKeyDer<'static>) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let config = Arc::clone(&config);
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, stream);
                let mut reader = BufReader::new(&mut tls);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let body = "hello over tls";
                let _ = write!(
                    tls,
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.flush();
            });
        }
    });
    port
}

#[test]
fn https_is_verified_against_the_system_roots() {
    let (ca_pem, cert, key) = certificates();
    let port = serve(cert, key);
    let roots = tempfile::tempdir().unwrap();
    let ca_file = roots.path().join("test-ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let data = tempfile::tempdir().unwrap();
    let url = format!("https://127.0.0.1:{port}/");
    let input = format!(r#"{{"url":"{url}"}}"#);
    let grant = format!("https://127.0.0.1:{port}");
    let run = |ca: Option<&std::path::Path>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_stockade"));
        command
            .arg("--data-dir")
            .arg(data.path())
            .args([
                "plugin",
                "run",
                stockade_test_artifacts::HTTP_BUNDLE_DIR,
                "fetch",
            ])
            .args(["--input", &input, "--grant-egress", &grant])
            .env_remove("STOCKADE_LOG")
            .env_remove("SSL_CERT_DIR");
        match ca {
            Some(ca) => command.env("SSL_CERT_FILE", ca),
            None => command.env_remove("SSL_CERT_FILE"),
        };
        command.output().unwrap()
    };

    // The test CA is a root: the request goes through, verified.
    let trusted = run(Some(&ca_file));
    assert!(trusted.status.success(), "{}", stderr(&trusted));
    let output: serde_json::Value = serde_json::from_str(&stdout(&trusted)).unwrap();
    assert_eq!(output["status"], 200, "{output}");
    assert_eq!(output["body"], "hello over tls");

    // Only the machine's own roots: the same server is refused, nothing is trusted blindly.
    let untrusted = run(None);
    assert!(!untrusted.status.success(), "{}", stdout(&untrusted));
    let err = stderr(&untrusted);
    assert!(
        err.to_lowercase().contains("certificate") || err.contains("TLS"),
        "expected a certificate error: {err}"
    );
}
