//! Engine time for a large Gateway against a large cluster: a Gateway with 64 HTTPS listeners,
//! each with a cross-namespace certificateRef, reviewed against a world of 10,000
//! ReferenceGrants and 50,000 Secrets spread over 1,000 namespaces. Lookups are indexed by
//! namespace, so the time should not grow with the world.
//!
//! Run: `cargo bench --bench engine` (criterion prints the time per review).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use rcgen::{CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256};
use refguard::engine::{review, Change, Context, RulesConfig, World};
use refguard::model::{Gateway, ObjectKey, ReferenceGrant};
use refguard::pki;
use serde_json::{json, Value};

const NAMESPACES: usize = 1_000;
const SECRETS_PER_NAMESPACE: usize = 50;
const GRANTS_PER_NAMESPACE: usize = 10;
const LISTENERS: usize = 64;
const GATEWAY_NAMESPACE: &str = "gateways";

fn namespace(index: usize) -> String {
    format!("team-{index:04}")
}

/// The namespace listener `index` points into: spread over the world.
fn target_namespace(index: usize) -> String {
    namespace(index * (NAMESPACES / LISTENERS))
}

fn grant(namespace: &str, index: usize) -> ReferenceGrant {
    // One grant per namespace admits the bench Gateway's namespace; the rest admit others.
    let from_namespace = if index == 0 {
        GATEWAY_NAMESPACE.to_owned()
    } else {
        format!("other-{index}")
    };
    let value = json!({
        "apiVersion": "gateway.networking.k8s.io/v1beta1",
        "kind": "ReferenceGrant",
        "metadata": {"namespace": namespace, "name": format!("grant-{index}")},
        "spec": {
            "from": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": from_namespace}],
            "to": [{"group": "", "kind": "Secret"}]
        }
    });
    ReferenceGrant::from_value(&value, "default").expect("bench grant parses")
}

fn world(gateway: &Gateway) -> World {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
    let cert = CertificateParams::new(vec!["bench.example.test".into()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    let (crt, key) = (cert.pem(), key.serialize_pem());
    let facts = pki::secret_facts(
        "kubernetes.io/tls",
        [("tls.crt", crt.as_bytes()), ("tls.key", key.as_bytes())],
    );

    let mut world = World::new();
    for ns in 0..NAMESPACES {
        let namespace = namespace(ns);
        for index in 0..SECRETS_PER_NAMESPACE {
            world.upsert_secret(
                ObjectKey::new(namespace.clone(), format!("cert-{index}")),
                facts.clone(),
            );
        }
        for index in 0..GRANTS_PER_NAMESPACE {
            world.upsert_grant(grant(&namespace, index));
        }
    }
    world.upsert_gateway(gateway.clone());
    world
}

fn gateway(mode: Option<&str>) -> Gateway {
    let listeners: Vec<Value> = (0..LISTENERS)
        .map(|index| {
            let options = mode.map_or(
                json!({}),
                |mode| json!({"gateway.istio.io/tls-terminate-mode": mode}),
            );
            json!({
                "name": format!("https-{index}"),
                "port": 443,
                "hostname": format!("app{index}.example.test"),
                "protocol": "HTTPS",
                "tls": {
                    "mode": "Terminate",
                    "certificateRefs": [{"name": format!("cert-{}", index % SECRETS_PER_NAMESPACE),
                                         "namespace": target_namespace(index)}],
                    "options": options
                }
            })
        })
        .collect();
    let value = json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"namespace": GATEWAY_NAMESPACE, "name": "bench"},
        "spec": {"gatewayClassName": "bench", "listeners": listeners}
    });
    Gateway::from_value(&value, "default").expect("bench gateway parses")
}

fn bench(c: &mut Criterion) {
    let plain = gateway(None);
    let mutual = gateway(Some("MUTUAL"));
    let world = world(&plain);
    let now = 1_800_000_000;
    let spec = RulesConfig::default();
    let istio = RulesConfig::from_yaml("implementation: istio@1.25.0\n").expect("config");

    let findings = review(
        &Change::Gateway {
            new: &plain,
            old: None,
        },
        &Context {
            world: &world,
            config: &spec,
            now,
        },
    );
    println!(
        "world: {:?}; 64-listener Gateway findings (gateway-api): {}",
        world.counts(),
        findings.len()
    );

    c.bench_function("review gateway, 64 listeners, gateway-api", |b| {
        let context = Context {
            world: &world,
            config: &spec,
            now,
        };
        b.iter(|| {
            review(
                black_box(&Change::Gateway {
                    new: &plain,
                    old: None,
                }),
                &context,
            )
        })
    });
    c.bench_function(
        "review gateway update, 64 MUTUAL listeners, istio@1.25.0",
        |b| {
            let context = Context {
                world: &world,
                config: &istio,
                now,
            };
            b.iter(|| {
                review(
                    black_box(&Change::Gateway {
                        new: &mutual,
                        old: Some(&plain),
                    }),
                    &context,
                )
            })
        },
    );

    let stored = grant(&target_namespace(0), 0);
    c.bench_function("review grant delete (reverse check)", |b| {
        let context = Context {
            world: &world,
            config: &spec,
            now,
        };
        b.iter(|| {
            review(
                black_box(&Change::ReferenceGrant {
                    new: None,
                    old: Some(&stored),
                }),
                &context,
            )
        })
    });
    let secret = ObjectKey::new(target_namespace(0), "cert-0");
    c.bench_function("review secret delete (reverse check)", |b| {
        let context = Context {
            world: &world,
            config: &spec,
            now,
        };
        b.iter(|| review(black_box(&Change::SecretDeleted(&secret)), &context))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
