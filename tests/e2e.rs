//! End-to-end tests: a real kube-apiserver calls `refguard serve` over HTTPS through a real
//! ValidatingWebhookConfiguration, and kubectl's output is checked as a user sees it.
//!
//! Run with `hack/e2e.sh`, which builds and starts the control plane. Every test works in
//! namespaces of its own and starts its own webhook process.

#[path = "e2e/support.rs"]
mod support;

use std::time::Duration;

use support::{
    eventually, gateway_manifest, grant_manifest, secret_manifest, CertRef, Kubectl, Webhook,
    WebhookOptions,
};

/// Namespaces for one Istio 55623 replay: the Gateway's and the application's.
struct Scenario {
    gateways: String,
    app: String,
}

impl Scenario {
    fn new(kubectl: &Kubectl) -> Self {
        let scenario = Self {
            gateways: support::unique_namespace("istio-gateways"),
            app: support::unique_namespace("httpbin"),
        };
        kubectl.create_namespace(&scenario.gateways);
        kubectl.create_namespace(&scenario.app);
        scenario
    }

    /// A config that applies `profile` to this scenario's Gateway namespace only.
    fn config(&self, profile: &str) -> String {
        format!(
            "namespaces:\n  {}:\n    implementation: {profile}\n",
            self.gateways
        )
    }

    fn cross_namespace_gateway(&self, mode: Option<&str>) -> String {
        self.named_gateway("my-gateway", mode)
    }

    fn named_gateway(&self, name: &str, mode: Option<&str>) -> String {
        let reference = CertRef::new("httpbin-credential").in_namespace(&self.app);
        gateway_manifest(&self.gateways, name, &[reference], mode)
    }

    /// Step 1 of the reproduction: standard TLS with a granted cross-namespace Secret.
    fn standard_tls(&self, kubectl: &Kubectl) {
        kubectl
            .apply(&secret_manifest(&self.app, "httpbin-credential", false))
            .assert_ok();
        kubectl
            .apply(&grant_manifest(
                &self.app,
                "allow-gateways",
                &self.gateways,
                "httpbin-credential",
            ))
            .assert_ok();
        kubectl
            .apply(&self.cross_namespace_gateway(None))
            .assert_ok()
            .assert_no_warnings();
    }

    /// Step 2: the Secret gains `ca.crt` and the listener switches to MUTUAL.
    fn mutual(&self, kubectl: &Kubectl) -> support::Run {
        kubectl
            .run(&["delete", "secret", "httpbin-credential", "-n", &self.app])
            .assert_ok();
        kubectl
            .apply(&secret_manifest(&self.app, "httpbin-credential", true))
            .assert_ok();
        kubectl.apply(&self.cross_namespace_gateway(Some("MUTUAL")))
    }
}

#[test]
fn istio_1_25_mutual_across_namespaces_is_denied_with_cause_and_fix() {
    let kubectl = Kubectl::from_env();
    let scenario = Scenario::new(&kubectl);
    let _webhook = Webhook::start(WebhookOptions {
        config: scenario.config("istio@1.25.0"),
        ..WebhookOptions::default()
    });

    scenario.standard_tls(&kubectl);

    let denied = scenario.mutual(&kubectl);
    denied
        .assert_denied()
        .assert_stderr_contains("admission webhook \"gateways.refguard.io\" denied the request")
        .assert_stderr_contains("spec.listeners[0].tls")
        .assert_stderr_contains("55623");

    let dry_run = kubectl.apply_dry_run(&scenario.cross_namespace_gateway(Some("MUTUAL")));
    dry_run.assert_denied().assert_stderr_contains("55623");

    kubectl
        .apply(&secret_manifest(
            &scenario.gateways,
            "httpbin-credential",
            true,
        ))
        .assert_ok();
    let moved = gateway_manifest(
        &scenario.gateways,
        "my-gateway",
        &[CertRef::new("httpbin-credential")],
        Some("MUTUAL"),
    );
    kubectl.apply(&moved).assert_ok().assert_no_warnings();
}

