//! The end-to-end harness: kubectl as a user runs it, `refguard serve` as a child process, and
//! a ValidatingWebhookConfiguration that makes the real kube-apiserver call it over HTTPS.
//!
//! The control plane itself is started by `hack/e2e.sh` (via `hack/cluster.sh`), which exports
//! `KUBECONFIG`, `REFGUARD_KUBECTL`, `REFGUARD_HELM` and `REFGUARD_E2E_DIR`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Namespace the webhook's own objects live in (excluded by the chart's namespaceSelector).
pub const SYSTEM_NAMESPACE: &str = "refguard-system";

fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: the end-to-end tests need the real control plane; run them with \
             hack/e2e.sh (or skip the tier explicitly with REFGUARD_SKIP_E2E=1 hack/test.sh)"
        )
    })
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// What kubectl printed and how it exited, as a user sees it.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from_output(output: Output) -> Self {
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// `Warning:` lines kubectl printed.
    pub fn warnings(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|line| line.starts_with("Warning: "))
            .collect()
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(self.code, 0, "kubectl failed:\n{self}");
        assert!(!self.stderr.contains("Error from server"), "{self}");
        self
    }

    #[track_caller]
    pub fn assert_denied(&self) -> &Self {
        assert_eq!(self.code, 1, "kubectl should have failed:\n{self}");
        assert!(
            self.stderr.contains("Error from server (Forbidden)"),
            "{self}"
        );
        assert!(self.stderr.contains("denied the request"), "{self}");
        self
    }

    #[track_caller]
    pub fn assert_stderr_contains(&self, text: &str) -> &Self {
        assert!(
            self.stderr.contains(text),
            "expected {text:?} in stderr:\n{self}"
        );
        self
    }

    #[track_caller]
    pub fn assert_no_warnings(&self) -> &Self {
        assert!(self.warnings().is_empty(), "expected no warnings:\n{self}");
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// kubectl against the test cluster, with the admin kubeconfig.
#[derive(Clone)]
pub struct Kubectl {
    binary: PathBuf,
    kubeconfig: PathBuf,
}

impl Kubectl {
    pub fn from_env() -> Self {
        Self {
            binary: required_env("REFGUARD_KUBECTL").into(),
            kubeconfig: required_env("KUBECONFIG").into(),
        }
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_input(args, None)
    }

    pub fn run_with_input(&self, args: &[&str], input: Option<&str>) -> Run {
        let mut child = Command::new(&self.binary)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl starts");
        let mut stdin = child.stdin.take().expect("stdin is piped");
        if let Some(input) = input {
            stdin
                .write_all(input.as_bytes())
                .expect("kubectl reads stdin");
        }
        drop(stdin);
        Run::from_output(child.wait_with_output().expect("kubectl finishes"))
    }

    /// `kubectl apply -f -` with the given manifest.
    pub fn apply(&self, manifest: &str) -> Run {
        self.run_with_input(&["apply", "-f", "-"], Some(manifest))
    }

    /// `kubectl apply --dry-run=server -f -`.
    pub fn apply_dry_run(&self, manifest: &str) -> Run {
        self.run_with_input(&["apply", "--dry-run=server", "-f", "-"], Some(manifest))
    }

    #[track_caller]
    pub fn must(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert_eq!(run.code, 0, "kubectl {args:?} failed:\n{run}");
        run.stdout
    }

    pub fn create_namespace(&self, name: &str) {
        let manifest = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n");
        let run = self.apply(&manifest);
        assert_eq!(run.code, 0, "namespace {name}:\n{run}");
    }
}

/// A fresh namespace name per call, so every test works in namespaces of its own.
pub fn unique_namespace(prefix: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    format!("{prefix}-{pid}-{n}")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}

/// A certificate for 127.0.0.1 made by `certs/gen-dev-certs.sh`, the script users run too.
pub struct DevCerts {
    pub dir: PathBuf,
}

impl DevCerts {
    pub fn generate(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("cert dir");
        let output = Command::new("bash")
            .arg(repo("certs/gen-dev-certs.sh"))
            .args(["--out", &dir.display().to_string(), "--local"])
            .output()
            .expect("gen-dev-certs.sh runs");
        assert!(
            output.status.success(),
            "gen-dev-certs.sh failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Self {
            dir: dir.to_path_buf(),
        }
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    pub fn cert(&self) -> PathBuf {
        self.dir.join("tls.crt")
    }

    pub fn key(&self) -> PathBuf {
        self.dir.join("tls.key")
    }
}

/// How to start the webhook for one test.
pub struct WebhookOptions {
    /// Rules config YAML written to a file and passed with `--config`.
    pub config: String,
    pub failure_policy: &'static str,
    /// Kubeconfig `refguard serve` uses; `None` means the chart ServiceAccount's token.
    pub kubeconfig: Option<PathBuf>,
    pub extra_args: Vec<String>,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        Self {
            config: String::new(),
            failure_policy: "Fail",
            kubeconfig: None,
            extra_args: Vec::new(),
        }
    }
}

/// A running `refguard serve` registered with the API server. Dropping it removes the
/// registration and stops the process, also when the test panics.
pub struct Webhook {
    pub kubectl: Kubectl,
    pub name: String,
    pub admin: SocketAddr,
    pub listen: SocketAddr,
    /// Holds the certificates, config and log until the webhook is dropped.
    _dir: tempfile::TempDir,
    pub config_path: PathBuf,
    child: Option<Child>,
    log_path: PathBuf,
    certs: DevCerts,
    options_kubeconfig: PathBuf,
    extra_args: Vec<String>,
}

impl Webhook {
    /// Starts the webhook, waits for readiness (initial cache sync), registers it, and waits
    /// until the API server is really calling it.
    pub fn start(options: WebhookOptions) -> Self {
        let failure_policy = options.failure_policy;
        let mut webhook = Self::launch(options);
        webhook.wait_ready(Duration::from_secs(60));
        webhook.register(failure_policy, "denied the request");
        webhook
    }

    /// Starts the process only: not waiting for readiness, not registered.
    pub fn launch(options: WebhookOptions) -> Self {
        let kubectl = Kubectl::from_env();
        let dir = tempfile::tempdir().expect("temp dir");
        let certs = DevCerts::generate(&dir.path().join("certs"));
        let config_path = dir.path().join("rules.yaml");
        std::fs::write(&config_path, &options.config).expect("config written");
        let kubeconfig = options
            .kubeconfig
            .clone()
            .unwrap_or_else(|| service_account_kubeconfig(&kubectl, dir.path()));

        let mut webhook = Self {
            name: format!("{}.e2e.refguard.io", unique_namespace("v")),
            admin: SocketAddr::from(([127, 0, 0, 1], free_port())),
            listen: SocketAddr::from(([127, 0, 0, 1], free_port())),
            log_path: dir.path().join("refguard.log"),
            kubectl,
            config_path,
            child: None,
            certs,
            options_kubeconfig: kubeconfig,
            extra_args: options.extra_args,
            _dir: dir,
        };
        webhook.spawn();
        webhook
    }

    /// Starts the `refguard serve` process (again, after [`Webhook::stop`]).
    pub fn spawn(&mut self) {
        let log = std::fs::File::create(&self.log_path).expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_refguard"));
        command
            .arg("serve")
            .args(["--listen", &self.listen.to_string()])
            .args(["--admin-listen", &self.admin.to_string()])
            .args(["--tls-cert-file", &self.certs.cert().display().to_string()])
            .args(["--tls-key-file", &self.certs.key().display().to_string()])
            .args(["--config", &self.config_path.display().to_string()])
            .args([
                "--kubeconfig",
                &self.options_kubeconfig.display().to_string(),
            ])
            .args(&self.extra_args)
            .env_remove("KUBECONFIG")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log);
        self.child = Some(command.spawn().expect("refguard serve starts"));
        record_pid(self.child.as_ref().map(Child::id));
    }

    /// Kills the process, leaving the registration in place (to see the failure policy).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits up to `timeout` for the process to exit by itself; its exit code, if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Some(status.code().unwrap_or(-1));
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// GET on the plain admin port; returns the status code and body.
    pub fn admin_get(&self, path: &str) -> Option<(u16, String)> {
        http_get(self.admin, path)
    }

    #[track_caller]
    pub fn wait_ready(&mut self, timeout: Duration) {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("refguard serve exited with {status}:\n{}", self.logs());
                }
            }
            if matches!(self.admin_get("/readyz"), Some((200, _))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "refguard serve was not ready after {timeout:?}:\n{}",
            self.logs()
        );
    }

    /// Registers the webhook exactly as the chart renders it for refguard outside the cluster
    /// (`webhook.url`), and waits until a probe's answer contains `expect`.
    pub fn register(&self, failure_policy: &str, expect: &str) {
        let url = format!("webhook.url=https://{}/validate", self.listen);
        let ca_bundle = format!("certs.caBundle={}", self.certs.ca().display());
        let policy = format!("webhook.failurePolicy={failure_policy}");
        let mut configuration = chart_documents(
            &["ValidatingWebhookConfiguration"],
            &[
                &url,
                "certs.mode=secret",
                "certs.secretName=refguard-tls",
                &policy,
            ],
            &[&ca_bundle],
        )
        .into_iter()
        .next()
        .expect("the chart renders a ValidatingWebhookConfiguration");
        configuration["metadata"]["name"] = json!(self.name);

        let run = self.kubectl.apply(&configuration.to_string());
        assert_eq!(run.code, 0, "registering the webhook:\n{run}");
        self.wait_called(expect);
    }

    /// The API server picks up new webhook configurations asynchronously: probe with a dry-run
    /// create that refguard is sure to flag until its answer shows up.
    fn wait_called(&self, expect: &str) {
        self.kubectl.create_namespace("refguard-probe");
        let probe = gateway_manifest(
            "refguard-probe",
            "probe",
            &[CertRef::new("probe-cert").in_namespace("refguard-probe-elsewhere")],
            None,
        );
        let start = Instant::now();
        loop {
            let run = self.kubectl.apply_dry_run(&probe);
            if run.stderr.contains(expect) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the API server never called the webhook:\n{run}\nlogs:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Rewrites the rules config file (the server reloads it).
    pub fn set_config(&self, config: &str) {
        std::fs::write(&self.config_path, config).expect("config written");
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.kubectl.run(&[
            "delete",
            "validatingwebhookconfiguration",
            &self.name,
            "--ignore-not-found",
        ]);
        self.stop();
        if std::thread::panicking() {
            eprintln!("--- refguard serve log ---\n{}", self.logs());
        }
    }
}

/// Remembers the PID so `hack/e2e.sh` can stop a webhook a killed test run left behind.
fn record_pid(pid: Option<u32>) {
    let (Some(pid), Ok(dir)) = (pid, std::env::var("REFGUARD_E2E_DIR")) else {
        return;
    };
    let path = Path::new(&dir).join("refguard-serve.pids");
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(file, "{pid}");
    }
}

