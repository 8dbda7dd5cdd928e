//! The `refguard serve` binary as an operator starts it: startup errors are clear, the admin
//! port answers before the cache has synced, and SIGTERM stops it cleanly. No cluster: the
//! kubeconfig points at a closed port, so the cache never syncs (the end-to-end tier covers a
//! real API server).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_refguard");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// A certificate pair and a kubeconfig for an API server that is not there.
fn setup(dir: &Path) {
    let pair = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("rcgen generates a certificate");
    std::fs::write(dir.join("tls.crt"), pair.cert.pem()).expect("write cert");
    std::fs::write(dir.join("tls.key"), pair.signing_key.serialize_pem()).expect("write key");
    let unreachable = free_port();
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n\
         clusters: [{{name: c, cluster: {{server: \"https://127.0.0.1:{unreachable}\"}}}}]\n\
         contexts: [{{name: c, context: {{cluster: c, user: u}}}}]\n\
         users: [{{name: u, user: {{}}}}]\n"
    );
    std::fs::write(dir.join("kubeconfig"), kubeconfig).expect("write kubeconfig");
}

fn serve(dir: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .arg("serve")
        .arg("--tls-cert-file")
        .arg(dir.join("tls.crt"))
        .arg("--tls-key-file")
        .arg(dir.join("tls.key"))
        .arg("--kubeconfig")
        .arg(dir.join("kubeconfig"))
        .args(extra)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn run_to_end(mut command: Command) -> Output {
    let mut child = command.spawn().expect("refguard starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("refguard did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.get(9..12)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

fn wait_for_admin(child: &mut Child, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(port, "/healthz").is_none() {
        assert!(
            child.try_wait().expect("wait").is_none(),
            "refguard exited early"
        );
        assert!(Instant::now() < deadline, "admin port never answered");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_unreadable_certificate_stops_startup_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    setup(dir.path());
    std::fs::write(dir.path().join("tls.key"), "not a key").expect("write");

    let output = run_to_end(serve(
        dir.path(),
        &["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"],
    ));
    assert!(!output.status.success());
    let log = String::from_utf8_lossy(&output.stdout);
    assert!(log.contains("loading the serving certificate"), "{log}");
    assert!(log.contains("key file holds no PEM private key"), "{log}");
}

#[test]
fn a_bad_rules_config_stops_startup_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    setup(dir.path());
    let config = dir.path().join("rules.yaml");
    std::fs::write(&config, "rules:\n  no-such-rule: deny\n").expect("write");

    let config = config.to_str().expect("utf-8 path");
    let args = [
        "--config",
        config,
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
    ];
    let output = run_to_end(serve(dir.path(), &args));
    assert!(!output.status.success());
    let log = String::from_utf8_lossy(&output.stdout);
    assert!(
        log.contains(
            r#"loading the rules config: rules config names unknown rule \"no-such-rule\""#
        ),
        "{log}"
    );
}

#[test]
fn serves_admin_before_sync_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    setup(dir.path());
    let (webhook, admin) = (free_port(), free_port());
    let listen = format!("127.0.0.1:{webhook}");
    let admin_listen = format!("127.0.0.1:{admin}");
    let args = [
        "--listen",
        &listen,
        "--admin-listen",
        &admin_listen,
        "--log-format",
        "json",
    ];
    let mut child = serve(dir.path(), &args).spawn().expect("refguard starts");
    wait_for_admin(&mut child, admin);

    assert_eq!(get(admin, "/healthz"), Some((200, "ok\n".to_owned())));
    assert_eq!(
        get(admin, "/readyz"),
        Some((503, "cache not synced\n".to_owned()))
    );
    let (status, metrics) = get(admin, "/metrics").expect("metrics");
    assert_eq!(status, 200);
    assert!(metrics.contains("refguard_cache_synced 0"), "{metrics}");
    assert!(
        TcpStream::connect(("127.0.0.1", webhook)).is_ok(),
        "webhook port listens"
    );

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "refguard did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status}");

    let output = child.wait_with_output().expect("output");
    let log = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    assert!(lines
        .iter()
        .any(|line| line["message"] == "Cannot reach the API server to start the cache"));
    assert!(lines.iter().any(|line| line["message"] == "Stopped"));
}
