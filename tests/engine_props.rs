//! Property tests: no input makes the model parsers, `pki` or the engine panic. Inputs are
//! arbitrary JSON, structured Gateways and grants with arbitrary field values (so the rules
//! themselves run, not just the parsers), and arbitrary bytes as certificate data.

mod engine_support;

use engine_support::*;
use proptest::prelude::*;
use refguard::engine::{review, Change, Context, RulesConfig, World};
use refguard::model::{Gateway, Kind, ListenerSet, ObjectKey, ReferenceGrant};
use refguard::pki;
use serde_json::{json, Map, Value};

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("spec".to_owned()),
                    Just("metadata".to_owned()),
                    Just("listeners".to_owned()),
                    Just("tls".to_owned()),
                    Just("name".to_owned()),
                    ".{0,8}".prop_map(String::from)
                ],
                inner,
                0..6
            )
            .prop_map(|map| Value::Object(map.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Words the rules react to, mixed with arbitrary text.
fn word(choices: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(choices).prop_map(str::to_owned),
        1 => ".{0,10}".prop_map(String::from),
    ]
}

const NAMESPACES: &[&str] = &["gw", "app", "other", ""];
const KINDS: &[&str] = &["Secret", "ConfigMap", "Service", "Gateways", ""];
const GROUPS: &[&str] = &[
    "",
    "core",
    "gateway.networking.k8s.io",
    "gateway.networking.x-k8s.io",
];
const NAMES: &[&str] = &["cert", "ca", "cert-cacert", "x"];
const MODES: &[&str] = &[
    "MUTUAL",
    "OPTIONAL_MUTUAL",
    "ISTIO_MUTUAL",
    "ISTIO_SIMPLE",
    "mutual",
    "SIMPLE",
];

fn reference() -> impl Strategy<Value = Value> {
    (
        word(GROUPS),
        word(KINDS),
        word(NAMES),
        prop::option::of(word(NAMESPACES)),
    )
        .prop_map(|(group, kind, name, namespace)| {
            let mut value = json!({"group": group, "kind": kind, "name": name});
            if let Some(namespace) = namespace {
                value["namespace"] = json!(namespace);
            }
            value
        })
}

fn listener() -> impl Strategy<Value = Value> {
    let tls_mode = word(&["Terminate", "Passthrough", "terminate"]);
    let protocol = word(&["HTTPS", "TLS", "HTTP"]);
    let options = prop::collection::btree_map(
        word(&[
            "gateway.istio.io/tls-terminate-mode",
            "gateway.istio.io/tls-cipher-suites",
            "minVersion",
        ]),
        word(MODES),
        0..3,
    );
    let refs = prop::collection::vec(reference(), 0..4);
    let validation = prop::option::of(prop::collection::vec(reference(), 0..3));
    (
        word(&["https", "a", ""]),
        prop_oneof![Just(443), Just(8443), any::<i32>()],
        protocol,
        tls_mode,
        refs,
        options,
        validation,
    )
        .prop_map(|(name, port, protocol, mode, refs, options, validation)| {
            let mut tls = json!({"mode": mode, "certificateRefs": refs, "options": options});
            if let Some(refs) = validation {
                tls["frontendValidation"] = json!({"caCertificateRefs": refs});
            }
            json!({"name": name, "port": port, "protocol": protocol, "tls": tls})
        })
}

fn gateway_value() -> impl Strategy<Value = Value> {
    let frontend = prop::option::of((
        prop::collection::vec(reference(), 0..3),
        prop::collection::vec(
            (
                prop_oneof![Just(443), any::<i32>()],
                prop::collection::vec(reference(), 0..2),
            ),
            0..3,
        ),
        prop::option::of(word(&["AllowInsecureFallback", "AllowValidOnly"])),
    ));
    (prop::collection::vec(listener(), 0..5), frontend, prop::option::of(reference()), word(NAMESPACES)).prop_map(
        |(listeners, frontend, backend, namespace)| {
            let mut spec = json!({"gatewayClassName": "x", "listeners": listeners, "tls": {}});
            if let Some((default, per_port, mode)) = frontend {
                let per_port: Vec<Value> = per_port
                    .into_iter()
                    .map(|(port, refs)| json!({"port": port, "tls": {"validation": {"caCertificateRefs": refs}}}))
                    .collect();
                spec["tls"]["frontend"] = json!({
                    "default": {"validation": {"caCertificateRefs": default, "mode": mode}},
                    "perPort": per_port
                });
            }
            if let Some(backend) = backend {
                spec["tls"]["backend"] = json!({"clientCertificateRef": backend});
            }
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                   "metadata": {"name": "g", "namespace": namespace}, "spec": spec})
        },
    )
}