/// A minimal HTTP/1.1 GET over plain TCP, for the admin port.
pub fn http_get(address: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let code = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    Some((code, body.to_owned()))
}

/// Renders the chart with `--set` values and `--set-file` ones (`key=path`) and returns the
/// documents of the given kinds.
pub fn chart_documents(kinds: &[&str], values: &[&str], file_values: &[&str]) -> Vec<Value> {
    let helm = required_env("REFGUARD_HELM");
    let mut command = Command::new(helm);
    command
        .args(["template", "refguard"])
        .arg(repo("charts/refguard"))
        .args(["--namespace", SYSTEM_NAMESPACE]);
    for value in values {
        command.args(["--set", value]);
    }
    for value in file_values {
        command.args(["--set-file", value]);
    }
    let output = command.output().expect("helm runs");
    assert!(
        output.status.success(),
        "helm template failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("helm prints UTF-8");
    let documents: Vec<Value> = serde_saphyr::from_multiple(&text).expect("helm prints YAML");
    documents
        .into_iter()
        .filter(|document| kinds.contains(&document["kind"].as_str().unwrap_or("")))
        .collect()
}

/// Installs the chart's ServiceAccount and RBAC for real, asks the TokenRequest API for a
/// token, and writes a kubeconfig that authenticates as that ServiceAccount: an RBAC rule
/// the cache needs but the chart lacks then fails the tests.
fn service_account_kubeconfig(kubectl: &Kubectl, dir: &Path) -> PathBuf {
    kubectl.create_namespace(SYSTEM_NAMESPACE);
    let rbac = chart_documents(
        &[
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
        ],
        &[],
        &[],
    );
    let service_account = rbac
        .iter()
        .find(|document| document["kind"] == "ServiceAccount")
        .and_then(|document| document["metadata"]["name"].as_str())
        .expect("the chart renders a ServiceAccount")
        .to_owned();
    let list = json!({"apiVersion": "v1", "kind": "List", "items": rbac});
    let run = kubectl.apply(&list.to_string());
    assert_eq!(run.code, 0, "applying the chart's RBAC:\n{run}");

    let token = kubectl.must(&[
        "create",
        "token",
        &service_account,
        "-n",
        SYSTEM_NAMESPACE,
        "--duration",
        "2h",
    ]);
    let server = kubectl.must(&[
        "config",
        "view",
        "--raw",
        "-o",
        "jsonpath={.clusters[0].cluster.server}",
    ]);
    let ca = kubectl.must(&[
        "config",
        "view",
        "--raw",
        "-o",
        "jsonpath={.clusters[0].cluster.certificate-authority-data}",
    ]);

    let kubeconfig = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "e2e", "cluster": {"server": server, "certificate-authority-data": ca}}],
        "users": [{"name": "refguard", "user": {"token": token.trim()}}],
        "contexts": [{"name": "refguard", "context": {"cluster": "e2e", "user": "refguard"}}],
        "current-context": "refguard",
    });
    let path = dir.join("refguard.kubeconfig");
    std::fs::write(&path, kubeconfig.to_string()).expect("kubeconfig written");
    path
}

