//! The admission endpoint in-process: captured AdmissionReview bodies in, exact replies out.
//!
//! Each `tests/fixtures/admission/<case>.json` is a review as kube-apiserver sends it; the reply
//! expected for it is `<case>.reply.json`. The world the reviews land in is built by
//! [`world`] below.

use std::path::PathBuf;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use axum::Router;
use refguard::cli::UnsyncedPolicy;
use refguard::engine::{RulesConfig, World};
use refguard::model::{Gateway, ObjectKey, ReferenceGrant};
use refguard::server::{admin_router, router, AppState, Limits, Policy};
use serde_json::{json, Value};
use tower::ServiceExt;

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/admission")
        .join(name)
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(name)).unwrap_or_else(|error| panic!("fixture {name}: {error}"))
}

fn expected_reply(case: &str) -> Value {
    serde_json::from_slice(&fixture(&format!("{case}.reply.json")))
        .unwrap_or_else(|error| panic!("{case}.reply.json: {error}"))
}

/// A valid serving certificate's facts, from a freshly generated pair.
fn tls_secret_facts() -> refguard::model::SecretFacts {
    let pair = rcgen::generate_simple_self_signed(vec!["web.example.com".to_owned()])
        .expect("rcgen generates a certificate");
    let cert = pair.cert.pem();
    let key = pair.signing_key.serialize_pem();
    refguard::pki::secret_facts(
        "kubernetes.io/tls",
        [("tls.crt", cert.as_bytes()), ("tls.key", key.as_bytes())],
    )
}

/// The cluster the fixtures land in:
/// - `apps/web-tls` and `certs/shared-tls`: valid TLS Secrets;
/// - `certs/allow-apps`: a grant letting Gateways in `apps` read Secrets in `certs`;
/// - `apps/edge-prod`: a Gateway that reads `certs/shared-tls` through that grant.
fn world() -> World {
    let mut world = World::new();
    world.upsert_secret(ObjectKey::new("apps", "web-tls"), tls_secret_facts());
    world.upsert_secret(ObjectKey::new("certs", "shared-tls"), tls_secret_facts());

    let grant = object_of("referencegrant-delete.json", "oldObject");
    world.upsert_grant(ReferenceGrant::from_value(&grant, "certs").expect("fixture grant parses"));

    let mut gateway = object_of("gateway-create-cross-namespace.json", "object");
    gateway["metadata"]["name"] = json!("edge-prod");
    world.upsert_gateway(Gateway::from_value(&gateway, "apps").expect("fixture gateway parses"));
    world
}

fn object_of(name: &str, field: &str) -> Value {
    let review: Value = serde_json::from_slice(&fixture(name)).expect("fixture is JSON");
    review["request"][field].clone()
}

fn state_with(world: World, policy: Policy, limits: Limits) -> AppState {
    AppState::for_world(world, RulesConfig::default(), policy, limits)
}

fn app() -> Router {
    router(state_with(world(), allow_unsynced(), Limits::default()))
}

fn allow_unsynced() -> Policy {
    Policy {
        unsynced: UnsyncedPolicy::Allow,
    }
}

async fn post(app: Router, body: impl Into<Body>) -> (StatusCode, Bytes) {
    let request = Request::post("/validate")
        .header("content-type", "application/json")
        .body(body.into())
        .expect("request builds");
    let response = app.oneshot(request).await.expect("router answers");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body reads");
    (status, body)
}

async fn get(app: Router, path: &str) -> (StatusCode, String) {
    let request = Request::get(path)
        .body(Body::empty())
        .expect("request builds");
    let response = app.oneshot(request).await.expect("router answers");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body reads");
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn reply_to(case: &str) -> Value {
    let (status, body) = post(app(), fixture(&format!("{case}.json"))).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{case}: {}",
        String::from_utf8_lossy(&body)
    );
    serde_json::from_slice(&body).expect("reply is JSON")
}