fn grant_value() -> impl Strategy<Value = Value> {
    let from = (word(GROUPS), word(&["Gateway", "ListenerSet", "XListenerSet", "Gateways"]), word(NAMESPACES))
        .prop_map(|(group, kind, namespace)| json!({"group": group, "kind": kind, "namespace": namespace}));
    let to = (word(GROUPS), word(KINDS), prop::option::of(word(NAMES)))
        .prop_map(|(group, kind, name)| json!({"group": group, "kind": kind, "name": name}));
    (
        prop::collection::vec(from, 0..3),
        prop::collection::vec(to, 0..3),
        word(NAMESPACES),
    )
        .prop_map(|(from, to, namespace)| grant_json(&namespace, "g", json!(from), json!(to)))
}

fn profile() -> impl Strategy<Value = RulesConfig> {
    prop_oneof![
        Just("gateway-api".to_owned()),
        (0u32..40, 0u32..12).prop_map(|(minor, patch)| format!("istio@1.{minor}.{patch}")),
    ]
    .prop_map(|profile| config(&profile))
}

/// A small world with grants, Secrets and ConfigMaps the generated references may hit.
fn world(grants: &[Value]) -> World {
    let mut world = World::new();
    add_tls(&mut world, "app", "cert");
    add_secret(
        &mut world,
        "gw",
        "cert",
        "Opaque",
        &[("tls.crt", "junk"), ("key", "junk")],
    );
    add_ca_config_map(&mut world, "app", "ca");
    add_config_map(&mut world, "gw", "ca", &[("ca.crt", "junk")]);
    for value in grants {
        if let Ok(grant) = ReferenceGrant::from_value(value, "default") {
            world.upsert_grant(grant);
        }
    }
    world
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parsers_never_panic(value in arbitrary_json()) {
        let _ = Gateway::from_value(&value, "default");
        let _ = ListenerSet::from_value(&value, Kind::ListenerSet, "default");
        let _ = ListenerSet::from_value(&value, Kind::XListenerSet, "default");
        let _ = ReferenceGrant::from_value(&value, "default");
    }

    #[test]
    fn engine_never_panics_on_gateways(
        value in gateway_value(),
        old in gateway_value(),
        grants in prop::collection::vec(grant_value(), 0..4),
        config in profile(),
    ) {
        let world = world(&grants);
        let context = Context { world: &world, config: &config, now: NOW };
        let (Ok(new), Ok(old)) = (Gateway::from_value(&value, "default"), Gateway::from_value(&old, "default")) else {
            return Ok(());
        };

        let findings = review(&Change::Gateway { new: &new, old: Some(&old) }, &context);
        for finding in &findings {
            prop_assert!(!finding.message.contains('\n'), "{}", finding.message);
        }

        let mut as_set = value.clone();
        as_set["kind"] = json!("ListenerSet");
        as_set["spec"]["parentRef"] = json!({"name": "g"});
        if let Ok(set) = ListenerSet::from_value(&as_set, Kind::ListenerSet, "default") {
            let _ = review(&Change::ListenerSet { new: &set, old: None }, &context);
        }
    }

    #[test]
    fn engine_never_panics_on_grants_and_deletes(
        gateways in prop::collection::vec(gateway_value(), 0..3),
        grants in prop::collection::vec(grant_value(), 1..4),
        new in grant_value(),
        config in profile(),
    ) {
        let mut world = world(&grants);
        for value in &gateways {
            if let Ok(gateway) = Gateway::from_value(value, "default") {
                world.upsert_gateway(gateway);
            }
        }
        let context = Context { world: &world, config: &config, now: NOW };
        let old = ReferenceGrant::from_value(&grants[0], "default").ok();
        let new = ReferenceGrant::from_value(&new, "default").ok();

        let _ = review(&Change::ReferenceGrant { new: new.as_ref(), old: old.as_ref() }, &context);
        let _ = review(&Change::ReferenceGrant { new: None, old: old.as_ref() }, &context);
        for name in ["cert", "ca"] {
            let key = ObjectKey::new("app", name);
            let _ = review(&Change::SecretDeleted(&key), &context);
            let _ = review(&Change::ConfigMapDeleted(&key), &context);
        }
    }

    #[test]
    fn pki_never_panics(
        crt in prop::collection::vec(any::<u8>(), 0..512),
        key in prop::collection::vec(any::<u8>(), 0..512),
        text in ".{0,256}",
    ) {
        let pem_wrapped = format!("-----BEGIN CERTIFICATE-----\n{text}\n-----END CERTIFICATE-----\n");
        let _ = pki::secret_facts("kubernetes.io/tls", [("tls.crt", crt.as_slice()), ("tls.key", key.as_slice())]);
        let _ = pki::secret_facts("Opaque", [("cert", pem_wrapped.as_bytes()), ("key", text.as_bytes()), ("cacert", crt.as_slice())]);
        let _ = pki::config_map_facts([("ca.crt", text.as_str()), ("ca.crt", pem_wrapped.as_str())]);
    }
}
