//! The `refguard serve` binary as an operator starts it: startup errors are clear, the admin
//! port answers before the cache has synced, and SIGTERM stops it cleanly. No cluster: the
//! kubeconfig points at a closed port, so the cache never syncs (the end-to-end tier covers a
//! real API server).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
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

/// A running `refguard serve`, killed and reaped when dropped, so a failing assertion does not
/// leave it running (holding its ports) after the test.
struct Running(Option<Child>);

impl Running {
    fn start(mut command: Command) -> Self {
        Self(Some(command.spawn().expect("refguard starts")))
    }

    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("not yet waited for")
    }

    /// Waits up to `limit` for the process to exit by itself.
    fn exit_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child().try_wait().expect("wait") {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The output of a process that has exited.
    fn output(mut self) -> Output {
        let child = self.0.take().expect("not yet waited for");
        child.wait_with_output().expect("output")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn run_to_end(command: Command) -> Output {
    let mut running = Running::start(command);
    assert!(
        running.exit_within(Duration::from_secs(20)).is_some(),
        "refguard did not exit"
    );
    running.output()
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

fn wait_for_admin(running: &mut Running, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(port, "/healthz").is_none() {
        assert!(
            running.child().try_wait().expect("wait").is_none(),
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
    let mut running = Running::start(serve(dir.path(), &args));
    wait_for_admin(&mut running, admin);

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
        .args(["-TERM", &running.child().id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = running
        .exit_within(Duration::from_secs(15))
        .expect("refguard stops after SIGTERM");
    assert!(status.success(), "exit status {status}");

    let output = running.output();
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
