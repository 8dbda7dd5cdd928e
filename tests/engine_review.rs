//! `review` as a whole: privacy, ratcheting, configured levels, ListenerSets and the reverse
//! checks on ReferenceGrant, Secret and ConfigMap writes.

mod engine_support;

use engine_support::*;
use refguard::engine::{review, Change, Context, Finding, RulesConfig, Severity, World};
use refguard::model::{Gateway, ObjectKey};
use serde_json::{json, Value};

fn context<'a>(world: &'a World, config: &'a RulesConfig) -> Context<'a> {
    Context {
        world,
        config,
        now: NOW,
    }
}

/// Reviews `edited` as an UPDATE of the stored `old`.
fn review_update(
    world: &World,
    config: &RulesConfig,
    old: &Gateway,
    edited: &Value,
) -> Vec<Finding> {
    let new = gateway(edited);
    review(
        &Change::Gateway {
            new: &new,
            old: Some(old),
        },
        &context(world, config),
    )
}

fn cross_ns_gateway() -> Value {
    gateway_json(
        json!([https(
            "https",
            json!([secret_ref(Some("app"), "cert")]),
            json!({})
        )]),
        json!({}),
    )
}

/// Without a grant, the answer must not depend on the Secret: same findings, same messages.
#[test]
fn no_grant_reveals_nothing_about_the_target() {
    let config = config("istio@1.25.0");
    let gateway = cross_ns_gateway();

    let empty = World::new();
    let mut valid = World::new();
    add_tls(&mut valid, "app", "cert");
    let mut malformed = World::new();
    add_secret(
        &mut malformed,
        "app",
        "cert",
        "Opaque",
        &[("tls.crt", "x"), ("tls.key", "y")],
    );

    let baseline = review_gateway(&empty, &config, &gateway);
    assert_eq!(
        outcome(&baseline),
        expected(&[("cert-ref-not-permitted", Severity::Deny)])
    );
    for world in [&valid, &malformed] {
        assert_eq!(review_gateway(world, &config, &gateway), baseline);
    }
    assert_eq!(
        baseline[0].message,
        "no ReferenceGrant in namespace \"app\" lets Gateway \"gw/main\" read Secret \"cert\"; add one"
    );
    assert_eq!(
        baseline[0].field,
        "spec.listeners[0].tls.certificateRefs[0]"
    );
    assert_eq!(baseline[0].listener.as_deref(), Some("https"));
}

#[test]
fn update_ratchets_old_denials_to_warnings() {
    let world = World::new();
    let config = config("gateway-api");
    let old = gateway(&cross_ns_gateway());

    let mut edited = cross_ns_gateway();
    edited["metadata"]["labels"] = json!({"team": "a"});
    let findings = review_update(&world, &config, &old, &edited);
    assert_eq!(
        outcome(&findings),
        expected(&[("cert-ref-not-permitted", Severity::Warn)])
    );
    assert!(findings[0].detail.is_some());

    let mut added = cross_ns_gateway();
    added["spec"]["listeners"]
        .as_array_mut()
        .expect("listeners")
        .push(https(
            "second",
            json!([secret_ref(Some("other"), "cert")]),
            json!({}),
        ));
    let findings = review_update(&world, &config, &old, &added);
    assert_eq!(
        outcome(&findings),
        expected(&[
            ("cert-ref-not-permitted", Severity::Deny),
            ("cert-ref-not-permitted", Severity::Warn)
        ])
    );

    // A new listener inserted in front shifts the broken one to index 1: still ratcheted by
    // name, while the new listener's own problem is denied.
    let mut inserted = cross_ns_gateway();
    inserted["spec"]["listeners"]
        .as_array_mut()
        .expect("listeners")
        .insert(
            0,
            https(
                "first",
                json!([secret_ref(Some("other"), "cert")]),
                json!({}),
            ),
        );
    let findings = review_update(&world, &config, &old, &inserted);
    let by_listener: Vec<(Option<&str>, &str, Severity)> = findings
        .iter()
        .map(|f| (f.listener.as_deref(), f.field.as_str(), f.severity))
        .collect();
    assert_eq!(
        by_listener,
        vec![
            (
                Some("first"),
                "spec.listeners[0].tls.certificateRefs[0]",
                Severity::Deny
            ),
            (
                Some("https"),
                "spec.listeners[1].tls.certificateRefs[0]",
                Severity::Warn
            ),
        ]
    );
}