/// Every captured review whose reply is fixed, with what it shows.
const CASES: &[(&str, &str)] = &[
    (
        "gateway-create-cross-namespace",
        "a reference into another namespace that a grant permits is admitted",
    ),
    (
        "gateway-create-no-grant",
        "a reference no grant permits is denied: 403 Forbidden, rule id and field path",
    ),
    (
        "gateway-create-no-grant-dry-run",
        "dry run gets the same denial",
    ),
    (
        "gateway-update-ratchet",
        "UPDATE: a problem the old object already had is a warning, not a denial",
    ),
    (
        "referencegrant-delete",
        "deleting a grant in use warns, naming the Gateway and listener",
    ),
    (
        "secret-delete",
        "deleting a Secret in use warns, naming the Gateway and listener",
    ),
    (
        "gateway-create",
        "a Gateway reading a valid Secret of its own namespace is admitted quietly",
    ),
    (
        "gateway-create-dry-run",
        "dry run gets the same answer, uid echoed",
    ),
    (
        "gateway-create-unparseable",
        "a Gateway the model cannot read is admitted with a not-checked warning",
    ),
    (
        "configmap-create",
        "kinds and operations refguard does not review are admitted unread",
    ),
    (
        "wrong-shape-with-uid",
        "an unreadable review with a uid is admitted unchecked, with one warning",
    ),
];

#[tokio::test]
async fn captured_reviews_get_the_exact_reply() {
    for (case, shows) in CASES {
        let reply = reply_to(case).await;
        assert_eq!(reply, expected_reply(case), "{case}: {shows}");
    }
}

#[tokio::test]
async fn dry_run_gets_the_same_answer_as_the_real_write() {
    let real = reply_to("gateway-create-no-grant").await;
    let dry = reply_to("gateway-create-no-grant-dry-run").await;
    assert_eq!(real["response"]["allowed"], false);
    assert_eq!(real, dry);
}

