//! The webhook listener over real TCP and TLS: handshakes with a rustls client, certificate
//! rotation the way a Kubernetes Secret volume does it, refused protocol versions, plain HTTP,
//! body limits, slow clients and graceful shutdown.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use refguard::cli::UnsyncedPolicy;
use refguard::engine::{RulesConfig, World};
use refguard::server::reload::reload_certificate;
use refguard::server::tls::{server_config, CertStore};
use refguard::server::{router, AppState, ConnectionLimits, Limits, Policy, Server};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::client::TlsStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

const SERVER_NAME: &str = "refguard.refguard-system.svc";

/// A CA and the serving certificates it issues, as cert-manager would.
struct Pki {
    ca: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

impl Pki {
    fn new() -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().expect("CA key");
        let ca = rcgen::CertifiedIssuer::self_signed(params, key).expect("CA certificate");
        Self { ca }
    }

    fn issue(&self) -> Leaf {
        let params = rcgen::CertificateParams::new(vec![SERVER_NAME.to_owned()]).expect("params");
        self.issue_with(params)
    }

    /// A leaf valid only between the two dates.
    fn issue_between(&self, not_before: (i32, u8, u8), not_after: (i32, u8, u8)) -> Leaf {
        let mut params =
            rcgen::CertificateParams::new(vec![SERVER_NAME.to_owned()]).expect("params");
        params.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
        params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        self.issue_with(params)
    }

    fn issue_with(&self, params: rcgen::CertificateParams) -> Leaf {
        let key = rcgen::KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &*self.ca).expect("leaf certificate");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }

    fn client(&self, version: &'static rustls::SupportedProtocolVersion) -> TlsConnector {
        let mut roots = RootCertStore::empty();
        roots
            .add(self.ca.der().clone())
            .expect("CA is a valid root");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[version])
            .expect("version supported")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        TlsConnector::from(Arc::new(config))
    }
}

/// A certificate directory laid out like a mounted Secret volume: `tls.crt` and `tls.key` are
/// symlinks through `..data`, which points at a timestamped directory. Rotation writes a new
/// directory and swaps `..data` atomically, so the paths and their mtimes never change.
struct SecretVolume {
    dir: tempfile::TempDir,
    generation: u32,
}

impl SecretVolume {
    fn new(leaf: &Leaf) -> Self {
        let mut volume = Self {
            dir: tempfile::tempdir().expect("tempdir"),
            generation: 0,
        };
        volume.write(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes());
        for name in ["tls.crt", "tls.key"] {
            std::os::unix::fs::symlink(format!("..data/{name}"), volume.dir.path().join(name))
                .expect("symlink");
        }
        volume
    }

    /// Publishes new contents the way the kubelet does.
    fn write(&mut self, cert: &[u8], key: &[u8]) {
        self.generation += 1;
        let data = format!("..2026_12_03_{:02}", self.generation);
        let dir = self.dir.path().join(&data);
        std::fs::create_dir(&dir).expect("data dir");
        std::fs::write(dir.join("tls.crt"), cert).expect("write cert");
        std::fs::write(dir.join("tls.key"), key).expect("write key");

        let tmp = self.dir.path().join("..data_tmp");
        std::os::unix::fs::symlink(&data, &tmp).expect("symlink");
        std::fs::rename(&tmp, self.dir.path().join("..data")).expect("swap ..data");
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("tls.crt")
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("tls.key")
    }
}

struct Running {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
}

fn quick_limits() -> ConnectionLimits {
    ConnectionLimits {
        handshake_timeout: Duration::from_millis(300),
        header_read_timeout: Duration::from_millis(300),
    }
}

async fn start(volume: &SecretVolume, limits: ConnectionLimits) -> Running {
    start_with(volume, limits, Limits::default()).await
}

async fn start_with(volume: &SecretVolume, limits: ConnectionLimits, review: Limits) -> Running {
    let store = Arc::new(CertStore::load(&volume.cert(), &volume.key()).expect("initial pair"));
    let config = server_config(store.clone()).expect("server config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");

    let policy = Policy {
        unsynced: UnsyncedPolicy::Allow,
    };
    let state = AppState::for_world(World::new(), RulesConfig::default(), policy, review);
    let server = Server {
        listener,
        tls: Some(TlsAcceptor::from(Arc::new(config))),
        app: router(state),
        limits,
    };
    let (stop, stop_rx) = watch::channel(false);
    tokio::spawn(reload_certificate(
        store,
        Duration::from_millis(20),
        stop_rx.clone(),
    ));
    let server = tokio::spawn(server.run(stop_rx, Duration::from_secs(5)));
    Running { addr, stop, server }
}