#[test]
fn istio_1_26_admits_mutual_across_namespaces() {
    let kubectl = Kubectl::from_env();
    let scenario = Scenario::new(&kubectl);
    let _webhook = Webhook::start(WebhookOptions {
        config: scenario.config("istio@1.26.0"),
        ..WebhookOptions::default()
    });

    scenario.standard_tls(&kubectl);
    scenario.mutual(&kubectl).assert_ok();
}

#[test]
fn a_changed_rules_config_is_picked_up_without_a_restart() {
    let kubectl = Kubectl::from_env();
    let scenario = Scenario::new(&kubectl);
    let webhook = Webhook::start(WebhookOptions::default());
    scenario.standard_tls(&kubectl);
    scenario.mutual(&kubectl).assert_ok();

    webhook.set_config(&scenario.config("istio@1.25.0"));
    let (run, elapsed) = eventually(Duration::from_secs(20), || {
        let run = kubectl.apply_dry_run(&scenario.named_gateway("second", Some("MUTUAL")));
        (run.code != 0).then_some(run)
    });
    eprintln!("the new rules config took effect after {elapsed:?}");
    run.assert_denied().assert_stderr_contains("55623");

    // Ratcheting: the stored Gateway already had the problem, so an update is let through
    // with the problem as a warning.
    let update = scenario.cross_namespace_gateway(Some("MUTUAL")).replace(
        "\"name\":\"my-gateway\"",
        "\"name\":\"my-gateway\",\"labels\":{\"edited\":\"yes\"}",
    );
    assert!(
        update.contains("edited"),
        "the label was added to the manifest"
    );
    let ratcheted = kubectl.apply(&update);
    ratcheted.assert_ok();
    assert!(
        ratcheted
            .warnings()
            .iter()
            .any(|line| line.contains("55623")),
        "{ratcheted}"
    );
}

#[test]
fn a_missing_grant_is_denied_without_revealing_the_secret() {
    let kubectl = Kubectl::from_env();
    let scenario = Scenario::new(&kubectl);
    let _webhook = Webhook::start(WebhookOptions::default());
    kubectl
        .apply(&secret_manifest(&scenario.app, "httpbin-credential", false))
        .assert_ok();

    let with_secret = kubectl.apply(&scenario.cross_namespace_gateway(None));
    with_secret
        .assert_denied()
        .assert_stderr_contains("[cert-ref-not-permitted]")
        .assert_stderr_contains("no ReferenceGrant");

    let other = gateway_manifest(
        &scenario.gateways,
        "my-gateway",
        &[CertRef::new("no-such-secret").in_namespace(&scenario.app)],
        None,
    );
    let without_secret = kubectl.apply(&other);
    without_secret.assert_denied();
    assert_eq!(
        with_secret.stderr.replace("httpbin-credential", "X"),
        without_secret.stderr.replace("no-such-secret", "X"),
        "the denial must not depend on whether the Secret exists"
    );
}

#[test]
fn deleting_a_grant_warns_with_the_gateways_that_lose_access() {
    let kubectl = Kubectl::from_env();
    let scenario = Scenario::new(&kubectl);
    let _webhook = Webhook::start(WebhookOptions::default());
    scenario.standard_tls(&kubectl);

    let (run, elapsed) = eventually(Duration::from_secs(10), || {
        let run = kubectl.run(&[
            "delete",
            "referencegrant",
            "allow-gateways",
            "-n",
            &scenario.app,
            "--dry-run=server",
        ]);
        run.stderr.contains("my-gateway").then_some(run)
    });
    eprintln!("the cache saw the Gateway {elapsed:?} after kubectl apply returned");
    assert_eq!(run.code, 0, "{run}");
    let warning = run
        .warnings()
        .into_iter()
        .find(|line| line.contains("my-gateway"))
        .expect("a warning naming the Gateway")
        .to_owned();
    assert!(warning.starts_with("Warning: ["), "{warning}");
    assert!(warning.contains(&scenario.gateways), "{warning}");

    let deleted = kubectl.run(&[
        "delete",
        "referencegrant",
        "allow-gateways",
        "-n",
        &scenario.app,
    ]);
    assert_eq!(deleted.code, 0, "{deleted}");
    assert!(
        deleted
            .warnings()
            .iter()
            .any(|line| line.contains("my-gateway")),
        "{deleted}"
    );
}