#[tokio::test]
async fn every_reply_echoes_uid_api_version_and_kind() {
    for (case, _) in CASES {
        let request: Value = serde_json::from_slice(&fixture(&format!("{case}.json"))).unwrap();
        let reply = reply_to(case).await;
        assert_eq!(reply["apiVersion"], "admission.k8s.io/v1", "{case}");
        assert_eq!(reply["kind"], "AdmissionReview", "{case}");
        assert_eq!(
            reply["response"]["uid"], request["request"]["uid"],
            "{case}"
        );
        let warnings = reply["response"]["warnings"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for warning in warnings {
            let warning = warning.as_str().expect("warnings are strings");
            assert!(warning.starts_with('['), "{case}: {warning}");
            assert!(warning.chars().count() < 120, "{case}: {warning}");
        }
    }
}

#[tokio::test]
async fn garbage_body_gets_http_400() {
    let (status, body) = post(app(), fixture("garbage.bin")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let body = String::from_utf8_lossy(&body);
    assert!(
        body.contains("not an admission.k8s.io/v1 AdmissionReview"),
        "{body}"
    );

    let (status, _) = post(app(), "{\"request\": {\"uid\": 7}}").await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a uid that is not a string cannot be echoed"
    );
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413() {
    let limits = Limits {
        body_bytes: 1024 * 1024,
        ..Limits::default()
    };
    let app = router(state_with(world(), allow_unsynced(), limits));
    let (status, _) = post(app.clone(), vec![b' '; 1024 * 1024 + 1]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // The default allows two 3 MiB objects plus the envelope.
    let mut big: Value = serde_json::from_slice(&fixture("gateway-create.json")).unwrap();
    big["request"]["object"]["metadata"]["annotations"]["padding"] = json!("p".repeat(3 << 20));
    big["request"]["oldObject"] = big["request"]["object"].clone();
    let (status, _) = post(
        router(state_with(world(), allow_unsynced(), Limits::default())),
        serde_json::to_vec(&big).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_body_that_never_ends_hits_the_deadline() {
    let limits = Limits {
        review_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let app = router(state_with(world(), allow_unsynced(), limits));
    let stalled = Body::from_stream(futures::stream::pending::<Result<Bytes, std::io::Error>>());
    let (status, body) = post(app, stalled).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(String::from_utf8_lossy(&body).contains("deadline"));
}

#[tokio::test]
async fn reviews_beyond_the_concurrency_limit_wait_for_a_slot() {
    let limits = Limits {
        review_timeout: Duration::from_millis(800),
        max_concurrent: 1,
        ..Limits::default()
    };
    let state = state_with(world(), allow_unsynced(), limits);
    let app = router(state.clone());

    // One stalled review holds the only slot until its deadline...
    let stalled = Body::from_stream(futures::stream::pending::<Result<Bytes, std::io::Error>>());
    let holder = tokio::spawn(post(app.clone(), stalled));
    wait_until("the stalled review takes the only slot", || {
        state.free_slots() == 0
    })
    .await;

    // ...so a second review waits (it would take well under a millisecond otherwise)...
    let waited = tokio::time::timeout(
        Duration::from_millis(200),
        post(app.clone(), fixture("gateway-create.json")),
    )
    .await;
    assert!(
        waited.is_err(),
        "a second review ran while the only slot was taken"
    );

    // ...and runs once the slot is free.
    let (status, _) = holder.await.expect("holder task");
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "the stalled review hit its deadline"
    );
    let (status, _) = post(app, fixture("gateway-create.json")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn large_bodies_in_flight_wait_for_the_body_budget_and_small_ones_do_not() {
    let limits = Limits {
        review_timeout: Duration::from_millis(800),
        body_bytes: 1 << 20,
        body_bytes_in_flight: 1 << 20,
        ..Limits::default()
    };
    let state = state_with(world(), allow_unsynced(), limits);
    let app = router(state.clone());
    let review = fixture("gateway-create.json");

    // A review declaring a 1 MiB body that never arrives holds the whole budget...
    let stalled = stalled_request(1 << 20);
    let holder = tokio::spawn(app.clone().oneshot(stalled));
    wait_until("the stalled review takes the whole body budget", || {
        state.free_body_kib() == 0
    })
    .await;

    // ...so a small review waits for it, although review slots are free...
    let waited = tokio::time::timeout(
        Duration::from_millis(200),
        post(app.clone(), review.clone()),
    )
    .await;
    assert!(
        waited.is_err(),
        "a review ran while the body budget was used up"
    );

    // ...and runs once the budget is back.
    let response = holder.await.expect("holder task").expect("router answers");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(post(app.clone(), review.clone()).await.0, StatusCode::OK);

    // A stalled review with a small body leaves room for others.
    let small = tokio::spawn(app.clone().oneshot(stalled_request(4096)));
    let (status, _) = tokio::time::timeout(Duration::from_secs(5), post(app, review))
        .await
        .expect("a small review does not wait for another small one");
    assert_eq!(status, StatusCode::OK);
    small.abort();
}

/// Yields to the other tasks until `done` holds, failing with `what` after 5 s.
async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let wait = async {
        while !done() {
            tokio::task::yield_now().await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(5), wait)
        .await
        .is_err()
    {
        panic!("not within 5 s: {what}");
    }
}

/// A review that declares `length` bytes of body and never sends them.
fn stalled_request(length: usize) -> Request<Body> {
    let never = Body::from_stream(futures::stream::pending::<Result<Bytes, std::io::Error>>());
    Request::post("/validate")
        .header("content-type", "application/json")
        .header("content-length", length)
        .body(never)
        .expect("request builds")
}

#[tokio::test]
async fn unsynced_cache_admits_with_a_warning_or_denies_by_policy() {
    let reply = |policy, case: &'static str| async move {
        let state = state_with(World::new(), Policy { unsynced: policy }, Limits::default());
        let cache = refguard::cache::Cache::new(refguard::cache::CacheMetrics::default());
        let (status, body) = post(router(state.with_cache(cache)), fixture(case)).await;
        assert_eq!(status, StatusCode::OK);
        serde_json::from_slice::<Value>(&body).expect("reply is JSON")["response"].clone()
    };

    assert_eq!(
        reply(UnsyncedPolicy::Allow, "gateway-create.json").await,
        json!({
            "uid": "5d8e7a3c-1f0b-4c62-8a55-2f3e9d7c1a01",
            "allowed": true,
            "warnings": ["[refguard] not checked: cache not synced (refguard is starting)"]
        })
    );

    let denied = reply(UnsyncedPolicy::Deny, "gateway-create.json").await;
    assert_eq!(denied["allowed"], false);
    assert_eq!(denied["status"]["code"], 503);
    assert_eq!(denied["status"]["reason"], "ServiceUnavailable");

    // Kinds refguard does not review are admitted either way.
    let unreviewed = reply(UnsyncedPolicy::Deny, "configmap-create.json").await;
    assert_eq!(unreviewed["allowed"], true);
}

#[tokio::test]
async fn probes_follow_the_cache() {
    let synced = state_with(world(), allow_unsynced(), Limits::default());
    assert_eq!(
        get(router(synced.clone()), "/healthz").await.0,
        StatusCode::OK
    );
    assert_eq!(
        get(router(synced.clone()), "/readyz").await.0,
        StatusCode::OK
    );
    assert_eq!(get(admin_router(synced), "/readyz").await.0, StatusCode::OK);

    let cache = refguard::cache::Cache::new(refguard::cache::CacheMetrics::default());
    let unsynced = state_with(World::new(), allow_unsynced(), Limits::default()).with_cache(cache);
    assert_eq!(
        get(admin_router(unsynced.clone()), "/healthz").await.0,
        StatusCode::OK
    );
    let (status, body) = get(admin_router(unsynced), "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, "cache not synced\n");
}

#[tokio::test]
async fn metrics_count_reviews_and_cached_objects() {
    let state = state_with(world(), allow_unsynced(), Limits::default());
    post(router(state.clone()), fixture("gateway-create.json")).await;
    post(router(state.clone()), fixture("configmap-create.json")).await;
    post(router(state.clone()), fixture("garbage.bin")).await;

    let (status, text) = get(admin_router(state.clone()), "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    for line in [
        r#"refguard_reviews_total{kind="Gateway",operation="CREATE",verdict="allowed"} 1"#,
        r#"refguard_reviews_total{kind="ConfigMap",operation="CREATE",verdict="allowed"} 1"#,
        r#"refguard_reviews_total{kind="other",operation="unknown",verdict="bad_request"} 1"#,
        r#"refguard_cache_objects{kind="Secret"} 2"#,
        r#"refguard_cache_objects{kind="Gateway"} 1"#,
        r#"refguard_cache_objects{kind="ReferenceGrant"} 1"#,
        "refguard_cache_synced 1",
        "refguard_review_duration_seconds_count 3",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    // Not on the webhook port.
    assert_eq!(
        get(router(state), "/metrics").await.0,
        StatusCode::NOT_FOUND
    );
}

/// Rewrites every `<case>.reply.json` of [`CASES`] from the current code. For when a message
/// changes on purpose: run `cargo test --test admission bless -- --ignored`, then review the
/// diff of `tests/fixtures/admission/` before committing.
#[tokio::test]
#[ignore]
async fn bless() {
    for (case, _) in CASES {
        let reply = serde_json::to_string_pretty(&reply_to(case).await).expect("serialises");
        std::fs::write(fixture_path(&format!("{case}.reply.json")), reply + "\n").expect("write");
    }
}

#[tokio::test]
async fn a_grant_delete_affecting_many_gateways_summarises_its_warnings() {
    let mut world = world();
    let template = object_of("gateway-create-cross-namespace.json", "object");
    for i in 0..200 {
        let mut gateway = template.clone();
        gateway["metadata"]["name"] = json!(format!("edge-{i:03}"));
        world.upsert_gateway(Gateway::from_value(&gateway, "apps").expect("gateway parses"));
    }
    let app = router(state_with(world, allow_unsynced(), Limits::default()));

    let (status, body) = post(app, fixture("referencegrant-delete.json")).await;
    assert_eq!(status, StatusCode::OK);
    let reply: Value = serde_json::from_slice(&body).expect("reply is JSON");
    assert_eq!(reply["response"]["allowed"], true);

    let warnings: Vec<&str> = reply["response"]["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .map(|warning| warning.as_str().expect("string"))
        .collect();
    let total: usize = warnings.iter().map(|warning| warning.chars().count()).sum();
    assert!(total <= 4096, "{total} characters of warnings");
    assert!(warnings.iter().all(|warning| warning.chars().count() < 120));

    // 201 Gateways lose access; the lines that fit are kept whole, the rest counted.
    let (summary, kept) = warnings.split_last().expect("at least one line");
    let expected = format!("[refguard] {} more warnings not shown", 201 - kept.len());
    assert!(summary.starts_with(&expected), "{summary}");
    assert!(kept
        .iter()
        .all(|line| line.starts_with("[grant-change-breaks-reference]")));
}