#[test]
fn configured_levels_apply_per_namespace() {
    let world = World::new();
    let gateway = same_namespace_gateway();

    let escalate = RulesConfig::from_yaml("rules:\n  cert-secret-missing: deny\n").expect("config");
    let findings = review_gateway(&world, &escalate, &gateway);
    assert_eq!(
        outcome(&findings),
        expected(&[("cert-secret-missing", Severity::Deny)])
    );

    let silenced = RulesConfig::from_yaml(
        "rules:\n  cert-secret-missing: deny\nnamespaces:\n  gw:\n    rules:\n      cert-secret-missing: off\n",
    )
    .expect("config");
    assert!(review_gateway(&world, &silenced, &gateway).is_empty());
}

#[test]
fn namespace_override_selects_the_profile() {
    let mut world = World::new();
    let (crt, key) = good_certificate();
    let (ca, _) = good_certificate();
    add_secret(
        &mut world,
        "app",
        "cert",
        "kubernetes.io/tls",
        &[("tls.crt", &crt), ("tls.key", &key), ("ca.crt", &ca)],
    );
    add_secret_grant(&mut world, "app", "gw", Some("cert"));
    let mutual = gateway_json(
        json!([https(
            "https",
            json!([secret_ref(Some("app"), "cert")]),
            json!({"gateway.istio.io/tls-terminate-mode": "MUTUAL"})
        )]),
        json!({}),
    );

    let config = RulesConfig::from_yaml(
        "implementation: istio@1.26.0\nnamespaces:\n  gw:\n    implementation: istio@1.25.0\n",
    )
    .expect("config");
    let findings = review_gateway(&world, &config, &mutual);
    assert_eq!(
        outcome(&findings),
        expected(&[("istio-mutual-cross-namespace", Severity::Deny)])
    );
}

fn listener_set_json(kind: &str, api_version: &str) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"namespace": "team", "name": "extra"},
        "spec": {
            "parentRef": {"name": "main", "namespace": "gw"},
            "listeners": [https("ls-https", json!([secret_ref(Some("app"), "cert")]), json!({}))]
        }
    })
}

fn review_listener_set(world: &World, value: &Value) -> Vec<Finding> {
    let set = listener_set(value);
    let config = config("gateway-api");
    review(
        &Change::ListenerSet {
            new: &set,
            old: None,
        },
        &context(world, &config),
    )
}

#[test]
fn listener_sets_need_their_own_grants() {
    let mut world = World::new();
    add_tls(&mut world, "app", "cert");
    add_secret_grant(&mut world, "app", "team", None);
    let standard = listener_set_json("ListenerSet", "gateway.networking.k8s.io/v1");
    let experimental = listener_set_json("XListenerSet", "gateway.networking.x-k8s.io/v1alpha1");

    // A grant for Gateways of namespace "team" is not one for ListenerSets.
    for value in [&standard, &experimental] {
        let findings = review_listener_set(&world, value);
        assert_eq!(
            outcome(&findings),
            expected(&[("cert-ref-not-permitted", Severity::Deny)])
        );
        assert!(
            findings[0].message.contains("ListenerSet \"team/extra\""),
            "{}",
            findings[0].message
        );
    }

    let grant_for = |group: &str, kind: &str| {
        let from = json!([{"group": group, "kind": kind, "namespace": "team"}]);
        grant(&grant_json(
            "app",
            kind,
            from,
            json!([{"group": "", "kind": "Secret"}]),
        ))
    };
    world.upsert_grant(grant_for("gateway.networking.k8s.io", "ListenerSet"));
    assert!(review_listener_set(&world, &standard).is_empty());
    assert_eq!(review_listener_set(&world, &experimental).len(), 1);

    world.upsert_grant(grant_for("gateway.networking.x-k8s.io", "XListenerSet"));
    assert!(review_listener_set(&world, &experimental).is_empty());
}

/// A world where Gateway gw/main reads Secret app/cert through grant app/allow-gateways.
fn world_with_referrer() -> World {
    let mut world = World::new();
    add_tls(&mut world, "app", "cert");
    add_secret_grant(&mut world, "app", "gw", Some("cert"));
    world.upsert_gateway(gateway(&cross_ns_gateway()));
    world
}

