//! Review latency through the admission router, in-process: the AdmissionReview body is read,
//! routed, reviewed by the engine against a cache of realistic size, and the reply serialised.
//! Run with `cargo bench --bench webhook`.

use std::hint::black_box;

use axum::body::Body;
use axum::http::Request;
use axum::Router;
use criterion::{criterion_group, criterion_main, Criterion};
use refguard::cli::UnsyncedPolicy;
use refguard::engine::{RulesConfig, World};
use refguard::model::{Gateway, ObjectKey, ReferenceGrant};
use refguard::server::{router, AppState, Limits, Policy};
use serde_json::{json, Value};
use tower::ServiceExt;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/admission/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(path).expect("fixture")
}

/// 10,000 TLS Secrets in 200 namespaces, a grant and 500 Gateways, plus the objects the
/// fixtures name.
fn world() -> World {
    let pair = rcgen::generate_simple_self_signed(vec!["web.example.com".to_owned()])
        .expect("rcgen generates a certificate");
    let (cert, key) = (pair.cert.pem(), pair.signing_key.serialize_pem());
    let facts = || {
        refguard::pki::secret_facts(
            "kubernetes.io/tls",
            [("tls.crt", cert.as_bytes()), ("tls.key", key.as_bytes())],
        )
    };

    let mut world = World::new();
    for i in 0..10_000 {
        world.upsert_secret(
            ObjectKey::new(format!("team-{:03}", i % 200), format!("app-{i}-tls")),
            facts(),
        );
    }
    world.upsert_secret(ObjectKey::new("apps", "web-tls"), facts());
    world.upsert_secret(ObjectKey::new("certs", "shared-tls"), facts());

    let review: Value = serde_json::from_slice(&fixture("referencegrant-delete.json")).unwrap();
    let grant = ReferenceGrant::from_value(&review["request"]["oldObject"], "certs").unwrap();
    world.upsert_grant(grant);

    let review: Value =
        serde_json::from_slice(&fixture("gateway-create-cross-namespace.json")).unwrap();
    for i in 0..500 {
        let mut gateway = review["request"]["object"].clone();
        gateway["metadata"]["name"] = json!(format!("edge-{i}"));
        world.upsert_gateway(Gateway::from_value(&gateway, "apps").unwrap());
    }
    world
}

fn reviews(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let policy = Policy {
        unsynced: UnsyncedPolicy::Allow,
    };
    let app: Router = router(AppState::for_world(
        world(),
        RulesConfig::default(),
        policy,
        Limits::default(),
    ));

    let mut group = c.benchmark_group("review");
    for (case, label) in [
        ("gateway-create.json", "gateway_create_admitted"),
        ("gateway-create-no-grant.json", "gateway_create_denied"),
        ("gateway-update-ratchet.json", "gateway_update_ratcheted"),
        (
            "referencegrant-delete.json",
            "grant_delete_500_gateways_affected",
        ),
    ] {
        let body = axum::body::Bytes::from(fixture(case));
        group.bench_function(label, |b| {
            b.iter(|| {
                let request = Request::post("/validate")
                    .header("content-type", "application/json")
                    .body(Body::from(body.clone()))
                    .unwrap();
                let response = runtime.block_on(app.clone().oneshot(request)).unwrap();
                let reply =
                    runtime.block_on(axum::body::to_bytes(response.into_body(), usize::MAX));
                black_box(reply.unwrap())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, reviews);
criterion_main!(benches);