async fn connect(running: &Running, client: &TlsConnector) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(running.addr).await.expect("connect");
    let name = ServerName::try_from(SERVER_NAME).expect("server name");
    client.connect(name, tcp).await.expect("TLS handshake")
}

/// Connects until the server presents `expected`, failing after 5 s.
async fn wait_until_served(
    running: &Running,
    client: &TlsConnector,
    expected: &CertificateDer<'_>,
) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while served_certificate(&connect(running, client).await) != *expected {
        assert!(
            Instant::now() < deadline,
            "certificate not served within 5s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn served_certificate(stream: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    let (_, connection) = stream.get_ref();
    connection
        .peer_certificates()
        .expect("server sent a certificate")[0]
        .clone()
}

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/admission")
        .join(name);
    std::fs::read(path).expect("fixture")
}

/// Sends one HTTP/1.1 request and reads its response (status and body).
async fn request<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    method: &str,
    path: &str,
    body: &[u8],
) -> (u16, String) {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {SERVER_NAME}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(body).await.expect("write body");
    read_response(stream).await
}

async fn read_response<S: AsyncRead + Unpin>(stream: &mut S) -> (u16, String) {
    let mut buffer = Vec::new();
    let header_end = loop {
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            break end + 4;
        }
        let mut chunk = [0u8; 4096];
        let read = stream.read(&mut chunk).await.expect("read response");
        assert!(
            read > 0,
            "connection closed before a response: {:?}",
            String::from_utf8_lossy(&buffer)
        );
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..header_end]).into_owned();
    let status: u16 = head[9..12].parse().expect("status code");
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buffer.len() < header_end + length {
        let mut chunk = [0u8; 4096];
        let read = stream.read(&mut chunk).await.expect("read body");
        assert!(read > 0, "connection closed inside the body");
        buffer.extend_from_slice(&chunk[..read]);
    }
    let body = String::from_utf8_lossy(&buffer[header_end..header_end + length]).into_owned();
    (status, body)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Reads until the peer closes; `None` if it is still open after `within`.
async fn closed_within<S: AsyncRead + Unpin>(stream: &mut S, within: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let read = async {
        let mut chunk = [0u8; 1024];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(read) => received.extend_from_slice(&chunk[..read]),
            }
        }
    };
    tokio::time::timeout(within, read)
        .await
        .ok()
        .map(|()| received)
}