fn review_grant(
    world: &World,
    profile: &str,
    new: Option<&Value>,
    old: Option<&Value>,
) -> Vec<Finding> {
    let config = config(profile);
    let new = new.map(grant);
    let old = old.map(grant);
    let change = Change::ReferenceGrant {
        new: new.as_ref(),
        old: old.as_ref(),
    };
    review(&change, &context(world, &config))
}

fn gateway_grant(to: Value) -> Value {
    let from =
        json!([{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "gw"}]);
    grant_json("app", "allow-gateways", from, to)
}

#[test]
fn grant_changes_that_revoke_references_warn() {
    let world = world_with_referrer();
    let stored = gateway_grant(json!([{"group": "", "kind": "Secret", "name": "cert"}]));
    let narrowed = gateway_grant(json!([{"group": "", "kind": "Secret", "name": "other"}]));
    let widened = gateway_grant(json!([{"group": "", "kind": "Secret"}]));

    let deleted = review_grant(&world, "gateway-api", None, Some(&stored));
    assert_eq!(
        outcome(&deleted),
        expected(&[("grant-change-breaks-reference", Severity::Warn)])
    );
    assert_eq!(
        deleted[0].message,
        "Gateway gw/main, listener https would lose Secret cert; keep it in a grant"
    );
    assert_eq!(deleted[0].object.kind, "ReferenceGrant");
    assert_eq!(deleted[0].listener.as_deref(), Some("https"));

    let narrowing = review_grant(&world, "gateway-api", Some(&narrowed), Some(&stored));
    assert_eq!(
        outcome(&narrowing),
        expected(&[("grant-change-breaks-reference", Severity::Warn)])
    );
    assert!(review_grant(&world, "gateway-api", Some(&widened), Some(&stored)).is_empty());
}

#[test]
fn grant_update_judged_with_the_referrers_profile() {
    let world = world_with_referrer();
    let stored = gateway_grant(json!([{"group": "", "kind": "Secret", "name": "cert"}]));
    let two_entries = gateway_grant(json!([
        {"group": "", "kind": "Secret", "name": "cert"},
        {"group": "", "kind": "Secret", "name": "another"}
    ]));

    // The spec ORs `to` entries; Istio 1.26-1.29 keeps only the last one of a kind.
    assert!(review_grant(&world, "gateway-api", Some(&two_entries), Some(&stored)).is_empty());
    let istio = review_grant(&world, "istio@1.26.0", Some(&two_entries), Some(&stored));
    assert_eq!(
        outcome(&istio),
        expected(&[("grant-change-breaks-reference", Severity::Warn)])
    );
    assert!(review_grant(&world, "istio@1.30.0", Some(&two_entries), Some(&stored)).is_empty());
}

#[test]
fn grant_create_checks_spelling_only() {
    let world = world_with_referrer();
    let from =
        json!([{"group": "gateway.networking.k8s.io", "kind": "Gateways", "namespace": "gw"}]);
    let typo = grant_json(
        "app",
        "new-grant",
        from,
        json!([{"group": "core", "kind": "Secret"}]),
    );

    let findings = review_grant(&world, "gateway-api", Some(&typo), None);
    assert_eq!(
        outcome(&findings),
        expected(&[
            ("grant-invalid-reference", Severity::Warn),
            ("grant-invalid-reference", Severity::Warn)
        ])
    );
    let fields: Vec<&str> = findings.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["spec.from[0].kind", "spec.to[0].group"]);
}

fn review_delete(world: &World, change: Change<'_>) -> Vec<Finding> {
    let config = config("gateway-api");
    review(&change, &context(world, &config))
}

