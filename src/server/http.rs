//! The HTTP surface: the admission router (served over TLS) and the admin router (plain HTTP).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use prometheus_client::registry::Registry;
use tokio::sync::Semaphore;

use super::admission::{read_review, AdmissionResponse, AdmissionReviewReply, ReadError};
use super::metrics::ReviewMetrics;
use super::reload::SharedConfig;
use super::review::{self, Outcome, Policy, Verdict};
use crate::cache::{Cache, CacheMetrics};
use crate::engine::{RulesConfig, World};

/// Limits on one review.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest body accepted. The API server sends at most two objects of up to 3 MiB each
    /// (object and oldObject) plus the envelope.
    pub body_bytes: usize,
    /// Time from the start of the request to the reply, waiting for a slot included.
    pub review_timeout: Duration,
    /// Reviews answered at once; more wait for a slot (within the deadline).
    pub max_concurrent: usize,
    /// Request bodies in flight, by `Content-Length`, summed over all reviews (a body without
    /// one counts as `body_bytes`); more wait, within the deadline. A review holds its body
    /// and the parsed objects, so this rather than `max_concurrent` bounds review memory when
    /// bodies are large. Raised to `body_bytes` if lower, so one largest review always fits.
    pub body_bytes_in_flight: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_bytes: 7 * 1024 * 1024,
            review_timeout: Duration::from_secs(8),
            max_concurrent: 32,
            body_bytes_in_flight: 16 * 1024 * 1024,
        }
    }
}

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState {
    cache: Cache,
    config: SharedConfig,
    policy: Policy,
    limits: Limits,
    metrics: Arc<ReviewMetrics>,
    registry: Arc<Registry>,
    slots: Arc<Semaphore>,
    /// The body budget, one permit per KiB.
    body_kib: Arc<Semaphore>,
}

impl AppState {
    /// `registry` must already hold the cache's metrics; the review metrics are added here.
    pub fn new(
        cache: Cache,
        config: SharedConfig,
        policy: Policy,
        limits: Limits,
        mut registry: Registry,
    ) -> Self {
        let metrics = ReviewMetrics::register(&mut registry);
        Self {
            cache,
            config,
            policy,
            limits,
            metrics: Arc::new(metrics),
            registry: Arc::new(registry),
            slots: Arc::new(Semaphore::new(limits.max_concurrent.max(1))),
            body_kib: Arc::new(Semaphore::new(body_budget_kib(&limits) as usize)),
        }
    }

    /// A state over a fixed, synced `world`, with metrics: for tests and benchmarks.
    pub fn for_world(world: World, config: RulesConfig, policy: Policy, limits: Limits) -> Self {
        let mut registry = Registry::default();
        let cache_metrics = CacheMetrics::register(&mut registry);
        let cache = Cache::synced_with_metrics(world, cache_metrics);
        Self::new(cache, SharedConfig::new(config), policy, limits, registry)
    }

    /// The same state reading another cache (tests use it for an unsynced one).
    pub fn with_cache(mut self, cache: Cache) -> Self {
        self.cache = cache;
        self
    }

    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// Review slots free right now (tests use it to know that a review holds one).
    pub fn free_slots(&self) -> usize {
        self.slots.available_permits()
    }

    /// KiB of the body budget free right now.
    pub fn free_body_kib(&self) -> usize {
        self.body_kib.available_permits()
    }
}

/// The body budget in KiB: at least one largest body.
fn body_budget_kib(limits: &Limits) -> u32 {
    let bytes = limits.body_bytes_in_flight.max(limits.body_bytes).max(1);
    u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX)
}

/// KiB of the budget one review takes: its declared length, or the largest body if it
/// declares none (the API server always does).
fn body_weight_kib(declared: Option<u64>, limits: &Limits) -> u32 {
    let bytes = declared.unwrap_or(limits.body_bytes as u64).max(1);
    let kib = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX);
    kib.min(body_budget_kib(limits))
}

/// The admission router: `POST /validate`, and `/healthz` and `/readyz` for the probes of
/// clusters that only allow one port.
pub fn router(state: AppState) -> Router {
    let validate = Router::new()
        .route("/validate", post(validate))
        .layer(middleware::from_fn_with_state(state.clone(), review_limits))
        .layer(DefaultBodyLimit::max(state.limits.body_bytes));
    Router::new()
        .merge(validate)
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// The admin router, plain HTTP: `/healthz`, `/readyz`, `/metrics`.
pub fn admin_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Bounds concurrency, body memory and time. Waiting for the body budget or a slot counts
/// against the deadline, so an overloaded server answers 503 in time rather than leaving the
/// API server to time out.
async fn review_limits(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // A declared length over the limit is refused before reading a byte of the body; bodies
    // without one are cut by `DefaultBodyLimit` as they are read.
    let declared = declared_length(&request);
    if declared.is_some_and(|length| length > state.limits.body_bytes as u64) {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            "refguard: request body too large\n",
        )
            .into_response();
    }

    let deadline = state.limits.review_timeout;
    let work = async {
        let weight = body_weight_kib(declared, &state.limits);
        let Ok(_body) = state.body_kib.acquire_many(weight).await else {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        };
        let Ok(_slot) = state.slots.acquire().await else {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        };
        next.run(request).await
    };
    match tokio::time::timeout(deadline, work).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(
                timeout_ms = deadline.as_millis() as u64,
                "Review deadline exceeded"
            );
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "refguard: review deadline exceeded\n",
            )
                .into_response()
        }
    }
}