#[tokio::test]
async fn a_rustls_client_reviews_over_tls_1_3_and_1_2() {
    let pki = Pki::new();
    let leaf = pki.issue();
    let volume = SecretVolume::new(&leaf);
    let running = start(&volume, ConnectionLimits::default()).await;

    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let mut stream = connect(&running, &pki.client(version)).await;
        let (_, connection) = stream.get_ref();
        assert_eq!(connection.protocol_version(), Some(version.version));
        assert_eq!(connection.alpn_protocol(), Some(&b"http/1.1"[..]));
        assert_eq!(served_certificate(&stream), leaf.der);

        let (status, body) = request(
            &mut stream,
            "POST",
            "/validate",
            &fixture("gateway-create.json"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert!(
            body.contains(r#""uid":"5d8e7a3c-1f0b-4c62-8a55-2f3e9d7c1a01""#),
            "{body}"
        );

        // Keep-alive: a second request on the same connection.
        let (status, body) = request(&mut stream, "GET", "/healthz", b"").await;
        assert_eq!((status, body.as_str()), (200, "ok\n"));
    }
}

#[tokio::test]
async fn a_rotated_certificate_is_served_to_the_next_connection() {
    let pki = Pki::new();
    let first = pki.issue();
    let mut volume = SecretVolume::new(&first);
    let running = start(&volume, ConnectionLimits::default()).await;
    let client = pki.client(&rustls::version::TLS13);

    let mut before = connect(&running, &client).await;
    assert_eq!(served_certificate(&before), first.der);

    let second = pki.issue();
    volume.write(second.cert_pem.as_bytes(), second.key_pem.as_bytes());

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stream = connect(&running, &client).await;
        if served_certificate(&stream) == second.der {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "new certificate not served within 5s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The connection made before the rotation still works.
    let (status, _) = request(&mut before, "GET", "/healthz", b"").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_broken_new_certificate_keeps_the_old_one() {
    let pki = Pki::new();
    let first = pki.issue();
    let mut volume = SecretVolume::new(&first);
    let running = start(&volume, ConnectionLimits::default()).await;
    let client = pki.client(&rustls::version::TLS13);

    // A key that belongs to another certificate, then a truncated certificate.
    let other = pki.issue();
    volume.write(first.cert_pem.as_bytes(), other.key_pem.as_bytes());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        served_certificate(&connect(&running, &client).await),
        first.der
    );

    volume.write(&first.cert_pem.as_bytes()[..40], first.key_pem.as_bytes());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        served_certificate(&connect(&running, &client).await),
        first.der
    );

    // A good pair afterwards is taken.
    volume.write(other.cert_pem.as_bytes(), other.key_pem.as_bytes());
    wait_until_served(&running, &client, &other.der).await;
}

#[tokio::test]
async fn an_expired_or_future_certificate_keeps_the_old_one() {
    let pki = Pki::new();
    let first = pki.issue();
    let mut volume = SecretVolume::new(&first);
    let running = start(&volume, ConnectionLimits::default()).await;
    let client = pki.client(&rustls::version::TLS13);

    // The reloader polls every 20 ms here; 200 ms gives it ten chances to take the bad pair.
    let expired = pki.issue_between((2020, 1, 1), (2021, 1, 1));
    volume.write(expired.cert_pem.as_bytes(), expired.key_pem.as_bytes());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        served_certificate(&connect(&running, &client).await),
        first.der,
        "an expired leaf was swapped in"
    );

    let future = pki.issue_between((2099, 1, 1), (2100, 1, 1));
    volume.write(future.cert_pem.as_bytes(), future.key_pem.as_bytes());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        served_certificate(&connect(&running, &client).await),
        first.der,
        "a not-yet-valid leaf was swapped in"
    );

    // A valid pair afterwards is taken, so the reloader was running all along.
    let good = pki.issue();
    volume.write(good.cert_pem.as_bytes(), good.key_pem.as_bytes());
    wait_until_served(&running, &client, &good.der).await;
}

/// A TLS ClientHello offering only `version` (no supported_versions extension, as TLS 1.1 and
/// 1.2 clients send it), with ECDHE-ECDSA/RSA AES-GCM suites a TLS 1.2 server accepts.
fn client_hello(version: u16) -> Vec<u8> {
    fn extension(kind: u16, body: &[u8]) -> Vec<u8> {
        let mut out = kind.to_be_bytes().to_vec();
        out.extend_from_slice(&(body.len() as u16).to_be_bytes());
        out.extend_from_slice(body);
        out
    }
    fn with_len16(body: &[u8]) -> Vec<u8> {
        let mut out = (body.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(body);
        out
    }

    let mut server_name = vec![0u8];
    server_name.extend_from_slice(&with_len16(SERVER_NAME.as_bytes()));
    let mut extensions = Vec::new();
    extensions.extend(extension(0x0000, &with_len16(&server_name)));
    extensions.extend(extension(0x000a, &with_len16(&[0x00, 0x1d, 0x00, 0x17])));
    extensions.extend(extension(0x000b, &[0x01, 0x00]));
    extensions.extend(extension(
        0x000d,
        &with_len16(&[0x04, 0x03, 0x08, 0x04, 0x04, 0x01]),
    ));

    let mut hello = version.to_be_bytes().to_vec();
    hello.extend_from_slice(&[0x42; 32]); // random
    hello.push(0); // session id
    hello.extend_from_slice(&with_len16(&[0xc0, 0x2b, 0xc0, 0x2f]));
    hello.extend_from_slice(&[0x01, 0x00]); // compression: null
    hello.extend_from_slice(&with_len16(&extensions));

    let mut handshake = vec![0x01];
    handshake.extend_from_slice(&(hello.len() as u32).to_be_bytes()[1..]);
    handshake.extend_from_slice(&hello);

    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&with_len16(&handshake));
    record
}

async fn answer_to_hello(running: &Running, version: u16) -> Vec<u8> {
    let mut tcp = TcpStream::connect(running.addr).await.expect("connect");
    tcp.write_all(&client_hello(version))
        .await
        .expect("send hello");
    let mut answer = vec![0u8; 7];
    tcp.read_exact(&mut answer).await.expect("server answers");
    answer
}