#[test]
fn deleting_a_used_secret_or_config_map_warns() {
    let mut world = world_with_referrer();
    add_ca_config_map(&mut world, "gw", "ca");
    let frontend = json!({"default": {"validation": {"caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": "ca"}]}}});
    let mut with_ca = cross_ns_gateway();
    with_ca["metadata"]["name"] = json!("second");
    with_ca["spec"]["tls"] = json!({"frontend": frontend});
    world.upsert_gateway(gateway(&with_ca));

    let secret = ObjectKey::new("app", "cert");
    let findings = review_delete(&world, Change::SecretDeleted(&secret));
    assert_eq!(
        outcome(&findings),
        expected(&[
            ("secret-delete-breaks-reference", Severity::Warn),
            ("secret-delete-breaks-reference", Severity::Warn)
        ])
    );

    let config_map = ObjectKey::new("gw", "ca");
    let findings = review_delete(&world, Change::ConfigMapDeleted(&config_map));
    assert_eq!(
        outcome(&findings),
        expected(&[("configmap-delete-breaks-reference", Severity::Warn)])
    );
    assert!(
        findings[0]
            .message
            .starts_with("Gateway gw/second reads this ConfigMap"),
        "{}",
        findings[0].message
    );

    let unused = ObjectKey::new("app", "unused");
    assert!(review_delete(&world, Change::SecretDeleted(&unused)).is_empty());
}

#[test]
fn deleting_a_secret_nobody_may_read_is_silent() {
    let mut world = World::new();
    add_tls(&mut world, "app", "cert");
    world.upsert_gateway(gateway(&cross_ns_gateway()));

    let secret = ObjectKey::new("app", "cert");
    assert!(review_delete(&world, Change::SecretDeleted(&secret)).is_empty());
}

#[test]
fn grant_delete_names_affected_listener_sets() {
    let mut world = World::new();
    add_tls(&mut world, "app", "cert");
    let from =
        json!([{"group": "gateway.networking.k8s.io", "kind": "ListenerSet", "namespace": "team"}]);
    let stored = grant_json(
        "app",
        "for-sets",
        from,
        json!([{"group": "", "kind": "Secret"}]),
    );
    world.upsert_grant(grant(&stored));
    world.upsert_listener_set(listener_set(&listener_set_json(
        "ListenerSet",
        "gateway.networking.k8s.io/v1",
    )));

    let findings = review_grant(&world, "gateway-api", None, Some(&stored));
    assert_eq!(
        outcome(&findings),
        expected(&[("grant-change-breaks-reference", Severity::Warn)])
    );
    assert!(
        findings[0]
            .message
            .starts_with("ListenerSet team/extra, listener ls-https"),
        "{}",
        findings[0].message
    );
}

#[test]
fn expiry_window_comes_from_the_config() {
    let mut world = World::new();
    let (crt, key) = certificate((2025, 1, 1), (2026, 1, 11));
    add_key_pair(&mut world, "gw", "cert", "kubernetes.io/tls", &(crt, key));
    let gateway = same_namespace_gateway();

    // (config, findings, what it shows): the certificate expires 10 days after NOW.
    let cases = [
        ("", 1, "default window of 30 days"),
        (
            "expiryWarningDays: 11\n",
            1,
            "window just above the time left",
        ),
        (
            "expiryWarningDays: 10\n",
            0,
            "window equal to the time left",
        ),
        ("expiryWarningDays: 0\n", 0, "warning disabled"),
    ];
    for (text, count, shows) in cases {
        let config = RulesConfig::from_yaml(text).expect("config");
        let findings = review_gateway(&world, &config, &gateway);
        assert_eq!(findings.len(), count, "{shows}: {findings:?}");
    }
}

/// With `--secret-namespaces` the cache knows only some namespaces' Secrets: a Secret elsewhere
/// is not reported as missing (it may well exist), while one in a watched namespace is.
#[test]
fn secrets_outside_the_watched_namespaces_are_not_reported_missing() {
    let config = config("gateway-api");
    let gateway = same_namespace_gateway();

    let mut all_known = World::new();
    let findings = review_gateway(&all_known, &config, &gateway);
    assert_eq!(
        outcome(&findings),
        expected(&[("cert-secret-missing", Severity::Warn)])
    );

    all_known.limit_secrets_to(["elsewhere".to_owned()]);
    assert_eq!(review_gateway(&all_known, &config, &gateway), vec![]);

    let mut watched = World::new();
    watched.limit_secrets_to(["gw".to_owned()]);
    assert_eq!(
        outcome(&review_gateway(&watched, &config, &gateway)),
        expected(&[("cert-secret-missing", Severity::Warn)])
    );
}