#[test]
fn a_secret_created_after_the_gateway_turns_the_warning_clean() {
    let kubectl = Kubectl::from_env();
    let namespace = support::unique_namespace("late-secret");
    kubectl.create_namespace(&namespace);
    let _webhook = Webhook::start(WebhookOptions::default());

    let gateway = gateway_manifest(&namespace, "edge", &[CertRef::new("edge-cert")], None);
    let first = kubectl.apply(&gateway);
    first.assert_ok();
    assert!(
        first
            .warnings()
            .iter()
            .any(|line| line.contains("edge-cert")),
        "a missing Secret is a warning, not a denial:\n{first}"
    );

    kubectl
        .apply(&secret_manifest(&namespace, "edge-cert", false))
        .assert_ok();
    let (_, elapsed) = eventually(Duration::from_secs(10), || {
        let run = kubectl.apply_dry_run(&gateway);
        (run.code == 0 && run.warnings().is_empty()).then_some(())
    });
    eprintln!("the new Secret reached the cache within {elapsed:?}");
}

#[test]
fn kube_system_and_the_webhook_namespace_are_not_reviewed() {
    let kubectl = Kubectl::from_env();
    let _webhook = Webhook::start(WebhookOptions::default());

    for namespace in ["kube-system", support::SYSTEM_NAMESPACE] {
        let gateway = gateway_manifest(
            namespace,
            "unchecked",
            &[CertRef::new("x").in_namespace("elsewhere")],
            None,
        );
        kubectl
            .apply_dry_run(&gateway)
            .assert_ok()
            .assert_no_warnings();
    }
}

#[test]
fn failure_policy_decides_when_refguard_is_down() {
    let kubectl = Kubectl::from_env();
    let namespace = support::unique_namespace("down");
    kubectl.create_namespace(&namespace);
    let gateway = gateway_manifest(&namespace, "edge", &[CertRef::new("edge-cert")], None);

    let mut fail = Webhook::start(WebhookOptions::default());
    fail.stop();
    let run = kubectl.apply_dry_run(&gateway);
    assert_eq!(
        run.code, 1,
        "failurePolicy Fail refuses writes while refguard is down:\n{run}"
    );
    run.assert_stderr_contains("failed calling webhook");
    drop(fail);

    let mut ignore = Webhook::start(WebhookOptions {
        failure_policy: "Ignore",
        ..WebhookOptions::default()
    });
    ignore.stop();
    kubectl.apply_dry_run(&gateway).assert_ok();
}

/// A kubeconfig pointing at a port where nothing listens: watches can never list.
fn unreachable_kubeconfig(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("unreachable.kubeconfig");
    let port = support::free_port();
    let kubeconfig = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "none", "cluster": {"server": format!("https://127.0.0.1:{port}")}}],
        "users": [{"name": "none", "user": {"token": "none"}}],
        "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}],
        "current-context": "none",
    });
    std::fs::write(&path, kubeconfig.to_string()).expect("kubeconfig written");
    path
}