#[tokio::test]
async fn tls_1_1_is_refused() {
    let volume = SecretVolume::new(&Pki::new().issue());
    let running = start(&volume, ConnectionLimits::default()).await;

    // The same hello at TLS 1.2 gets a ServerHello: the probe itself is sound.
    let answer = answer_to_hello(&running, 0x0303).await;
    assert_eq!(
        (answer[0], answer[5]),
        (0x16, 0x02),
        "handshake record with ServerHello"
    );

    // At TLS 1.1: a fatal protocol_version alert.
    let answer = answer_to_hello(&running, 0x0302).await;
    assert_eq!(answer[0], 0x15, "alert record, got {answer:02x?}");
    assert_eq!((answer[5], answer[6]), (2, 70), "fatal protocol_version");
}

#[tokio::test]
async fn plain_http_on_the_tls_port_is_refused() {
    let volume = SecretVolume::new(&Pki::new().issue());
    let running = start(&volume, ConnectionLimits::default()).await;

    let mut tcp = TcpStream::connect(running.addr).await.expect("connect");
    let body = fixture("gateway-create.json");
    let head = format!(
        "POST /validate HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.expect("write");
    let _ = tcp.write_all(&body).await;

    let received = closed_within(&mut tcp, Duration::from_secs(5))
        .await
        .expect("server closes");
    assert!(
        !received.starts_with(b"HTTP/"),
        "answered plain HTTP: {received:?}"
    );
    assert!(find(&received, b"5d8e7a3c").is_none(), "review answered");
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413_over_tls() {
    let pki = Pki::new();
    let volume = SecretVolume::new(&pki.issue());
    let running = start(&volume, ConnectionLimits::default()).await;
    let mut stream = connect(&running, &pki.client(&rustls::version::TLS13)).await;

    let length = 8 * 1024 * 1024;
    let head = format!("POST /validate HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n");
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream
        .write_all(&vec![b' '; 64 * 1024])
        .await
        .expect("write some body");

    let (status, _) = read_response(&mut stream).await;
    assert_eq!(status, 413);
}

#[tokio::test]
async fn slow_clients_are_disconnected() {
    let pki = Pki::new();
    let volume = SecretVolume::new(&pki.issue());
    let running = start(&volume, quick_limits()).await;

    // Connects and never starts the handshake.
    let mut silent = TcpStream::connect(running.addr).await.expect("connect");
    assert!(
        closed_within(&mut silent, Duration::from_secs(5))
            .await
            .is_some(),
        "a client that never handshakes is still connected"
    );

    // Handshakes, then sends half a request line and stops.
    let mut stalled = connect(&running, &pki.client(&rustls::version::TLS13)).await;
    stalled
        .write_all(b"POST /validate HT")
        .await
        .expect("write");
    assert!(
        closed_within(&mut stalled, Duration::from_secs(5))
            .await
            .is_some(),
        "a client that never finishes its headers is still connected"
    );

    // The server still serves others.
    let mut fine = connect(&running, &pki.client(&rustls::version::TLS13)).await;
    assert_eq!(request(&mut fine, "GET", "/healthz", b"").await.0, 200);
}

#[tokio::test]
async fn shutdown_finishes_the_review_in_flight_and_stops_accepting() {
    let pki = Pki::new();
    let volume = SecretVolume::new(&pki.issue());
    let running = start(&volume, ConnectionLimits::default()).await;
    let client = pki.client(&rustls::version::TLS13);

    // A review whose body is only half sent when shutdown begins.
    let mut in_flight = connect(&running, &client).await;
    let body = fixture("gateway-create.json");
    let head = format!(
        "POST /validate HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    in_flight
        .write_all(head.as_bytes())
        .await
        .expect("write head");
    in_flight.write_all(&body[..100]).await.expect("write part");
    tokio::time::sleep(Duration::from_millis(100)).await;

    running.stop.send(true).expect("server running");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        TcpStream::connect(running.addr).await.is_err(),
        "new connections accepted after shutdown"
    );

    in_flight.write_all(&body[100..]).await.expect("write rest");
    let (status, reply) = read_response(&mut in_flight).await;
    assert_eq!(status, 200, "{reply}");
    assert!(reply.contains("5d8e7a3c-1f0b-4c62-8a55-2f3e9d7c1a01"));

    tokio::time::timeout(Duration::from_secs(5), running.server)
        .await
        .expect("server stops once the connection is done")
        .expect("server task");
}