// --- manifests --------------------------------------------------------------------------

/// A certificateRef as a test writes it.
#[derive(Clone)]
pub struct CertRef {
    pub name: String,
    pub namespace: Option<String>,
}

impl CertRef {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            namespace: None,
        }
    }

    pub fn in_namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.to_owned());
        self
    }
}

/// A Gateway with one HTTPS listener `https` on 443; `terminate_mode` sets Istio's option.
pub fn gateway_manifest(
    namespace: &str,
    name: &str,
    refs: &[CertRef],
    terminate_mode: Option<&str>,
) -> String {
    let refs: Vec<Value> = refs
        .iter()
        .map(|reference| {
            let mut value = json!({"group": "", "kind": "Secret", "name": reference.name});
            if let Some(namespace) = &reference.namespace {
                value["namespace"] = json!(namespace);
            }
            value
        })
        .collect();
    let mut tls = json!({"mode": "Terminate", "certificateRefs": refs});
    if let Some(mode) = terminate_mode {
        tls["options"] = json!({"gateway.istio.io/tls-terminate-mode": mode});
    }
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "gatewayClassName": "istio",
            "listeners": [{
                "name": "https",
                "port": 443,
                "protocol": "HTTPS",
                "hostname": "httpbin.example.com",
                "tls": tls,
            }],
        },
    })
    .to_string()
}