#[test]
fn readiness_waits_for_the_cache_and_unsynced_reviews_are_admitted_with_a_warning() {
    let kubectl = Kubectl::from_env();
    let dir = tempfile::tempdir().expect("temp dir");
    let namespace = support::unique_namespace("unsynced");
    kubectl.create_namespace(&namespace);
    let webhook = Webhook::launch(WebhookOptions {
        kubeconfig: Some(unreachable_kubeconfig(dir.path())),
        ..WebhookOptions::default()
    });

    let (_, _) = eventually(Duration::from_secs(20), || {
        matches!(webhook.admin_get("/healthz"), Some((200, _))).then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    let readyz = webhook
        .admin_get("/readyz")
        .expect("the admin port answers");
    assert_ne!(readyz.0, 200, "ready before any watch listed: {readyz:?}");

    webhook.register("Fail", "not checked");
    let gateway = gateway_manifest(
        &namespace,
        "edge",
        &[CertRef::new("x").in_namespace("y")],
        None,
    );
    let run = kubectl.apply_dry_run(&gateway);
    run.assert_ok();
    assert!(
        run.warnings()
            .iter()
            .any(|line| line.contains("not checked")),
        "{run}"
    );
}

#[test]
fn unsynced_reviews_can_be_denied_instead() {
    let kubectl = Kubectl::from_env();
    let dir = tempfile::tempdir().expect("temp dir");
    let namespace = support::unique_namespace("unsynced-deny");
    kubectl.create_namespace(&namespace);
    let webhook = Webhook::launch(WebhookOptions {
        kubeconfig: Some(unreachable_kubeconfig(dir.path())),
        extra_args: vec!["--unsynced".into(), "deny".into()],
        ..WebhookOptions::default()
    });
    let (_, _) = eventually(Duration::from_secs(20), || {
        matches!(webhook.admin_get("/healthz"), Some((200, _))).then_some(())
    });

    webhook.register("Fail", "denied the request");
    let gateway = gateway_manifest(&namespace, "edge", &[CertRef::new("edge-cert")], None);
    let run = kubectl.apply_dry_run(&gateway);
    assert_eq!(run.code, 1, "{run}");
    run.assert_stderr_contains("Error from server (ServiceUnavailable)")
        .assert_stderr_contains("not finished reading the cluster state");
}

#[test]
fn the_cache_survives_an_apiserver_restart() {
    let kubectl = Kubectl::from_env();
    let scenario = Scenario::new(&kubectl);
    let webhook = Webhook::start(WebhookOptions::default());
    scenario.standard_tls(&kubectl);

    let status = std::process::Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/hack/cluster.sh"))
        .arg("restart-apiserver")
        .status()
        .expect("cluster.sh runs");
    assert!(status.success(), "restarting kube-apiserver");
    assert!(
        matches!(webhook.admin_get("/readyz"), Some((200, _))),
        "readiness must not flip back on a watch error"
    );

    kubectl
        .run(&[
            "delete",
            "referencegrant",
            "allow-gateways",
            "-n",
            &scenario.app,
        ])
        .assert_ok();
    let (run, elapsed) = eventually(Duration::from_secs(30), || {
        // A new Gateway: an update of the stored one would be ratcheted to a warning.
        let run = kubectl.apply_dry_run(&scenario.named_gateway("after-restart", None));
        (run.code == 1).then_some(run)
    });
    eprintln!("after the restart the cache saw the grant deleted within {elapsed:?}");
    run.assert_denied()
        .assert_stderr_contains("[cert-ref-not-permitted]");
}

/// The ListenerSet kind this cluster serves: `ListenerSet` (Gateway API v1.5+) or the
/// experimental `XListenerSet` (v1.3-v1.4), as (apiVersion, kind, grant group).
fn served_listener_set(kubectl: &Kubectl) -> (&'static str, &'static str, &'static str) {
    let standard = kubectl.must(&[
        "api-resources",
        "--api-group=gateway.networking.k8s.io",
        "-o",
        "name",
    ]);
    if standard
        .lines()
        .any(|line| line.starts_with("listenersets."))
    {
        (
            "gateway.networking.k8s.io/v1",
            "ListenerSet",
            "gateway.networking.k8s.io",
        )
    } else {
        (
            "gateway.networking.x-k8s.io/v1alpha1",
            "XListenerSet",
            "gateway.networking.x-k8s.io",
        )
    }
}

#[test]
fn a_listener_set_needs_a_grant_of_its_own() {
    let kubectl = Kubectl::from_env();
    let scenario = Scenario::new(&kubectl);
    let _webhook = Webhook::start(WebhookOptions::default());
    scenario.standard_tls(&kubectl);
    let (api_version, kind, group) = served_listener_set(&kubectl);

    let listener_set = serde_json::json!({
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": "extra", "namespace": scenario.gateways},
        "spec": {
            "parentRef": {"name": "my-gateway", "group": "gateway.networking.k8s.io", "kind": "Gateway"},
            "listeners": [{
                "name": "extra-https",
                "port": 443,
                "protocol": "HTTPS",
                "hostname": "extra.example.com",
                "tls": {
                    "mode": "Terminate",
                    "certificateRefs": [{"name": "httpbin-credential", "namespace": scenario.app}],
                },
            }],
        },
    })
    .to_string();
    kubectl
        .apply(&listener_set)
        .assert_denied()
        .assert_stderr_contains("[cert-ref-not-permitted]")
        .assert_stderr_contains(kind);

    let grant = serde_json::json!({
        "apiVersion": "gateway.networking.k8s.io/v1beta1",
        "kind": "ReferenceGrant",
        "metadata": {"name": "allow-listener-sets", "namespace": scenario.app},
        "spec": {
            "from": [{"group": group, "kind": kind, "namespace": scenario.gateways}],
            "to": [{"group": "", "kind": "Secret"}],
        },
    })
    .to_string();
    kubectl.apply(&grant).assert_ok();
    let (run, elapsed) = eventually(Duration::from_secs(10), || {
        let run = kubectl.apply(&listener_set);
        (run.code == 0).then_some(run)
    });
    eprintln!("{kind} admitted {elapsed:?} after its grant was created");
    run.assert_no_warnings();
}

/// A minimal CRD for the ListenerSet kind this cluster does not serve yet, as (name, manifest).
fn missing_listener_set_crd(kubectl: &Kubectl) -> (String, String) {
    let (_, served_kind, _) = served_listener_set(kubectl);
    let (group, version, kind, plural) = if served_kind == "ListenerSet" {
        (
            "gateway.networking.x-k8s.io",
            "v1alpha1",
            "XListenerSet",
            "xlistenersets",
        )
    } else {
        (
            "gateway.networking.k8s.io",
            "v1",
            "ListenerSet",
            "listenersets",
        )
    };
    let name = format!("{plural}.{group}");
    let mut crd = serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"kind": kind, "listKind": format!("{kind}List"), "plural": plural, "singular": kind.to_lowercase()},
            "versions": [{
                "name": version,
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
            }],
        },
    });
    if group.ends_with(".k8s.io") {
        // The API server refuses CRDs in k8s.io groups without this annotation.
        crd["metadata"]["annotations"] = serde_json::json!({
            "api-approved.kubernetes.io": "https://github.com/kubernetes-sigs/gateway-api/pull/3328",
        });
    }
    (name, crd.to_string())
}