fn declared_length(request: &Request) -> Option<u64> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

async fn validate(State(state): State<AppState>, body: Bytes) -> Response {
    let started = Instant::now();

    let review = match read_review(&body) {
        Ok(review) => review,
        Err(error) => return unreadable(&state, error, started),
    };
    let request = &review.request;

    let span = tracing::info_span!(
        "review",
        uid = %request.uid,
        operation = request.operation.as_str(),
        kind = %request.kind.kind,
        namespace = %request.namespace,
        // Not `name`: the JSON log format already uses that key for the span's own name.
        object_name = %request.name,
        dry_run = request.dry_run,
    );
    let _entered = span.enter();

    let config = state.config.get();
    let outcome = review::decide(request, &state.cache, &config, state.policy, unix_now());
    log(&outcome);
    state
        .metrics
        .record(&outcome, started.elapsed().as_secs_f64());

    Json(AdmissionReviewReply::new(
        review.api_version,
        outcome.response,
    ))
    .into_response()
}

/// A body that is not a review we can answer: admitted unchecked when its uid can be recovered
/// (so the webhook's failurePolicy is not overridden), else HTTP 400.
fn unreadable(state: &AppState, error: ReadError, started: Instant) -> Response {
    let (response, outcome) = match error {
        ReadError::WithUid {
            api_version,
            uid,
            problem,
        } => {
            tracing::warn!(%uid, %problem, "Admission review could not be read; admitted unchecked");
            let reply = AdmissionResponse::unread(uid);
            let outcome = bad_request_outcome();
            (
                Json(AdmissionReviewReply::new(api_version, reply)).into_response(),
                outcome,
            )
        }
        ReadError::Unreadable(problem) => {
            tracing::warn!(%problem, "Request body is not an AdmissionReview");
            let body = format!("refguard: not an admission.k8s.io/v1 AdmissionReview: {problem}\n");
            (
                (StatusCode::BAD_REQUEST, body).into_response(),
                bad_request_outcome(),
            )
        }
    };
    state
        .metrics
        .record(&outcome, started.elapsed().as_secs_f64());
    response
}

fn bad_request_outcome() -> Outcome {
    Outcome {
        kind: None,
        operation: "unknown",
        verdict: Verdict::BadRequest,
        findings: Vec::new(),
        response: AdmissionResponse::allow("", Vec::new()),
    }
}

fn log(outcome: &Outcome) {
    let rules: Vec<&str> = outcome
        .findings
        .iter()
        .map(|finding| finding.rule)
        .collect();
    let rules = rules.join(",");
    let warnings = outcome.response.warnings.len();
    match outcome.verdict {
        Verdict::Denied => tracing::info!(%rules, warnings, "Denied"),
        Verdict::NotChecked => tracing::info!(warnings, "Admitted without checking"),
        Verdict::Allowed | Verdict::BadRequest => {
            tracing::debug!(%rules, warnings, "Admitted")
        }
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.cache.is_synced() {
        "ok\n".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "cache not synced\n").into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    state.cache.refresh_metrics();
    let mut text = String::new();
    if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &state.registry) {
        tracing::error!(%error, "Cannot encode metrics");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_review_weighs_its_declared_length_in_kib() {
        let limits = Limits {
            body_bytes: 7 << 20,
            body_bytes_in_flight: 64 << 20,
            ..Limits::default()
        };
        assert_eq!(body_budget_kib(&limits), 64 << 10);
        assert_eq!(body_weight_kib(Some(0), &limits), 1);
        assert_eq!(body_weight_kib(Some(1025), &limits), 2);
        assert_eq!(body_weight_kib(Some(3 << 20), &limits), 3 << 10);
        assert_eq!(
            body_weight_kib(None, &limits),
            7 << 10,
            "undeclared: the largest body"
        );
    }

    #[test]
    fn the_budget_always_fits_one_largest_body() {
        let limits = Limits {
            body_bytes: 7 << 20,
            body_bytes_in_flight: 1 << 20,
            ..Limits::default()
        };
        assert_eq!(body_budget_kib(&limits), 7 << 10);
        assert_eq!(body_weight_kib(Some(7 << 20), &limits), 7 << 10);
    }
}