/// A ReferenceGrant in `namespace` letting Gateways of `from_namespace` read Secret `secret`.
pub fn grant_manifest(namespace: &str, name: &str, from_namespace: &str, secret: &str) -> String {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1beta1",
        "kind": "ReferenceGrant",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "from": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": from_namespace}],
            "to": [{"group": "", "kind": "Secret", "name": secret}],
        },
    })
    .to_string()
}

/// A Secret with the test certificate of `examples/`, as `kubernetes.io/tls`, or as a generic
/// Secret that also carries `ca.crt` (what the Istio 55623 reproduction switches to).
pub fn secret_manifest(namespace: &str, name: &str, with_ca: bool) -> String {
    let example = std::fs::read_to_string(repo("examples/istio-55623/2-mutual/manifests.yaml"))
        .expect("example manifests");
    let documents: Vec<Value> = serde_saphyr::from_multiple(&example).expect("example is YAML");
    let secret = documents
        .into_iter()
        .find(|document| document["kind"] == "Secret")
        .expect("the example has a Secret");
    let mut data = secret["data"].clone();
    let secret_type = if with_ca {
        "Opaque"
    } else {
        data.as_object_mut()
            .expect("data is a map")
            .remove("ca.crt");
        "kubernetes.io/tls"
    };
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": secret_type,
        "data": data,
    })
    .to_string()
}

/// Retries `attempt` until it returns `Some`, for state that reaches the cache through a watch.
#[track_caller]
pub fn eventually<T>(timeout: Duration, mut attempt: impl FnMut() -> Option<T>) -> (T, Duration) {
    let start = Instant::now();
    loop {
        if let Some(value) = attempt() {
            return (value, start.elapsed());
        }
        assert!(
            start.elapsed() < timeout,
            "condition not met within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