/// Removes a CRD the test installed, also when the test fails, so later tests see the
/// cluster as it was.
struct InstalledCrd<'a> {
    kubectl: &'a Kubectl,
    name: String,
}

impl Drop for InstalledCrd<'_> {
    fn drop(&mut self) {
        let _ = self.kubectl.run(&[
            "delete",
            "crd",
            &self.name,
            "--ignore-not-found",
            "--wait=true",
        ]);
    }
}

#[test]
fn a_gateway_api_kind_installed_later_restarts_refguard_to_watch_it() {
    let kubectl = Kubectl::from_env();
    let mut webhook = Webhook::start(WebhookOptions {
        extra_args: vec!["--rediscovery-interval-secs".into(), "1".into()],
        ..WebhookOptions::default()
    });
    assert_eq!(
        webhook.wait_exit(Duration::from_secs(3)),
        None,
        "nothing changed yet"
    );

    let (name, crd) = missing_listener_set_crd(&kubectl);
    kubectl.apply(&crd).assert_ok();
    let _installed = InstalledCrd {
        kubectl: &kubectl,
        name: name.clone(),
    };
    kubectl
        .run(&[
            "wait",
            "--for=condition=Established",
            &format!("crd/{name}"),
            "--timeout=30s",
        ])
        .assert_ok();

    let exit = webhook.wait_exit(Duration::from_secs(30));
    assert_eq!(
        exit,
        Some(1),
        "refguard must exit 1 to be restarted:\n{}",
        webhook.logs()
    );
    assert!(
        webhook
            .logs()
            .contains("Gateway API resources served since startup are not watched"),
        "{}",
        webhook.logs()
    );
}
